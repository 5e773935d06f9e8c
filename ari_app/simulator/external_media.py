"""``POST /channels/externalMedia``: parameter checks as Asterisk 22 makes them, and RTP channels.

The checks and their messages are the recorded ones (errors-summary.md). An RTP channel answers
``UnicastRTP/<external_host>-0x...`` in state Down with ``UNICASTRTP_LOCAL_PORT``/``ADDRESS``
(strings); its ``Dial``, ``ChannelStateChange``, ``Dial ANSWER``, ``ChannelVarset STASISSTATUS``
and ``StasisStart`` (args ``[]``) come about 1 ms *after* the HTTP response, so an
``addChannel`` sent at once gets 422, as on a real Asterisk.

AudioSocket channels (``encapsulation=audiosocket&transport=tcp&data=<uuid>``) connect to
``external_host`` before the response, as Asterisk does; their StasisStart has ``args: [uuid]``.
WebSocket channels in server mode wait for the app at ``/media/<MEDIA_WEBSOCKET_CONNECTION_ID>``:
``Dial`` comes at once, ``Dial ANSWER`` and ``StasisStart`` only when the app connects. Client-mode
websockets and formats other than ulaw/alaw/slin/slin16 answer 500 "An internal error prevented
this request from being handled" (not simulated).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import uuid

from aiohttp import web

from ari_app.simulator.context import SimContext
from ari_app.simulator.core import Pbx
from ari_app.simulator.events import channel_json
from ari_app.simulator.media_audiosocket import AUDIOSOCKET_FORMATS, AudioSocketEndpoint
from ari_app.simulator.media_rtp import RTP_FORMATS, RtpEndpoint
from ari_app.simulator.media_websocket import FRAME_SIZES, WebSocketMediaEndpoint
from ari_app.simulator.rest import INTERNAL_ERROR, AriRequest, error, json_response
from ari_app.simulator.state import (
    STATE_DOWN,
    STATE_UP,
    CallerId,
    Channel,
    ChannelKind,
    DialplanLocation,
    MediaPort,
)

#: Formats Asterisk 22 knows (an unknown one is a 500); only RTP_FORMATS are simulated.
KNOWN_FORMATS = frozenset(
    {"ulaw", "alaw", "slin", "slin12", "slin16", "slin24", "slin32", "slin44", "slin48",
     "slin96", "slin192", "g722", "gsm", "g726", "g726aal2", "adpcm", "lpc10", "g729",
     "speex", "speex16", "speex32", "ilbc", "g719", "opus", "testlaw", "siren7", "siren14"}
)

#: The module that provides each kind of ExternalMedia channel. Without it Asterisk cannot make
#: the channel and answers as for an originate of an unknown technology (recorded):
#: ``500 {"error":"Allocation failed"}``.
CHANNEL_MODULES = {"rtp": "chan_rtp.so", "audiosocket": "chan_audiosocket.so",
                   "websocket": "chan_websocket.so"}

READS = (
    "app", "external_host", "format", "encapsulation", "transport", "connection_type",
    "direction", "data", "channelId", "variables", "transport_data",
)


def split_host_port(external_host: str) -> tuple[str, int] | None:
    """``127.0.0.1:40100`` / ``[::1]:40100`` -> (host, port); None without a valid port."""
    if external_host.startswith("["):
        host, sep, rest = external_host[1:].partition("]")
        if not sep or not rest.startswith(":"):
            return None
        port_text = rest[1:]
    else:
        host, sep, port_text = external_host.rpartition(":")
        if not sep:
            return None
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return None
    return host, int(port_text)



def _media_channel(
    pbx: Pbx, cid: str, name: str, channelvars: dict[str, str], endpoint: MediaPort
) -> Channel:
    """The ExternalMedia channel as Asterisk creates it: Down, no caller, in the ``default``
    context running ``AppDial2`` (the dialplan of every channel made by a Dial)."""
    return Channel(
        id=cid,
        name=name,
        kind=ChannelKind.EXTERNAL_MEDIA,
        state=STATE_DOWN,
        caller=CallerId(),
        connected=CallerId(),
        dialplan=DialplanLocation("default", "s", 1, "AppDial2", "(Outgoing Line)"),
        creationtime=pbx.clock(),
        channelvars=channelvars,
        media=endpoint,
    )

async def _resolve(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_DGRAM)
        return str(infos[0][4][0])


async def external_media(ctx: SimContext, req: AriRequest) -> web.Response:
    app = req.get_str("app")
    if not app:
        return error(400, "app cannot be empty")
    fmt = req.get_str("format")
    if not fmt:
        return error(400, "format cannot be empty")
    encapsulation = (req.get_str("encapsulation") or "rtp").lower()
    transport = (req.get_str("transport") or "udp").lower()
    connection_type = (req.get_str("connection_type") or "client").lower()
    if transport == "websocket":
        if encapsulation != "none":
            return error(400, "encapsulation must be 'none' for websocket transport")
    elif encapsulation == "rtp":
        if transport != "udp":
            return error(400, "transport must be 'udp' for rtp encapsulation")
    elif encapsulation == "audiosocket":
        if transport != "tcp":
            return error(400, "transport must be 'tcp' for audiosocket encapsulation")
    else:
        return error(400, f"encapsulation '{encapsulation}' is not supported")
    external_host = req.get_str("external_host")
    needs_host = not (transport == "websocket" and connection_type == "server")
    if needs_host and not external_host:
        return error(400, "external_host is required for all but websocket server connections")
    address = split_host_port(external_host) if external_host else None
    if transport != "websocket" and address is None:
        return error(
            400, "external_host must be <host>:<port> for all transports other than websocket"
        )
    if encapsulation == "audiosocket" and not req.get_str("data"):
        return error(400, "data can not be empty")
    channel_id = req.get("channelId") or None
    if channel_id is not None and channel_id in ctx.pbx.channels:
        return error(409, "Channel with given unique ID already exists")
    req.get("direction")  # any value is accepted, as Asterisk does (direction=in -> 200)
    if fmt not in KNOWN_FORMATS:
        return error(500, INTERNAL_ERROR)
    technology = CHANNEL_MODULES["websocket" if transport == "websocket" else encapsulation]
    if technology not in ctx.modules:  # the channel technology is not loaded
        return json_response({"error": "Allocation failed"}, 500)
    if address is not None and encapsulation == "audiosocket" and fmt in AUDIOSOCKET_FORMATS:
        return await _create_audiosocket(
            ctx, app, fmt, external_host, address, req.get_str("data"), channel_id,
            req.variables(),
        )
    if transport == "websocket" and connection_type == "server" and fmt in FRAME_SIZES:
        return _create_websocket(
            ctx, app, fmt, req.get_str("transport_data"), channel_id, req.variables()
        )
    if encapsulation != "rtp" or fmt not in RTP_FORMATS or address is None:
        return error(500, INTERNAL_ERROR)  # client-mode websockets and exotic codecs
    return await _create_rtp(ctx, app, fmt, external_host, address, channel_id, req.variables())


async def _create_rtp(
    ctx: SimContext,
    app: str,
    fmt: str,
    external_host: str,
    address: tuple[str, int],
    channel_id: str | None,
    variables: dict[str, str],
) -> web.Response:
    pbx = ctx.pbx
    try:
        remote = (await _resolve(address[0]), address[1])
    except OSError:
        return error(500, INTERNAL_ERROR)
    cid = channel_id or pbx.ids.channel_id()
    endpoint = RtpEndpoint(fmt, remote, lambda pcm: pbx.channel_audio(cid, pcm), ctx.rng,
                           impairment=ctx.rtp_impairment)
    try:
        port = await endpoint.open(ctx.rtp_host)
    except OSError:
        return error(500, INTERNAL_ERROR)
    channelvars = {"UNICASTRTP_LOCAL_PORT": str(port), "UNICASTRTP_LOCAL_ADDRESS": ctx.rtp_host}
    name = f"UnicastRTP/{external_host}-{pbx.ids.pointer()}"
    ch = _media_channel(pbx, cid, name, channelvars, endpoint)
    ch.variables.update(variables)
    ch.variables.update(channelvars)
    ch.subscribers.add(app)
    pbx.add(ch)
    _join_stasis_later(ctx, ch, app, f"{external_host}/c({fmt})", [])
    return json_response(channel_json(ch, with_channelvars=True))


def _join_stasis_later(
    ctx: SimContext, ch: Channel, app: str, dialstring: str, args: list[str]
) -> None:
    """Dial "", Up, Dial ANSWER, STASISSTATUS, StasisStart: shortly after the response."""
    pbx = ctx.pbx

    def join() -> None:
        if pbx.channels.get(ch.id) is not ch or ch.hangup_pending:
            return
        pbx.emit(pbx.factory.dial(ch, "", dialstring), [ch])
        pbx.set_state(ch, STATE_UP)
        pbx.emit(pbx.factory.dial(ch, "ANSWER", dialstring), [ch])
        if not pbx.enter_stasis(ch, app, args):
            pbx.remove_silently(ch)

    pbx.later(join, ctx.media_stasis_delay_s)


async def _create_audiosocket(
    ctx: SimContext,
    app: str,
    fmt: str,
    external_host: str,
    address: tuple[str, int],
    data: str,
    channel_id: str | None,
    variables: dict[str, str],
) -> web.Response:
    pbx = ctx.pbx
    try:
        call_uuid = uuid.UUID(data)
    except ValueError:
        return error(500, INTERNAL_ERROR)
    cid = channel_id or pbx.ids.channel_id()
    holder: list[Channel] = []

    def gone(reason: str) -> None:
        if holder:
            pbx.media_gone(holder[0])

    endpoint = AudioSocketEndpoint(fmt, call_uuid, lambda pcm: pbx.channel_audio(cid, pcm), gone)
    try:
        await endpoint.connect(await _resolve(address[0]), address[1])
    except OSError:
        return error(500, INTERNAL_ERROR)
    channelvars = {"AUDIOSOCKET_SERVICE": external_host, "AUDIOSOCKET_UUID": data}
    ch = _media_channel(pbx, cid, f"AudioSocket/{external_host}-{data}", channelvars, endpoint)
    holder.append(ch)
    ch.variables.update(variables)
    ch.variables.update(channelvars)
    ch.subscribers.add(app)
    pbx.add(ch)
    _join_stasis_later(ctx, ch, app, f"{external_host}/{data}", [data])
    return json_response(channel_json(ch, with_channelvars=True))


def _create_websocket(
    ctx: SimContext,
    app: str,
    fmt: str,
    transport_data: str,
    channel_id: str | None,
    variables: dict[str, str],
) -> web.Response:
    pbx = ctx.pbx
    cid = channel_id or pbx.ids.channel_id()
    connection_id = pbx.ids.bridge_id()
    channelvars = {
        "MEDIA_WEBSOCKET_CONNECTION_ID": connection_id,
        "MEDIA_WEBSOCKET_OPTIMAL_FRAME_SIZE": str(FRAME_SIZES[fmt]),
    }
    dialstring = f"INCOMING/{transport_data}" if transport_data else "INCOMING"
    holder: list[Channel] = []

    def connected() -> None:
        ch = holder[0]
        if pbx.channels.get(ch.id) is not ch or ch.hangup_pending:
            return
        ch.pending_dialstring = None
        pbx.set_state(ch, STATE_UP)
        pbx.emit(pbx.factory.dial(ch, "ANSWER", dialstring), [ch])
        if not pbx.enter_stasis(ch, app, []):
            pbx.remove_silently(ch)

    def hangup(cause: int, tech_cause: int | None) -> None:
        pbx.hangup(holder[0], cause, False, destroy_cause=cause, tech_cause=tech_cause)

    endpoint = WebSocketMediaEndpoint(
        fmt,
        connection_id,
        "f(json)" in transport_data,
        channelvars,
        lambda pcm: pbx.channel_audio(cid, pcm),
        connected,
        hangup,
    )
    ch = _media_channel(pbx, cid, f"WebSocket/INCOMING/{pbx.ids.pointer()}", channelvars, endpoint)
    endpoint.channel_id, endpoint.channel_name = ch.id, ch.name
    holder.append(ch)
    ch.variables.update(variables)
    ch.variables.update(channelvars)
    ch.subscribers.add(app)
    pbx.add(ch)
    ctx.media_sockets[connection_id] = endpoint

    def forget(_: Channel) -> None:
        ctx.media_sockets.pop(connection_id, None)

    ch.on_gone.append(forget)

    def dial() -> None:
        if pbx.channels.get(ch.id) is ch and not ch.hangup_pending and not endpoint.connected:
            ch.pending_dialstring = dialstring
            pbx.emit(pbx.factory.dial(ch, "", dialstring), [ch])

    pbx.later(dial, ctx.media_stasis_delay_s)
    return json_response(channel_json(ch, with_channelvars=True))
