"""Outbound calls: ``POST /channels`` (originate), ``POST /channels/create`` + ``/dial``.

Only ``Local/<exten>@<context>`` endpoints exist here (the lab Asterisk had no SIP either); the
far end is a :class:`SimulatedCaller` that behaves as ``SimContext.destinations`` says for the
extension (answers, busy, congestion, rings until the timeout, does not exist: see
:mod:`ari_app.simulator.far_end` for the recorded sequences), ringing for the simulator's
``outbound_answer_s`` and answering when nothing was said about it, unless
the context is one of ``SimContext.inbound_contexts`` (a context that sends its calls to Stasis(),
like ``callwright-inbound``): then the ``;2`` half runs it (see :mod:`ari_app.simulator.dialplan`).
Any other technology fails the way an unloaded one does: ``500 {"error":"Allocation failed"}``.

Recorded event order for an originate with ``app`` (the app is subscribed to both halves):
``ChannelCallerId ;2``, ``ChannelConnectedLine ;2``, ``Dial ;1 ""``, ``ChannelDialplan ;2``,
``ChannelStateChange ;2 Up``, ``ChannelStateChange ;1 Up``, ``Dial ;1 ANSWER``,
``ChannelVarset ;1 STASISSTATUS``, ``StasisStart ;1 [appArgs split on commas]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from ari_app.simulator.caller import SimulatedCaller
from ari_app.simulator.calls import ContinuedTo, SimulatedCall
from ari_app.simulator.context import SimContext
from ari_app.simulator.dialplan import originate_into_stasis
from ari_app.simulator.events import channel_json
from ari_app.simulator.far_end import (
    ANSWER_SETTLE_S,
    DEFAULT_ORIGINATE_TIMEOUT_S,
    FarEnd,
    callee_audio,
)
from ari_app.simulator.rest import AriRequest, error, json_response, no_content
from ari_app.simulator.state import (
    STATE_DOWN,
    STATE_RING,
    STATE_UP,
    CallerId,
    Channel,
    ChannelKind,
    DialplanLocation,
    parse_caller_id,
)

#: States the far end's indications put a channel in (as ARI names them).
STATE_RINGING = "Ringing"
STATE_BUSY = "Busy"


class EndpointError(Exception):
    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


@dataclass(frozen=True, slots=True)
class LocalEndpoint:
    exten: str
    context: str

    @property
    def dialstring(self) -> str:
        return f"{self.exten}@{self.context}"


def parse_endpoint(endpoint: str) -> LocalEndpoint:
    """``Local/s@caller`` -> LocalEndpoint("s", "caller"); raises EndpointError otherwise."""
    tech, sep, resource = endpoint.partition("/")
    if not sep or not tech or not resource:
        raise EndpointError(error(400, "Invalid endpoint specified"))
    if tech.lower() != "local":
        raise EndpointError(json_response({"error": "Allocation failed"}, 500))
    resource = resource.split("/", 1)[0]  # Local channel options (/n, /j) change nothing here
    exten, _, context = resource.partition("@")
    return LocalEndpoint(exten or "s", context or "default")


def _new_caller(ctx: SimContext) -> SimulatedCaller:
    return ctx.caller_factory() if ctx.caller_factory is not None else SimulatedCaller()


def _id_taken(ctx: SimContext, *ids: str | None) -> bool:
    return any(i is not None and i in ctx.pbx.channels for i in ids)


class OriginateParams(Protocol):
    """What an originate reads: an ARI request, or the fields of an AMI Originate."""

    def get(self, name: str) -> str | None: ...

    def get_str(self, name: str) -> str: ...

    def get_int(self, name: str, default: int) -> int: ...

    def variables(self) -> dict[str, str]: ...


async def originate(
    ctx: SimContext, req: OriginateParams, channel_id: str | None, *, subscribe: bool = True
) -> web.Response:
    """``subscribe``: the app is subscribed to both halves (ARI); an AMI Originate into
    Stasis() is not (the app hears of the channel at its StasisStart only)."""
    endpoint = req.get_str("endpoint")
    if not endpoint:
        return error(400, "Endpoint must be specified")
    app = req.get_str("app")
    extension = req.get_str("extension")
    if not app and not extension:
        return error(400, "Application or extension must be specified")
    try:
        target = parse_endpoint(endpoint)
    except EndpointError as exc:
        return exc.response
    other_id = req.get("otherChannelId") or None
    if _id_taken(ctx, channel_id, other_id):
        return error(409, "Channel with given unique ID already exists")
    caller_id = parse_caller_id(req.get_str("callerId"))
    args = [a for a in req.get_str("appArgs").split(",")] if req.get_str("appArgs") else []
    after_answer: DialplanLocation | None = None
    if not app:
        after_answer = DialplanLocation(
            req.get_str("context") or "default", extension, req.get_int("priority", 1)
        )
    variables = req.variables()
    pbx = ctx.pbx
    ch1, ch2 = ctx.calls.local_pair(
        target.context,
        target.exten,
        ChannelKind.ORIGINATED,
        caller_id,
        DialplanLocation(target.context, target.exten, 1, "AppDial2", "(Outgoing Line)"),
        DialplanLocation(target.context, target.exten, 1),
        STATE_DOWN,
        (channel_id, other_id),
    )
    ch2.state = STATE_RING
    ch1.variables.update(variables)
    subscribed = bool(app) and pbx.app_active(app)
    if subscribed and subscribe:
        ch1.subscribers.add(app)
        ch2.subscribers.add(app)
    inbound = ctx.inbound_contexts.get(target.context)
    if inbound is not None:  # ;2 runs a context that hands it to Stasis(): see dialplan.py
        originate_into_stasis(
            pbx, ch1, ch2, inbound, app=app, args=args, after_answer=after_answer
        )
        return json_response(channel_json(ch1))
    far = ctx.destinations.lookup(target.exten, target.context)
    call = _new_call(ctx, ch1.id, ch2.id, target, far)
    response = json_response(channel_json(ch1))
    timeout_s = req.get_int("timeout", DEFAULT_ORIGINATE_TIMEOUT_S)

    def alive() -> bool:
        return pbx.channels.get(ch1.id) is ch1 and not ch1.hangup_pending

    def ringing() -> None:
        if pbx.channels.get(ch1.id) is not ch1:
            return
        if app and not subscribed:
            # "Stasis app ... doesn't exist": the channel is created, then hung up, unseen.
            pbx.remove_silently(ch1)
            pbx.remove_silently(ch2)
            call.failed(0)
            return
        if far.outcome == "invalid":  # no such extension/context: both halves vanish
            pbx.destroy(ch2, 0)
            pbx.destroy(ch1, 0)
            call.failed(0)
            return
        pbx.emit(pbx.factory.caller_id(ch2), [ch2])
        pbx.emit(pbx.factory.connected_line(ch2), [ch2])
        pbx.emit(pbx.factory.dial(ch1, "", target.dialstring), [ch1])
        if far.outcome in ("busy", "congestion"):
            refused(far.outcome)
            return
        if far.outcome == "no_answer" or far.ring_s > 0:
            far_end_step(1, "Ringing", "")
            pbx.set_state(ch1, STATE_RINGING)
            pbx.emit(pbx.factory.dial(ch1, "RINGING", target.dialstring), [ch1])
            far_end_step(2, "Wait", "60")
            if timeout_s > 0 and (far.outcome == "no_answer" or far.ring_s >= timeout_s):
                pbx.later(no_answer, float(timeout_s))
            elif far.outcome != "no_answer":
                pbx.later(answered, far.ring_s)
            return
        pbx.later(answered, 0.0)

    def far_end_step(priority: int, app_name: str, app_data: str) -> None:
        ch2.dialplan = DialplanLocation(
            target.context, target.exten, priority, app_name, app_data
        )
        pbx.emit(pbx.factory.dialplan(ch2), [ch2])

    def refused(outcome: str) -> None:
        status, cause = ("BUSY", 17) if outcome == "busy" else ("CONGESTION", 34)
        far_end_step(1, outcome.capitalize(), f"{far.busy_s:g}")
        pbx.set_state(ch2, STATE_BUSY)
        pbx.emit(pbx.factory.dial(ch1, status, target.dialstring), [ch1])
        pbx.emit(pbx.factory.hangup_request(ch2, 0, False), [ch2])
        pbx.destroy(ch1, 0)
        pbx.emit(pbx.factory.hangup_request(ch2, 16, True), [ch2])
        ch2.dialplan = DialplanLocation(target.context, target.exten, 1)
        pbx.destroy(ch2, cause)
        call.failed(cause)

    def no_answer() -> None:
        if not alive():
            return
        pbx.emit(pbx.factory.hangup_request(ch2, 19, False), [ch2])
        pbx.emit(pbx.factory.hangup_request(ch2, 16, True), [ch2])
        ch2.dialplan = ch2.dialplan.running("", "")
        pbx.destroy(ch2, 19)
        pbx.destroy(ch1, 19)
        call.failed(19)

    def answered() -> None:
        if not alive():
            return
        ch2.dialplan = ch2.dialplan.running("Answer", "")
        pbx.emit(pbx.factory.dialplan(ch2), [ch2])
        pbx.set_state(ch2, STATE_UP)
        pbx.set_state(ch1, STATE_UP)
        pbx.emit(pbx.factory.dial(ch1, "ANSWER", target.dialstring), [ch1])
        ctx.calls.attach_caller(call, ch1, ch2)
        _far_end_script(ctx, call, ch2, far)
        if app:
            if pbx.enter_stasis(ch1, app, args):
                ctx.outbound.put_nowait(call)
            else:
                call.stasis_status = "FAILED"
                pbx.hangup(ch2, 16, True)
            return
        assert after_answer is not None
        call.continued_to = ContinuedTo(
            after_answer.context, after_answer.exten, after_answer.priority
        )
        ch1.dialplan = after_answer
        ctx.outbound.put_nowait(call)

    pbx.later(ringing)
    return response


def _new_call(
    ctx: SimContext, ch1_id: str, ch2_id: str, target: LocalEndpoint, far: FarEnd
) -> SimulatedCall:
    call = SimulatedCall(ch1_id, _new_caller(ctx), "outbound", ch2_id)
    call.outcome, call.dialed, call.amd = far.outcome, target.exten, far.amd
    ctx.all_calls[ch1_id] = call
    return call


def _far_end_script(ctx: SimContext, call: SimulatedCall, ch2: Channel, far: FarEnd) -> None:
    """What the answered far end does on its own: play its AMD profile's audio (a greeting, a
    tone, silence) after the answer settles, hang up after ``hangup_after_s``."""
    pbx = ctx.pbx
    if far.amd is not None:
        audio = callee_audio(far.amd_profile)

        def play() -> None:
            if audio and pbx.channels.get(ch2.id) is ch2:
                ctx.background(call.caller.say(audio))

        pbx.later(play, ANSWER_SETTLE_S)
    if far.hangup_after_s is None:
        return

    def hang_up() -> None:
        if pbx.channels.get(ch2.id) is ch2 and not ch2.hangup_pending:
            call.hangup_cause = 16
            pbx.hangup(ch2, 16, True)

    pbx.later(hang_up, far.hangup_after_s)


async def create(ctx: SimContext, req: AriRequest) -> web.Response:
    endpoint = req.get_str("endpoint")
    if not endpoint:
        return error(400, "Endpoint must be specified")
    app = req.get_str("app")
    if not app:
        return error(400, "Application must be specified")
    try:
        target = parse_endpoint(endpoint)
    except EndpointError as exc:
        return exc.response
    channel_id = req.get("channelId") or None
    other_id = req.get("otherChannelId") or None
    if _id_taken(ctx, channel_id, other_id):
        return error(409, "Channel with given unique ID already exists")
    args = req.get_str("appArgs").split(",") if req.get_str("appArgs") else []
    variables = req.variables()
    pbx = ctx.pbx
    ch1, ch2 = ctx.calls.local_pair(
        target.context,
        target.exten,
        ChannelKind.ORIGINATED,
        CallerId(),
        DialplanLocation(target.context, target.exten, 1),
        DialplanLocation(target.context, target.exten, 1),
        STATE_DOWN,
        (channel_id, other_id),
    )
    ch1.variables.update(variables)
    ch1.subscribers.add(app)
    call = _new_call(ctx, ch1.id, ch2.id, target, FarEnd())
    ctx.undialed[ch1.id] = (target.dialstring, call)

    def forget(gone: Channel) -> None:
        ctx.undialed.pop(gone.id, None)

    ch1.on_gone.append(forget)
    response = json_response(channel_json(ch1))

    def enter() -> None:
        if pbx.channels.get(ch1.id) is not ch1:
            return
        if not pbx.enter_stasis(ch1, app, args, announce_dialplan=True):
            pbx.remove_silently(ch1)
            pbx.remove_silently(ch2)

    pbx.later(enter)
    return response


async def dial(ctx: SimContext, req: AriRequest) -> web.Response:
    ch = ctx.pbx.find_channel(req.path_args["channelId"])
    if ch is None:
        return error(404, "Channel not found")
    if not ch.in_stasis:
        return error(409, "Channel not in Stasis application")
    pending = ctx.undialed.pop(ch.id, None)
    if pending is None:
        return error(409, "Channel is not in a state that can be dialed")
    dialstring, call = pending
    pbx = ctx.pbx
    ch2 = pbx.channels.get(ch.peer_id or "")
    exten, _, context = dialstring.partition("@")
    far = ctx.destinations.lookup(exten, context)
    call.outcome, call.amd = far.outcome, far.amd
    timeout_s = req.get_int("timeout", 0)  # 0: no limit

    def alive() -> bool:
        return pbx.channels.get(ch.id) is ch and not ch.hangup_pending

    def ring() -> None:
        if not alive():
            return
        pbx.emit(pbx.factory.dial(ch, "", dialstring), [ch])
        if far.outcome in ("busy", "congestion", "invalid"):
            # The channel stays in Stasis, Down, until the timeout or the far end's hang-up.
            status = {"busy": "BUSY", "congestion": "CONGESTION"}.get(far.outcome, "CHANUNAVAIL")
            pbx.emit(pbx.factory.dial(ch, status, ""), [ch])
            cause = {"busy": 17, "congestion": 34}.get(far.outcome)
            if cause is not None and (timeout_s <= 0 or far.busy_s < timeout_s):
                pbx.later(lambda: far_end_hangup(cause), far.busy_s)
            elif timeout_s > 0:
                pbx.later(timed_out, float(timeout_s))
            return
        if far.outcome == "no_answer" or far.ring_s > 0:
            pbx.set_state(ch, STATE_RINGING)
            pbx.emit(pbx.factory.dial(ch, "RINGING", ""), [ch])
            if timeout_s > 0 and (far.outcome == "no_answer" or far.ring_s >= timeout_s):
                pbx.later(timed_out, float(timeout_s))
            elif far.outcome != "no_answer":
                pbx.later(answered, far.ring_s)
            return
        pbx.later(answered, 0.0)

    def timed_out() -> None:
        if alive():
            pbx.hangup(ch, 32, True, destroy_cause=19)
            call.failed(19)

    def far_end_hangup(cause: int) -> None:
        if alive():
            pbx.hangup(ch, cause, False, destroy_cause=cause)
            call.failed(cause)

    def answered() -> None:
        if not alive() or ch2 is None:
            return
        ch2.state = STATE_UP
        pbx.set_state(ch, STATE_UP)
        pbx.emit(pbx.factory.dial(ch, "ANSWER", ""), [ch])
        ctx.calls.attach_caller(call, ch, ch2)
        _far_end_script(ctx, call, ch2, far)
        ctx.outbound.put_nowait(call)

    pbx.later(ring)
    return no_content()
