"""Calls: a Local channel pair with a :class:`SimulatedCaller` on the far side.

Inbound (``PbxSimulator.place_call``), as the lab dialplan did it: an originate of
``Local/s@<caller context>`` into ``<context>,<dialed>,1`` whose ``;1`` half runs Answer() and
then ``Stasis(<app>,<args>)`` at priority 2, so the channel is already Up at StasisStart. If the
app has no events websocket, ``STASISSTATUS`` is FAILED and the call goes on in the dialplan
(NoOp, Hangup) and ends; the app never hears of it.

After ``/continue`` the call runs the dialplan where it was sent (recorded in ``continued_to``)
for ``dialplan_s`` seconds and hangs up, unless the context is one of ``stasis_contexts``: then,
as the lab's ``[fr-crash-back]`` (``Wait(1)``, ``Stasis(factcrash,back)``) did, the same channel
enters Stasis again after ``wait_s`` (a new ``StasisStart`` with the same channel id).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from ari_app.simulator.caller import SimulatedCaller
from ari_app.simulator.core import Pbx
from ari_app.simulator.far_end import AMD_PROFILES, AmdProfile
from ari_app.simulator.state import (
    STATE_UP,
    CallerId,
    Channel,
    ChannelKind,
    DialplanLocation,
)

#: The dialplan context of dialplan/extensions_callwright.conf that runs AMD().
AMD_CONTEXT = "callwright-amd"

#: How long a call that failed to enter Stasis lives on (NoOp, Hangup).
FAILED_CALL_S = 0.02


@dataclass(frozen=True, slots=True)
class ContinuedTo:
    context: str
    extension: str
    priority: int


@dataclass(frozen=True, slots=True)
class StasisReentry:
    """A dialplan context that waits ``wait_s`` and then runs ``Stasis(app, args)``."""

    app: str
    args: tuple[str, ...] = ()
    wait_s: float = 1.0


@dataclass(eq=False)
class SimulatedCall:
    """One call as the test sees it. ``channel_id`` is the channel the app deals with (;1)."""

    channel_id: str
    caller: SimulatedCaller
    direction: str
    peer_channel_id: str
    stasis_status: str = ""
    continued_to: ContinuedTo | None = None
    hangup_cause: int | None = None
    #: Outbound: the destination's configured outcome (far_end.OUTCOMES), and the dialed exten.
    outcome: str = ""
    dialed: str = ""
    #: Outbound: the AMD profile of the far end (far_end.AMD_PROFILES key), if any.
    amd: str | None = None
    _ended: asyncio.Event = field(default_factory=asyncio.Event)

    async def ended(self) -> None:
        """Wait until the call is over (both Local halves are gone)."""
        await self._ended.wait()

    @property
    def is_ended(self) -> bool:
        return self._ended.is_set()

    def _mark_ended(self) -> None:
        self._ended.set()
        self.caller.close()

    def failed(self, cause: int) -> None:
        """An outbound call that was never answered ended with ``cause``."""
        if self.hangup_cause is None:
            self.hangup_cause = cause
        self._mark_ended()


def run_amd(
    pbx: Pbx,
    ch: Channel,
    loc: DialplanLocation,
    then: StasisReentry,
    profile: AmdProfile,
    failed: Callable[[], None],
) -> None:
    """``AMD()`` on ``ch`` (sent to ``loc`` by /continue): after the profile's recorded duration,
    ``AMDSTATUS`` then ``AMDCAUSE`` are set (ChannelVarset to apps still subscribed, as an
    originate's app is) and the channel enters ``Stasis(then.app, then.args)`` again."""
    ch.dialplan = DialplanLocation(loc.context, loc.exten, loc.priority, "AMD", "")
    pbx.emit(pbx.factory.dialplan(ch), [ch])

    def done() -> None:
        if pbx.channels.get(ch.id) is not ch or ch.hangup_pending:
            return
        pbx.set_var(ch, "AMDSTATUS", profile.status)
        pbx.set_var(ch, "AMDCAUSE", profile.cause)
        ch.dialplan = DialplanLocation(loc.context, loc.exten, loc.priority + 1, "", "")
        if not pbx.enter_stasis(ch, then.app, list(then.args), announce_dialplan=True):
            failed()

    asyncio.get_running_loop().call_later(profile.duration_s, done)


class CallFactory:
    """Builds calls in a :class:`Pbx`. ``dialplan_s``: life after /continue;
    ``stasis_contexts``: contexts that send a continued channel back into Stasis."""

    def __init__(
        self,
        pbx: Pbx,
        dialplan_s: float = 1.0,
        stasis_contexts: dict[str, StasisReentry] | None = None,
    ) -> None:
        self.pbx = pbx
        self.dialplan_s = dialplan_s
        self.stasis_contexts = dict(stasis_contexts or {})
        #: Contexts that run ``AMD()`` and then ``Stasis(app, args)`` (the project's
        #: ``[callwright-amd]``): the result comes from the far end's AMD profile.
        self.amd_contexts: dict[str, StasisReentry] = {
            AMD_CONTEXT: StasisReentry(app="callwright", args=("amd",)),
        }

    def local_pair(
        self,
        endpoint_context: str,
        endpoint_exten: str,
        kind: ChannelKind,
        caller_id: CallerId,
        first: DialplanLocation,
        second: DialplanLocation,
        state: str,
        ids: tuple[str | None, str | None] = (None, None),
    ) -> tuple[Channel, Channel]:
        pbx = self.pbx
        now = pbx.clock()
        base = f"Local/{endpoint_exten}@{endpoint_context}-{pbx.ids.local_sequence()}"
        id1 = ids[0] or pbx.ids.channel_id()
        id2 = ids[1] or pbx.ids.channel_id()
        ch1 = Channel(
            id=id1,
            name=base + ";1",
            kind=kind,
            state=state,
            caller=CallerId(caller_id.name, caller_id.number),
            connected=CallerId(caller_id.name, caller_id.number),
            dialplan=first,
            creationtime=now,
            peer_id=id2,
        )
        ch2 = Channel(
            id=id2,
            name=base + ";2",
            kind=ChannelKind.LOCAL_PEER,
            state=state,
            caller=CallerId(caller_id.name, caller_id.number),
            connected=CallerId(caller_id.name, caller_id.number),
            dialplan=second,
            creationtime=now,
            peer_id=id1,
        )
        pbx.add(ch1)
        pbx.add(ch2)
        return ch1, ch2

    def attach_caller(
        self, call: SimulatedCall, ch1: Channel, ch2: Channel
    ) -> None:
        """Wire the caller to the ;1 half's media and hang-up, and track the call's end."""
        pbx = self.pbx
        ch1.media = call.caller

        def gone(ch: Channel) -> None:
            if ch is ch1 and call.hangup_cause is None:
                call.hangup_cause = ch.hangup_cause
            if call.channel_id not in pbx.channels and call.peer_channel_id not in pbx.channels:
                if call.stasis_status == "" and ch1.pre_stasis_dialplan is not None:
                    call.stasis_status = "SUCCESS"
                call._mark_ended()

        def continued(ch: Channel, loc: DialplanLocation) -> None:
            call.stasis_status = "SUCCESS"
            call.continued_to = ContinuedTo(loc.context, loc.exten, loc.priority)

            def dialplan_done() -> None:
                if pbx.channels.get(ch2.id) is ch2:
                    call.hangup_cause = 16
                    pbx.hangup(ch2, 16, True)

            amd = self.amd_contexts.get(loc.context)
            if amd is not None:
                run_amd(pbx, ch1, loc, amd, AMD_PROFILES[call.amd or "hello"], dialplan_done)
                return
            reentry = self.stasis_contexts.get(loc.context)
            if reentry is None:
                asyncio.get_running_loop().call_later(self.dialplan_s, dialplan_done)
                return

            def back_to_stasis() -> None:
                if pbx.channels.get(ch1.id) is not ch1 or ch1.hangup_pending:
                    return
                ch1.dialplan = DialplanLocation(loc.context, loc.exten, loc.priority + 1, "", "")
                if not pbx.enter_stasis(ch1, reentry.app, list(reentry.args)):
                    dialplan_done()

            asyncio.get_running_loop().call_later(reentry.wait_s, back_to_stasis)

        ch1.on_gone.append(gone)
        ch2.on_gone.append(gone)
        ch1.on_continue.append(continued)

        def caller_hangup() -> None:
            if pbx.channels.get(ch2.id) is ch2 and not ch2.hangup_pending:
                call.hangup_cause = 16
                pbx.hangup(ch2, 16, True)

        call.caller.connect(
            send=lambda pcm: pbx.channel_audio(ch1.id, pcm),
            dtmf=lambda digit: pbx.dtmf_received(ch1, digit),
            hangup=caller_hangup,
        )

    def place_inbound(
        self,
        *,
        dialed: str,
        caller_number: str,
        caller_name: str,
        app: str,
        args: list[str] | None,
        context: str,
        caller_context: str,
        caller: SimulatedCaller,
    ) -> SimulatedCall:
        stasis_args = [dialed] if args is None else list(args)
        first = DialplanLocation(context, dialed, 1, "Answer", "")
        second = DialplanLocation(caller_context, "s", 1, "Answer", "")
        ch1, ch2 = self.local_pair(
            caller_context,
            "s",
            ChannelKind.INBOUND,
            CallerId(caller_name, caller_number),
            first,
            second,
            STATE_UP,
        )
        call = SimulatedCall(ch1.id, caller, "inbound", ch2.id)
        self.attach_caller(call, ch1, ch2)
        ch1.dialplan = DialplanLocation(context, dialed, 2, "Stasis", "")
        if not self.pbx.enter_stasis(ch1, app, stasis_args):
            call.stasis_status = "FAILED"
            ch1.dialplan = DialplanLocation(context, dialed, 3, "NoOp", "FAILED")

            def fail() -> None:
                for ch in (ch1, ch2):
                    if self.pbx.channels.get(ch.id) is ch:
                        self.pbx.remove_silently(ch)

            asyncio.get_running_loop().call_later(FAILED_CALL_S, fail)
        return call
