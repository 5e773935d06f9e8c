"""Outbound calls: ``POST /channels`` (originate), ``POST /channels/create`` + ``/dial``.

Only ``Local/<exten>@<context>`` endpoints exist here (the lab Asterisk had no SIP either); the
far end is a :class:`SimulatedCaller` that answers after ``SimContext.outbound_answer_s``, unless
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

from aiohttp import web

from ari_app.simulator.caller import SimulatedCaller
from ari_app.simulator.calls import ContinuedTo, SimulatedCall
from ari_app.simulator.context import SimContext
from ari_app.simulator.dialplan import originate_into_stasis
from ari_app.simulator.events import channel_json
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


async def originate(ctx: SimContext, req: AriRequest, channel_id: str | None) -> web.Response:
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
    if subscribed:
        ch1.subscribers.add(app)
        ch2.subscribers.add(app)
    inbound = ctx.inbound_contexts.get(target.context)
    if inbound is not None:  # ;2 runs a context that hands it to Stasis(): see dialplan.py
        originate_into_stasis(
            pbx, ch1, ch2, inbound, app=app, args=args, after_answer=after_answer
        )
        return json_response(channel_json(ch1))
    call = SimulatedCall(ch1.id, _new_caller(ctx), "outbound", ch2.id)
    ctx.all_calls[ch1.id] = call
    response = json_response(channel_json(ch1))

    def ringing() -> None:
        if pbx.channels.get(ch1.id) is not ch1:
            return
        if app and not subscribed:
            # "Stasis app ... doesn't exist": the channel is created, then hung up, unseen.
            pbx.remove_silently(ch1)
            pbx.remove_silently(ch2)
            return
        pbx.emit(pbx.factory.caller_id(ch2), [ch2])
        pbx.emit(pbx.factory.connected_line(ch2), [ch2])
        pbx.emit(pbx.factory.dial(ch1, "", target.dialstring), [ch1])
        pbx.later(answered, ctx.outbound_answer_s)

    def answered() -> None:
        if pbx.channels.get(ch1.id) is not ch1 or ch1.hangup_pending:
            return
        ch2.dialplan = ch2.dialplan.running("Answer", "")
        pbx.emit(pbx.factory.dialplan(ch2), [ch2])
        pbx.set_state(ch2, STATE_UP)
        pbx.set_state(ch1, STATE_UP)
        pbx.emit(pbx.factory.dial(ch1, "ANSWER", target.dialstring), [ch1])
        ctx.calls.attach_caller(call, ch1, ch2)
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
    call = SimulatedCall(ch1.id, _new_caller(ctx), "outbound", ch2.id)
    ctx.all_calls[ch1.id] = call
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

    def ring() -> None:
        if pbx.channels.get(ch.id) is not ch:
            return
        pbx.emit(pbx.factory.dial(ch, "", dialstring), [ch])
        pbx.later(answered, ctx.outbound_answer_s)

    def answered() -> None:
        if pbx.channels.get(ch.id) is not ch or ch.hangup_pending or ch2 is None:
            return
        ch2.state = STATE_UP
        pbx.set_state(ch, STATE_UP)
        pbx.emit(pbx.factory.dial(ch, "ANSWER", ""), [ch])
        ctx.calls.attach_caller(call, ch, ch2)
        ctx.outbound.put_nowait(call)

    pbx.later(ring)
    return no_content()
