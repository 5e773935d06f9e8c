"""The simulated Asterisk core: Stasis, hang-ups, bridges, and the events they raise.

Every state change goes through :class:`Pbx`, which emits the events Asterisk 22.10.1 emits for
it, in the recorded order (see tests/asterisk22/asterisk-facts/README.md):

* entering Stasis: ``ChannelVarset STASISSTATUS=""`` (seen only by apps already subscribed),
  then ``StasisStart``; an app with no websocket makes it fail (``STASISSTATUS=FAILED``).
* a hang-up: ``ChannelHangupRequest``, leaving the bridge, ``StasisEnd``, and for channels the
  app created (or was subscribed to by an originate) ``ChannelVarset STASISSTATUS=SUCCESS`` +
  ``ChannelDestroyed``.
* leaving a bridge: ``ChannelVarset BRIDGEPEER=""`` (if it was set), ``ChannelLeftBridge``, then
  the remaining members' ``BRIDGEPEER``/``ChannelConnectedLine`` when two or more remain.

ARI requests whose events come after the HTTP response (hang-up, continue) mark the channel
at once (so a following request already sees it gone) and run the sequence a moment later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from ari_app.simulator.events import Event, EventFactory
from ari_app.simulator.mixer import BridgeMixer
from ari_app.simulator.state import (
    STATE_UP,
    Bridge,
    Channel,
    ChannelKind,
    DialplanLocation,
    IdAllocator,
)
from ari_app.simulator.websocket import EventHub

log = logging.getLogger(__name__)

Listener = Callable[[Event, tuple[Channel, ...], tuple[Bridge, ...]], None]

#: Delay between an HTTP response and the events it causes (Asterisk: 0.1-1.5 ms).
AFTER_RESPONSE_S = 0.001


class Pbx:
    def __init__(self, factory: EventFactory, ids: IdAllocator, clock: Callable[[], float]) -> None:
        self.factory = factory
        self.ids = ids
        self.clock = clock
        self.channels: dict[str, Channel] = {}
        self.bridges: dict[str, Bridge] = {}
        self.mixers: dict[str, BridgeMixer] = {}
        self.hub: EventHub | None = None
        self._destroying: set[str] = set()
        #: Called with every event and the channels/bridges it concerns, whoever is subscribed,
        #: and with a ``ChannelGone`` pseudo-event (``cause``) when a channel ends: the AMI
        #: server's event stream (ami_events.py) is built from these, as Asterisk builds both
        #: interfaces' events from the same internal messages.
        self.listeners: list[Listener] = []

    def attach_hub(self, hub: EventHub) -> None:
        self.hub = hub

    # -- lookups -------------------------------------------------------------------------------
    def find_channel(self, channel_id: str) -> Channel | None:
        """A channel ARI can act on (one whose hang-up was requested counts as gone)."""
        ch = self.channels.get(channel_id)
        return None if ch is None or ch.hangup_pending else ch

    def find_bridge(self, bridge_id: str) -> Bridge | None:
        """A bridge ARI can act on (one being destroyed counts as gone)."""
        b = self.bridges.get(bridge_id)
        return None if b is None or b.id in self._destroying else b

    def has_subscriptions(self, app: str) -> bool:
        return any(app in ch.subscribers for ch in self.channels.values()) or any(
            app in b.subscribed_apps() for b in self.bridges.values()
        )

    def app_channel_ids(self, app: str) -> list[str]:
        return [ch.id for ch in self.channels.values() if app in ch.subscribers]

    def app_bridge_ids(self, app: str) -> list[str]:
        return [b.id for b in self.bridges.values() if app in b.subscribed_apps()]

    # -- events --------------------------------------------------------------------------------
    def emit(
        self, event: Event, channels: Iterable[Channel] = (), bridges: Iterable[Bridge] = ()
    ) -> None:
        apps: set[str] = set()
        for ch in channels:
            apps |= ch.subscribers
        for b in bridges:
            apps |= b.subscribed_apps()
        if self.hub is not None:
            self.hub.publish(apps, event)
        self.notify(event, channels, bridges)

    def notify(
        self, event: Event, channels: Iterable[Channel] = (), bridges: Iterable[Bridge] = ()
    ) -> None:
        """Tell the listeners only (an event no ARI app is sent)."""
        if self.listeners:
            chans, brs = tuple(channels), tuple(bridges)
            for listener in list(self.listeners):
                listener(event, chans, brs)

    def later(self, fn: Callable[[], None], delay: float = AFTER_RESPONSE_S) -> None:
        asyncio.get_running_loop().call_later(delay, fn)

    def app_active(self, app: str) -> bool:
        return self.hub is not None and self.hub.is_active(app)

    # -- channels ------------------------------------------------------------------------------
    def add(self, ch: Channel) -> None:
        self.channels[ch.id] = ch

    def set_state(self, ch: Channel, state: str) -> None:
        if ch.state != state:
            ch.state = state
            self.emit(self.factory.state_change(ch), [ch])

    def set_var(self, ch: Channel, name: str, value: str, report: bool = True) -> None:
        ch.variables[name] = value
        if report:
            self.emit(self.factory.varset(ch, name, value), [ch])

    def enter_stasis(
        self, ch: Channel, app: str, args: list[str], *, announce_dialplan: bool = False
    ) -> bool:
        """Run Stasis(app,args) on ``ch``. False (STASISSTATUS=FAILED) if the app is not active."""
        if not self.app_active(app):
            log.info("Stasis app '%s' not active: %s gets STASISSTATUS=FAILED", app, ch.name)
            ch.variables["STASISSTATUS"] = "FAILED"
            return False
        ch.pre_stasis_dialplan = ch.dialplan
        ch.dialplan = ch.dialplan.running("Stasis", ",".join([app, *args]))
        if announce_dialplan:
            self.emit(self.factory.dialplan(ch), [ch])
        self.set_var(ch, "STASISSTATUS", "")
        ch.stasis_app = app
        ch.subscribed_by_stasis = app not in ch.subscribers
        ch.subscribers.add(app)
        self.emit(self.factory.stasis_start(ch, args), [ch])
        return True

    def _stasis_end(self, ch: Channel) -> None:
        app = ch.stasis_app
        if app is None:
            return
        self.emit(self.factory.stasis_end(ch), [ch])
        ch.stasis_app = None
        ch.leaving_stasis = False
        if ch.created_by_app or not ch.subscribed_by_stasis:
            if not ch.hangup_pending:
                return
            self.set_var(ch, "STASISSTATUS", "SUCCESS")
        else:
            ch.subscribers.discard(app)
            self._forget(app)
        if ch.pre_stasis_dialplan is not None:
            ch.dialplan = ch.pre_stasis_dialplan

    def hangup(
        self,
        ch: Channel,
        cause: int,
        soft: bool,
        *,
        destroy_cause: int = 16,
        tech_cause: int | None = None,
    ) -> None:
        """Hang ``ch`` up now, with the whole event sequence, and its Local peer after it."""
        if self.channels.get(ch.id) is not ch:
            return
        ch.hangup_pending = True
        ch.hangup_cause = cause
        self.emit(self.factory.hangup_request(ch, cause, soft, tech_cause), [ch])
        if ch.pending_dialstring is not None:
            self.emit(self.factory.dial(ch, "NOANSWER", ch.pending_dialstring), [ch])
            ch.pending_dialstring = None
        peer = self.channels.get(ch.peer_id) if ch.peer_id else None
        if peer is not None:
            peer.hangup_pending = True
            peer.hangup_cause = peer.hangup_cause or cause
        if ch.kind is ChannelKind.LOCAL_PEER and peer is not None:
            # The caller's side hangs up: the request crosses to the Stasis half at once.
            self.emit(self.factory.hangup_request(peer, 16, False), [peer])
            self._finish(ch)
            self._finish(peer)
            return
        self._finish(ch, destroy_cause)
        if peer is not None:
            self.emit(self.factory.hangup_request(peer, 16, True), [peer])
            self._finish(peer)

    def request_hangup(self, ch: Channel, cause: int, soft: bool) -> None:
        """An ARI DELETE: the channel is gone for ARI now, its events follow the response."""
        ch.hangup_pending = True
        self.later(lambda: self.hangup(ch, cause, soft))

    def _finish(self, ch: Channel, destroy_cause: int = 16) -> None:
        if ch.bridge_id is not None:
            self.leave_bridge(ch, by_request=False)
        self._stasis_end(ch)
        if ch.subscribers and ch.kind is not ChannelKind.INBOUND:
            self.emit(self.factory.destroyed(ch, destroy_cause), [ch])
        self._remove(ch, destroy_cause)

    def _remove(self, ch: Channel, cause: int | None = None) -> None:
        if self.channels.get(ch.id) is ch:
            del self.channels[ch.id]
            gone_cause = ch.hangup_cause if cause is None else cause
            self.notify({"type": "ChannelGone", "cause": gone_cause or 0}, [ch])
        if ch.media is not None:
            ch.media.close()
        apps = set(ch.subscribers)
        ch.subscribers.clear()
        for app in apps:
            self._forget(app)
        callbacks, ch.on_gone = ch.on_gone, []
        for cb in callbacks:
            cb(ch)

    def destroy(self, ch: Channel, cause: int) -> None:
        """The channel ends now: ``ChannelDestroyed`` (cause) to its subscribers, nothing else
        (the far end of a failed originate: see :mod:`ari_app.simulator.far_end`)."""
        if self.channels.get(ch.id) is not ch:
            return
        ch.hangup_pending = True
        ch.hangup_cause = cause
        if ch.subscribers:
            self.emit(self.factory.destroyed(ch, cause), [ch])
        self._remove(ch, cause)

    def remove_silently(self, ch: Channel) -> None:
        """A channel that ends with nobody subscribed (a failed call, a dialplan hang-up)."""
        if ch.bridge_id is not None:
            self.leave_bridge(ch, by_request=False)
        ch.hangup_pending = True
        self._remove(ch)

    def _forget(self, app: str) -> None:
        if self.hub is not None:
            self.hub.forget_if_idle(app)

    def continue_in_dialplan(self, ch: Channel, location: DialplanLocation) -> None:
        """POST /continue: out of Stasis for ARI now; ChannelLeftBridge + StasisEnd follow."""
        ch.leaving_stasis = True

        def run() -> None:
            if self.channels.get(ch.id) is not ch or ch.hangup_pending:
                return
            if ch.bridge_id is not None:
                self.leave_bridge(ch, by_request=True)
            self._stasis_end(ch)
            ch.pre_stasis_dialplan = None
            ch.dialplan = location
            for cb in list(ch.on_continue):
                cb(ch, location)

        self.later(run)

    def dtmf_received(self, ch: Channel, digit: str, duration_ms: int = 100) -> None:
        """DTMF from a channel's far end: an event for the app, and the digit to the bridge."""
        if self.channels.get(ch.id) is ch and not ch.hangup_pending:
            self.emit(self.factory.dtmf_received(ch, digit, duration_ms), [ch])
            mixer = self.mixers.get(ch.bridge_id or "")
            if mixer is not None and not ch.absorb_dtmf:
                mixer.on_dtmf(ch.id, digit)

    def media_gone(self, ch: Channel) -> None:
        """The media peer went away (AudioSocket close): torn down with no hang-up request."""
        if self.channels.get(ch.id) is ch and not ch.hangup_pending:
            ch.hangup_pending = True
            self._finish(ch)

    def channel_audio(self, channel_id: str, pcm: bytes) -> None:
        """A channel's far end produced a frame; it goes to the bridge, if any."""
        ch = self.channels.get(channel_id)
        if ch is None or ch.bridge_id is None or ch.bridge_muted:
            return
        mixer = self.mixers.get(ch.bridge_id)
        if mixer is not None:
            mixer.on_audio(channel_id, pcm)

    # -- bridges -------------------------------------------------------------------------------
    def add_bridge(self, b: Bridge) -> None:
        self.bridges[b.id] = b
        self.mixers[b.id] = BridgeMixer()

    def join_bridge(self, b: Bridge, ch: Channel) -> None:
        if ch.bridge_id == b.id:
            return
        if ch.bridge_id is not None:
            self.leave_bridge(ch, by_request=True)
        b.channels.append(ch.id)
        ch.bridge_id = b.id
        if ch.stasis_app is not None:
            b.subscribers[ch.stasis_app] = b.subscribers.get(ch.stasis_app, 0) + 1
        b.technology = b.smart_technology()
        self.mixers[b.id].add(ch.id, ch.media)
        self.emit(self.factory.entered_bridge(b, ch), [ch], [b])
        self._update_peers(b)

    def leave_bridge(self, ch: Channel, *, by_request: bool) -> None:
        b = self.bridges.get(ch.bridge_id or "")
        ch.bridge_id = None
        if b is None:
            return
        if ch.variables.get("BRIDGEPEER"):
            self.set_var(ch, "BRIDGEPEER", "")
        technology = b.technology
        if ch.id in b.channels:
            b.channels.remove(ch.id)
        self.mixers[b.id].remove(ch.id)
        self.emit(self.factory.left_bridge(b, ch, technology), [ch], [b])
        app = ch.stasis_app
        if by_request and app is not None and b.subscribers.get(app, 0) > 0:
            b.subscribers[app] -= 1
        b.technology = b.smart_technology()
        self._update_peers(b)

    def _update_peers(self, b: Bridge) -> None:
        members = [self.channels[i] for i in b.channels if i in self.channels]
        if len(members) < 2:
            return
        for m in members:
            others = [o.name for o in reversed(members) if o is not m]
            value = ",".join(others)
            if m.variables.get("BRIDGEPEER") != value:
                self.set_var(m, "BRIDGEPEER", value)
        if len(members) == 2 and not any(m.inhibit_connected_line for m in members):
            first, second = members
            for m, other in ((first, second), (second, first)):
                if m.connected != other.caller:
                    m.connected = type(other.caller)(other.caller.name, other.caller.number)
                    self.emit(self.factory.connected_line(m), [m])

    def request_bridge_destroy(self, b: Bridge) -> None:
        """DELETE /bridges/{id}: gone for ARI now, BridgeDestroyed after the response."""
        self._destroying.add(b.id)
        self.later(lambda: self.destroy_bridge(b))

    def destroy_bridge(self, b: Bridge) -> None:
        self._destroying.discard(b.id)
        if self.bridges.get(b.id) is not b:
            return
        apps = b.subscribed_apps()
        for cid in list(b.channels):
            ch = self.channels.get(cid)
            if ch is not None:
                self.leave_bridge(ch, by_request=True)
        destroyed = self.factory.bridge_destroyed(b)
        if self.hub is not None:
            self.hub.publish(apps, destroyed)
        self.notify(destroyed, (), [b])
        self.bridges.pop(b.id, None)
        mixer = self.mixers.pop(b.id, None)
        if mixer is not None:
            mixer.close()
        for app in list(b.subscribers):
            self._forget(app)

    # -- restart -------------------------------------------------------------------------------
    def shutdown_hangups(self) -> None:
        """``core restart now``: what the app hears before the websocket drops."""
        for ch in list(self.channels.values()):
            if ch.stasis_app is None or ch.hangup_pending:
                continue
            ch.hangup_pending = True
            self.emit(self.factory.hangup_request(ch, 4, True), [ch])
            if ch.bridge_id is not None:
                self.leave_bridge(ch, by_request=False)
            self.emit(self.factory.hangup_request(ch, 0, False), [ch])
            self.emit(self.factory.stasis_end(ch), [ch])
            ch.stasis_app = None

    def wipe(self) -> None:
        """Forget everything without events (the process is gone)."""
        for ch in list(self.channels.values()):
            ch.hangup_pending = True
            self._remove(ch)
        for mixer in self.mixers.values():
            mixer.close()
        self.channels.clear()
        self.bridges.clear()
        self.mixers.clear()
        self._destroying.clear()

    def answer(self, ch: Channel) -> None:
        """The channel is answered: Up, then what waited for that (the other Local half)."""
        self.set_state(ch, STATE_UP)
        callbacks, ch.on_answer = ch.on_answer, []
        for cb in callbacks:
            cb(ch)
