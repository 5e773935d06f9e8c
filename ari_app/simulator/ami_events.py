"""The AMI event stream of the simulated PBX, built from the same internal events as ARI's.

Asterisk makes both interfaces' events from one internal message per change; so does this: the
:class:`AmiEventStream` listens to every :class:`~ari_app.simulator.core.Pbx` event (whoever is
subscribed over ARI) and turns it into the AMI events recorded in
tests/asterisk22/asterisk-facts/outbound-ami/ami-event-stream.txt, with their header order:

* the first event about a Local pair announces it as an Async Originate of
  ``Local/<exten>@<context>`` does: ``Newchannel ;1`` (Down) and ``;2`` (Ring), both with unknown
  caller ids and the Local target as location, ``Newexten ;1`` (``AppDial2``/``(Outgoing Line)``),
  ``VarSet ;1`` per channel variable, ``NewCallerid``/``NewConnectedLine ;1``, ``VarSet ;2``
  per variable. An inbound call (its pair is created already answered) gets the rest of the
  answered originate too (``NewCallerid``/``NewConnectedLine ;2``, ``LocalBridge``,
  ``DialBegin``, ``Newexten ;2 Answer``, ``Newstate ;2``/``;1 Up``, ``DialEnd ANSWER``), then
  ``Newexten ;1`` for ``Answer`` and ``Stasis`` (priorities 1 and 2 of its context).
* ``ChannelCallerId`` -> ``NewCallerid``, ``ChannelConnectedLine`` -> ``NewConnectedLine``,
  ``ChannelDialplan`` -> ``Newexten``, ``ChannelVarset`` -> ``VarSet``, ``ChannelStateChange`` ->
  ``Newstate``, ``Dial ""`` -> (``LocalBridge`` for a Local ``;1``) ``DialBegin``, a final
  ``Dial`` (ANSWER, BUSY, CONGESTION...) -> ``DialEnd``; ``RINGING`` gives nothing (no AMI
  event for it is in the facts), ``ChannelHangupRequest`` -> ``SoftHangupRequest`` /
  ``HangupRequest`` (one on a ``;1`` half is followed by ``HangupRequest`` on its ``;2``, and
  when not soft -- an outside request: AMI Hangup, ARI DELETE -- only that one is shown, as
  ami-hangup.txt shows), a channel's end -> ``Hangup`` (cause and text), ``ChannelEnteredBridge``
  -> ``BridgeCreate`` (the first time) + ``BridgeEnter``, ``ChannelLeftBridge`` ->
  ``BridgeLeave``, ``BridgeDestroyed`` -> ``BridgeDestroy``. StasisStart/End have no AMI event.
* The ``Hangup`` order of an unanswered pair is the recorded one (ami-originate-outcomes.txt):
  ``;2`` then ``;1`` when the ``;1`` is still Down (busy, congestion), ``;1`` then ``;2`` when it
  was Ringing (no answer).
* ``outcome_hooks[<;1 id>]`` is called once when an originate's outcome is known: right after
  its final ``DialEnd``, or before the first hang-up event of a pair that never had one (no
  answer, app gone) -- where Asterisk's ``OriginateResponse`` comes.

Not modelled (the simulator does not run that dialplan): ``DeviceStateChange``, the ``Dial()``
application's variables (DIALSTATUS, ANSWEREDTIME...) and what a dialplan does after an answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ari_app.simulator.core import Pbx
from ari_app.simulator.events import Event
from ari_app.simulator.state import CAUSE_TEXT, STATE_UP, Bridge, Channel, ChannelKind

Fields = list[tuple[str, str]]
STATE_CODES = {"Down": 0, "Rsrvd": 1, "OffHook": 2, "Dialing": 3, "Ring": 4, "Ringing": 5,
               "Up": 6, "Busy": 7}
CALLING_PRES = "0 (Presentation Allowed, Not Screened)"
#: Called with (final dial status or "", hang-up cause or None).
OutcomeHook = Callable[[str, int | None], None]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What an AMI channel block shows; by default the channel as it is now."""

    state: str | None = None
    caller_known: bool = True
    connected_known: bool = True
    location: tuple[str, str, int] | None = None


def linked_id(ch: Channel) -> str:
    return ch.peer_id if ch.name.endswith(";2") and ch.peer_id else ch.id


def channel_fields(ch: Channel, prefix: str = "", snap: Snapshot = Snapshot()) -> Fields:
    state = snap.state or ch.state
    context, exten, priority = snap.location or (
        ch.dialplan.context, ch.dialplan.exten, ch.dialplan.priority)
    unknown = "<unknown>"
    caller = ch.caller if snap.caller_known else None
    connected = ch.connected if snap.connected_known else None
    out = [
        ("Channel", ch.name), ("ChannelState", str(STATE_CODES.get(state, 0))),
        ("ChannelStateDesc", state),
        ("CallerIDNum", (caller.number if caller else "") or unknown),
        ("CallerIDName", (caller.name if caller else "") or unknown),
        ("ConnectedLineNum", (connected.number if connected else "") or unknown),
        ("ConnectedLineName", (connected.name if connected else "") or unknown),
        ("Language", ch.language), ("AccountCode", ""), ("Context", context),
        ("Exten", exten), ("Priority", str(priority)), ("Uniqueid", ch.id),
        ("Linkedid", linked_id(ch)),
    ]
    return [(prefix + k, v) for k, v in out]


def local_target(ch: Channel) -> tuple[str, str] | None:
    """(exten, context) of a Local channel's name ``Local/<exten>@<context>-<seq>;<n>``."""
    if not ch.name.startswith("Local/") or "@" not in ch.name:
        return None
    exten, _, rest = ch.name[len("Local/"):].partition("@")
    return exten, rest.rsplit("-", 1)[0]


def hangup_fields(ch: Channel, cause: int) -> Fields:
    return [("Event", "Hangup"), ("Privilege", "call,all"), *channel_fields(ch),
            ("Cause", str(cause)), ("Cause-txt", CAUSE_TEXT.get(cause, "Unknown"))]


def bridge_fields(bridge: dict[str, object], count: int) -> Fields:
    bridge_type = str(bridge.get("bridge_type", "mixing"))
    return [("BridgeUniqueid", str(bridge.get("id", ""))),
            ("BridgeType", "basic" if bridge_type == "mixing" else bridge_type),
            ("BridgeTechnology", str(bridge.get("technology", "simple_bridge"))),
            ("BridgeCreator", str(bridge.get("creator") or "<unknown>")),
            ("BridgeName", str(bridge.get("name") or "<unknown>")),
            ("BridgeNumChannels", str(count)), ("BridgeVideoSourceMode", "none")]


@dataclass
class AmiEventStream:
    """Turns the PBX's events into AMI events for ``send`` (every session with events on)."""

    pbx: Pbx
    send: Callable[[Fields], None]
    outcome_hooks: dict[str, OutcomeHook] = field(default_factory=dict)
    _announced: set[str] = field(default_factory=set)
    _bridges: set[str] = field(default_factory=set)
    _deferred: dict[str, Fields] = field(default_factory=dict)

    def attach(self) -> None:
        self.pbx.listeners.append(self.on_event)

    def detach(self) -> None:
        if self.on_event in self.pbx.listeners:
            self.pbx.listeners.remove(self.on_event)

    # -- the pair's announcement ------------------------------------------------------------------
    def _pair(self, ch: Channel) -> tuple[Channel, Channel | None]:
        peer = self.pbx.channels.get(ch.peer_id or "") if ch.peer_id else None
        if ch.name.endswith(";2") and peer is not None:
            return peer, ch
        return ch, peer

    def _announce(self, ch: Channel) -> None:
        if ch.id in self._announced:
            return
        one, two = self._pair(ch)
        self._announced.add(one.id)
        target = local_target(one)
        if two is None or target is None:
            self.send([("Event", "Newchannel"), ("Privilege", "call,all"), *channel_fields(one)])
            return
        self._announced.add(two.id)
        exten, context = target
        inbound = one.kind is ChannelKind.INBOUND
        at = (context, exten, 1)
        blank = Snapshot("Down", False, False, at)
        self.send([("Event", "Newchannel"), ("Privilege", "call,all"),
                   *channel_fields(one, snap=blank)])
        self.send([("Event", "Newchannel"), ("Privilege", "call,all"),
                   *channel_fields(two, snap=Snapshot("Ring", False, False, at))])
        self.send([("Event", "Newexten"), ("Privilege", "dialplan,all"),
                   *channel_fields(one, snap=blank), ("Extension", exten),
                   ("Application", "AppDial2"), ("AppData", "(Outgoing Line)")])
        variables = {k: v for k, v in one.variables.items() if k != "STASISSTATUS"}
        for name, value in variables.items():
            self.send([("Event", "VarSet"), ("Privilege", "dialplan,all"),
                       *channel_fields(one, snap=blank), ("Variable", name), ("Value", value)])
        down = Snapshot("Down", True, False, at)
        self.send([("Event", "NewCallerid"), ("Privilege", "call,all"),
                   *channel_fields(one, snap=down), ("CID-CallingPres", CALLING_PRES)])
        down = Snapshot("Down", True, True, at)
        self.send([("Event", "NewConnectedLine"), ("Privilege", "call,all"),
                   *channel_fields(one, snap=down)])
        for name, value in variables.items():
            self.send([("Event", "VarSet"), ("Privilege", "dialplan,all"),
                       *channel_fields(two, snap=Snapshot("Ring", False, False, at)),
                       ("Variable", name), ("Value", value)])
        ring = Snapshot("Ring", True, True, at)
        if not inbound:
            return
        # An inbound call's pair is made answered: the rest of an answered originate.
        self.send([("Event", "NewCallerid"), ("Privilege", "call,all"),
                   *channel_fields(two, snap=ring), ("CID-CallingPres", CALLING_PRES)])
        self.send([("Event", "NewConnectedLine"), ("Privilege", "call,all"),
                   *channel_fields(two, snap=ring)])
        self._local_bridge(one, two, down, ring, context, exten)
        self.send([("Event", "DialBegin"), ("Privilege", "call,all"),
                   *channel_fields(one, "Dest", down), ("DialString", f"{exten}@{context}")])
        self.send([("Event", "Newexten"), ("Privilege", "dialplan,all"),
                   *channel_fields(two, snap=ring), ("Extension", exten),
                   ("Application", "Answer"), ("AppData", "")])
        up = Snapshot(STATE_UP, True, True, at)
        self.send([("Event", "Newstate"), ("Privilege", "call,all"),
                   *channel_fields(two, snap=up)])
        self.send([("Event", "Newstate"), ("Privilege", "call,all"),
                   *channel_fields(one, snap=up)])
        self.send([("Event", "DialEnd"), ("Privilege", "call,all"),
                   *channel_fields(one, "Dest", up), ("DialStatus", "ANSWER")])
        loc = one.dialplan
        for priority, app, data in ((1, "Answer", ""), (loc.priority, loc.app_name,
                                                         loc.app_data)):
            here = Snapshot(STATE_UP, True, True, (loc.context, loc.exten, priority))
            self.send([("Event", "Newexten"), ("Privilege", "dialplan,all"),
                       *channel_fields(one, snap=here), ("Extension", loc.exten),
                       ("Application", app), ("AppData", data)])

    def _local_bridge(self, one: Channel, two: Channel, snap1: Snapshot, snap2: Snapshot,
                      context: str, exten: str) -> None:
        self.send([("Event", "LocalBridge"), ("Privilege", "call,all"),
                   *channel_fields(one, "LocalOne", snap1),
                   *channel_fields(two, "LocalTwo", snap2), ("Context", context),
                   ("Exten", exten), ("LocalOptimization", "Yes")])

    # -- translation ------------------------------------------------------------------------------
    def on_event(self, event: Event, channels: tuple[Channel, ...],
                 bridges: tuple[Bridge, ...]) -> None:
        kind = str(event.get("type", ""))
        ch = channels[0] if channels else None
        if ch is not None:
            self._announce(ch)
        if ch is None:
            if kind == "BridgeDestroyed":
                bridge = event.get("bridge", {})
                if str(bridge.get("id")) in self._bridges:
                    self._bridges.discard(str(bridge.get("id")))
                    self.send([("Event", "BridgeDestroy"), ("Privilege", "call,all"),
                               *bridge_fields(bridge, 0)])
            return
        handler = {
            "ChannelCallerId": self._caller_id, "ChannelConnectedLine": self._connected,
            "ChannelDialplan": self._dialplan, "ChannelVarset": self._varset,
            "ChannelStateChange": self._state, "Dial": self._dial,
            "ChannelHangupRequest": self._hangup_request, "ChannelGone": self._gone,
            "ChannelEnteredBridge": self._entered, "ChannelLeftBridge": self._left,
        }.get(kind)
        if handler is not None:
            handler(event, ch)

    def _caller_id(self, event: Event, ch: Channel) -> None:
        self.send([("Event", "NewCallerid"), ("Privilege", "call,all"), *channel_fields(ch),
                   ("CID-CallingPres", CALLING_PRES)])

    def _connected(self, event: Event, ch: Channel) -> None:
        self.send([("Event", "NewConnectedLine"), ("Privilege", "call,all"),
                   *channel_fields(ch)])

    def _dialplan(self, event: Event, ch: Channel) -> None:
        self.send([("Event", "Newexten"), ("Privilege", "dialplan,all"), *channel_fields(ch),
                   ("Extension", ch.dialplan.exten), ("Application", ch.dialplan.app_name),
                   ("AppData", ch.dialplan.app_data)])

    def _varset(self, event: Event, ch: Channel) -> None:
        self.send([("Event", "VarSet"), ("Privilege", "dialplan,all"), *channel_fields(ch),
                   ("Variable", str(event.get("variable", ""))),
                   ("Value", str(event.get("value", "")))])

    def _state(self, event: Event, ch: Channel) -> None:
        self.send([("Event", "Newstate"), ("Privilege", "call,all"), *channel_fields(ch)])

    def _dial(self, event: Event, ch: Channel) -> None:
        status = str(event.get("dialstatus", ""))
        dialstring = str(event.get("dialstring", ""))
        if status == "":
            one, two = self._pair(ch)
            target = local_target(one)
            if two is not None and target is not None and ch is one:
                self._local_bridge(one, two, Snapshot(), Snapshot(), target[1], target[0])
            self.send([("Event", "DialBegin"), ("Privilege", "call,all"),
                       *channel_fields(ch, "Dest"), ("DialString", dialstring)])
            return
        if status == "RINGING":
            return
        self.send([("Event", "DialEnd"), ("Privilege", "call,all"), *channel_fields(ch, "Dest"),
                   ("DialStatus", status)])
        self._outcome(ch, status, None)

    def _outcome(self, ch: Channel, status: str, cause: int | None) -> None:
        one, _ = self._pair(ch)
        hook = self.outcome_hooks.pop(one.id, None)
        if hook is not None:
            hook(status, cause)

    def _hangup_request(self, event: Event, ch: Channel) -> None:
        cause = int(event.get("cause", 0))
        self._outcome(ch, "", cause)
        soft = bool(event.get("soft"))
        one, two = self._pair(ch)
        crossing = ch is one and two is not None and ch.kind is not ChannelKind.LOCAL_PEER
        if soft or not crossing:
            name = "SoftHangupRequest" if soft else "HangupRequest"
            self.send([("Event", name), ("Privilege", "call,all"), *channel_fields(ch),
                       ("Cause", str(cause))])
        if crossing and two is not None:
            # A ;1 half hanging up queues the request on its ;2 (ami-event-stream.txt, and
            # ami-hangup.txt, where a Hangup action's own request is not an event).
            self.send([("Event", "HangupRequest"), ("Privilege", "call,all"),
                       *channel_fields(two), ("Cause", str(cause))])

    def _gone(self, event: Event, ch: Channel) -> None:
        cause = int(event.get("cause", 0))
        self._outcome(ch, "", cause)
        self._announced.discard(ch.id)
        peer = self.pbx.channels.get(ch.peer_id or "") if ch.peer_id else None
        if peer is not None and ((ch.name.endswith(";1") and ch.state == "Down") or (
                ch.name.endswith(";2") and peer.state == "Ringing")):
            self._deferred[peer.id] = hangup_fields(ch, cause)
            return
        self.send(hangup_fields(ch, cause))
        deferred = self._deferred.pop(ch.id, None)
        if deferred is not None:
            self.send(deferred)

    def _entered(self, event: Event, ch: Channel) -> None:
        bridge = event.get("bridge", {})
        count = len(bridge.get("channels", []))
        bid = str(bridge.get("id", ""))
        if bid not in self._bridges:
            self._bridges.add(bid)
            self.send([("Event", "BridgeCreate"), ("Privilege", "call,all"),
                       *bridge_fields(bridge, 0)])
        self.send([("Event", "BridgeEnter"), ("Privilege", "call,all"),
                   *bridge_fields(bridge, count), *channel_fields(ch)])

    def _left(self, event: Event, ch: Channel) -> None:
        bridge = event.get("bridge", {})
        self.send([("Event", "BridgeLeave"), ("Privilege", "call,all"),
                   *bridge_fields(bridge, len(bridge.get("channels", []))),
                   *channel_fields(ch)])
