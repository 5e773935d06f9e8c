"""ARI ``/channels`` handlers. Status codes and messages as recorded on Asterisk 22.10.1."""

from __future__ import annotations

from aiohttp import web

from ari_app.simulator import external_media, originate
from ari_app.simulator.caller import SimulatedCaller
from ari_app.simulator.context import SimContext
from ari_app.simulator.events import channel_json
from ari_app.simulator.rest import AriRequest, RouteTable, error, json_response, no_content
from ari_app.simulator.state import HANGUP_REASONS, STATE_UP, Channel, DialplanLocation

routes = RouteTable()

NOT_FOUND = "Channel not found"
NOT_IN_STASIS = "Channel not in Stasis application"
DTMF_CHARS = frozenset("0123456789*#ABCDabcd,")


def _find(ctx: SimContext, req: AriRequest) -> Channel | None:
    return ctx.pbx.find_channel(req.path_args["channelId"])


@routes.add("GET", "/channels")
async def list_channels(ctx: SimContext, req: AriRequest) -> web.StreamResponse:
    live = [ch for ch in ctx.pbx.channels.values() if not ch.hangup_pending]
    return json_response([channel_json(ch) for ch in live])


@routes.add("GET", "/channels/{channelId}")
async def get_channel(ctx: SimContext, req: AriRequest) -> web.StreamResponse:
    ch = _find(ctx, req)
    if ch is None:
        return error(404, NOT_FOUND)
    return json_response(channel_json(ch))


@routes.add("DELETE", "/channels/{channelId}", reads=("reason_code", "reason"))
async def hangup(ctx: SimContext, req: AriRequest) -> web.StreamResponse:
    ch = _find(ctx, req)
    if ch is None:
        return error(404, NOT_FOUND)
    reason_code = req.get_str("reason_code")
    reason = req.get_str("reason")
    if reason_code and reason:
        return error(400, "The reason and reason_code can't both be specified")
    cause = 32
    if reason_code:
        cause = req.get_int("reason_code", 32)
    elif reason:
        if reason not in HANGUP_REASONS:
            return error(400, "Invalid reason for hangup specified")
        cause = HANGUP_REASONS[reason]
    ctx.pbx.request_hangup(ch, cause, True)
    return no_content()


@routes.add("POST", "/channels/{channelId}/answer")
async def answer(ctx: SimContext, req: AriRequest) -> web.StreamResponse:
    ch = _find(ctx, req)
    if ch is None:
        return error(404, NOT_FOUND)
    if not ch.in_stasis:
        return error(409, NOT_IN_STASIS)
    if ch.state != STATE_UP:
        ctx.pbx.answer(ch)
    return no_content()


@routes.add("POST", "/channels/{channelId}/silence")
async def start_silence(ctx: SimContext, req: AriRequest) -> web.StreamResponse:
    """Silence played to the channel (see :mod:`ari_app.simulator.silence`)."""
    ch = _find(ctx, req)
    if ch is None:
        return error(404, NOT_FOUND)
    if not ch.in_stasis:
        return error(409, NOT_IN_STASIS)
    ctx.silence.start(ch)
    return no_content()


@routes.add("DELETE", "/channels/{channelId}/silence")
async def stop_silence(ctx: SimContext, req: AriRequest) -> web.StreamResponse:
    ch = _find(ctx, req)
    if ch is None:
        return error(404, NOT_FOUND)
    if not ch.in_stasis:
        return error(409, NOT_IN_STASIS)
    ctx.silence.stop(ch.id)
    return no_content()


@routes.add(
    "POST", "/channels/{channelId}/continue", reads=("context", "extension", "priority")
)
async def continue_in_dialplan(ctx: SimContext, req: AriRequest) -> web.StreamResponse:
    ch = _find(ctx, req)
    if ch is None:
        return error(404, NOT_FOUND)
    if not ch.in_stasis:
        return error(409, NOT_IN_STASIS)
    here = ch.pre_stasis_dialplan or ch.dialplan
    context = req.get_str("context")
    extension = req.get_str("extension")
    default_priority = here.priority + 1 if not context and not extension else 1
    location = DialplanLocation(
        context or here.context,
        extension or here.exten,
        req.get_int("priority", default_priority),
    )
    ctx.pbx.continue_in_dialplan(ch, location)
    return no_content()


@routes.add("POST", "/channels/{channelId}/dtmf", reads=("dtmf",))
async def send_dtmf(ctx: SimContext, req: AriRequest) -> web.StreamResponse:
    ch = _find(ctx, req)
    if ch is None:
        return error(404, NOT_FOUND)
    if not ch.in_stasis:
        return error(409, NOT_IN_STASIS)
    digits = req.get_str("dtmf")
    if not digits:
        return error(400, "DTMF is required")
    if isinstance(ch.media, SimulatedCaller):
        # Sent towards the caller; the app sees no event for it.
        ch.media.hear_dtmf("".join(d for d in digits.upper() if d in DTMF_CHARS and d != ","))
    return no_content()


def _variable_value(ch: Channel, name: str) -> str | None:
    special = {
        "CALLERID(num)": ch.caller.number,
        "CALLERID(name)": ch.caller.name,
        "CONNECTEDLINE(num)": ch.connected.number,
        "CONNECTEDLINE(name)": ch.connected.name,
        "CHANNEL(name)": ch.name,
        "CHANNEL(state)": ch.state,
        "UNIQUEID": ch.id,
    }
    if name in special:
        return special[name]
    return ch.variables.get(name)


@routes.add("GET", "/channels/{channelId}/variable", reads=("variable",))
async def get_variable(ctx: SimContext, req: AriRequest) -> web.StreamResponse:
    name = req.get_str("variable")
    if not name:
        return error(400, "Variable name is required")
    ch = _find(ctx, req)
    if ch is None:
        return error(404, NOT_FOUND)
    value = _variable_value(ch, name)
    if value is None:
        return error(404, "Provided variable was not found")
    return json_response({"value": value})


@routes.add("POST", "/channels/{channelId}/variable", reads=("variable", "value"))
async def set_variable(ctx: SimContext, req: AriRequest) -> web.StreamResponse:
    name = req.get_str("variable")
    if not name:
        return error(400, "Variable name is required")
    ch = _find(ctx, req)
    if ch is None:
        return error(404, NOT_FOUND)
    ctx.pbx.set_var(ch, name, req.get_str("value"))
    return no_content()


ORIGINATE_READS = (
    "endpoint", "extension", "context", "priority", "app", "appArgs", "callerId",
    "variables", "otherChannelId", "timeout",
)


@routes.add("POST", "/channels", reads=(*ORIGINATE_READS, "channelId"))
async def originate_channel(ctx: SimContext, req: AriRequest) -> web.StreamResponse:
    return await originate.originate(ctx, req, req.get("channelId") or None)


@routes.add("POST", "/channels/{channelId}", reads=ORIGINATE_READS)
async def originate_with_id(ctx: SimContext, req: AriRequest) -> web.StreamResponse:
    return await originate.originate(ctx, req, req.path_args["channelId"])


@routes.add(
    "POST",
    "/channels/create",
    reads=("endpoint", "app", "appArgs", "channelId", "otherChannelId", "variables"),
)
async def create_channel(ctx: SimContext, req: AriRequest) -> web.StreamResponse:
    return await originate.create(ctx, req)


@routes.add("POST", "/channels/{channelId}/dial", reads=("timeout",))
async def dial(ctx: SimContext, req: AriRequest) -> web.StreamResponse:
    return await originate.dial(ctx, req)


@routes.add("POST", "/channels/externalMedia", reads=external_media.READS)
async def create_external_media(ctx: SimContext, req: AriRequest) -> web.StreamResponse:
    return await external_media.external_media(ctx, req)
