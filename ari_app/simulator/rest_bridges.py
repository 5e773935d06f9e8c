"""ARI ``/bridges`` handlers. Status codes and messages as recorded on Asterisk 22.10.1.

Note the recorded oddities: ``addChannel`` with an unknown channel is 400 "Channel not found"
(not 404), a channel that is not in Stasis is 422, and an unknown bridge type is a 500.
``addChannel`` answers after the ``ChannelEnteredBridge`` events, ``DELETE`` before
``BridgeDestroyed``.
"""

from __future__ import annotations

from aiohttp import web

from ari_app.simulator.context import SimContext
from ari_app.simulator.events import bridge_json
from ari_app.simulator.rest import AriRequest, RouteTable, error, json_response, no_content
from ari_app.simulator.state import BRIDGE_TYPE_FLAGS, Bridge, Channel

routes = RouteTable()

NOT_FOUND = "Bridge not found"


def _find(ctx: SimContext, req: AriRequest) -> Bridge | None:
    return ctx.pbx.find_bridge(req.path_args["bridgeId"])


def _create(ctx: SimContext, bridge_id: str | None, type_text: str, name: str) -> web.Response:
    pbx = ctx.pbx
    flags = [t.strip().lower() for t in (type_text or "mixing").split(",") if t.strip()]
    shown_id = bridge_id if bridge_id else "(null)"
    unable = f"Unable to create bridge. Possible duplicate bridge id '{shown_id}'"
    if not flags or any(f not in BRIDGE_TYPE_FLAGS for f in flags):
        return error(500, unable)
    if bridge_id is not None and bridge_id in pbx.bridges:
        return error(500, unable)
    bridge_type = "holding" if "holding" in flags else "mixing"
    b = Bridge(
        id=bridge_id or pbx.ids.bridge_id(),
        name=name,
        bridge_type=bridge_type,
        technology="holding_bridge" if bridge_type == "holding" else "simple_bridge",
        creationtime=pbx.clock(),
    )
    pbx.add_bridge(b)
    return json_response(bridge_json(b))


@routes.add("GET", "/bridges")
async def list_bridges(ctx: SimContext, req: AriRequest) -> web.StreamResponse:
    live = [b for b in ctx.pbx.bridges.values() if ctx.pbx.find_bridge(b.id) is b]
    return json_response([bridge_json(b) for b in live])


@routes.add("POST", "/bridges", reads=("type", "bridgeId", "name"))
async def create_bridge(ctx: SimContext, req: AriRequest) -> web.StreamResponse:
    return _create(ctx, req.get("bridgeId") or None, req.get_str("type"), req.get_str("name"))


@routes.add("POST", "/bridges/{bridgeId}", reads=("type", "name"))
async def create_bridge_with_id(ctx: SimContext, req: AriRequest) -> web.StreamResponse:
    return _create(ctx, req.path_args["bridgeId"], req.get_str("type"), req.get_str("name"))


@routes.add("GET", "/bridges/{bridgeId}")
async def get_bridge(ctx: SimContext, req: AriRequest) -> web.StreamResponse:
    b = _find(ctx, req)
    if b is None:
        return error(404, NOT_FOUND)
    return json_response(bridge_json(b))


@routes.add("DELETE", "/bridges/{bridgeId}")
async def destroy_bridge(ctx: SimContext, req: AriRequest) -> web.StreamResponse:
    b = _find(ctx, req)
    if b is None:
        return error(404, NOT_FOUND)
    ctx.pbx.request_bridge_destroy(b)
    return no_content()


def _channels(ctx: SimContext, ids: list[str]) -> list[Channel] | web.Response:
    if not ids:
        return error(400, "Missing parameter channel")
    found: list[Channel] = []
    for cid in ids:
        ch = ctx.pbx.find_channel(cid)
        if ch is None:
            return error(400, "Channel not found")
        found.append(ch)
    for ch in found:
        if not ch.in_stasis:
            return error(422, "Channel not in Stasis application")
    return found


@routes.add(
    "POST",
    "/bridges/{bridgeId}/addChannel",
    reads=("channel", "inhibitConnectedLineUpdates", "mute", "absorbDTMF"),
)
async def add_channel(ctx: SimContext, req: AriRequest) -> web.StreamResponse:
    b = _find(ctx, req)
    if b is None:
        return error(404, NOT_FOUND)
    found = _channels(ctx, req.get_list("channel"))
    if isinstance(found, web.Response):
        return found
    inhibit = req.get_bool("inhibitConnectedLineUpdates", False)
    mute = req.get_bool("mute", False)
    absorb = req.get_bool("absorbDTMF", False)
    for ch in found:
        ch.inhibit_connected_line = inhibit
        ch.bridge_muted = mute
        ch.absorb_dtmf = absorb
        ctx.pbx.join_bridge(b, ch)
    await ctx.hub.drain()
    return no_content()


@routes.add("POST", "/bridges/{bridgeId}/removeChannel", reads=("channel",))
async def remove_channel(ctx: SimContext, req: AriRequest) -> web.StreamResponse:
    b = _find(ctx, req)
    if b is None:
        return error(404, NOT_FOUND)
    found = _channels(ctx, req.get_list("channel"))
    if isinstance(found, web.Response):
        return found
    for ch in found:
        if ch.bridge_id != b.id:
            return error(422, "Channel not in this bridge")
    for ch in found:
        ctx.pbx.leave_bridge(ch, by_request=True)
    await ctx.hub.drain()
    return no_content()
