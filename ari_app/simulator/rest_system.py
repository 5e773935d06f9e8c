"""ARI ``/asterisk`` and ``/applications`` handlers (what a client needs to reconcile, and
``callwright doctor`` to check: the modules loaded, the clock in ``/asterisk/ping``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ari_app.simulator.context import BUILD_INFO, SimContext
from ari_app.simulator.events import format_timestamp
from ari_app.simulator.rest import AriRequest, RouteTable, error, json_response

routes = RouteTable()

APP_NOT_FOUND = "Application not found"


@routes.add("GET", "/asterisk/info", reads=("only",))
async def asterisk_info(ctx: SimContext, req: AriRequest) -> web.StreamResponse:
    started = format_timestamp(ctx.startup_time)
    info: dict[str, Any] = {
        "build": dict(BUILD_INFO),
        "system": {"version": "22.10.1", "entity_id": ctx.entity_id},
        "config": {"name": "", "default_language": "en", "setid": {"user": "", "group": ""}},
        "status": {"startup_time": started, "last_reload_time": started},
    }
    only = req.get_list("only")
    if only:
        info = {k: v for k, v in info.items() if k in only}
    return json_response(info)


@routes.add("GET", "/asterisk/ping")
async def ping(ctx: SimContext, req: AriRequest) -> web.StreamResponse:
    return json_response(
        {
            "asterisk_id": ctx.entity_id,
            "ping": "pong",
            "timestamp": format_timestamp(ctx.pbx.clock()),
        }
    )


MODULE_NOT_FOUND = "Module could not be found in running modules"


@routes.add("GET", "/asterisk/modules")
async def list_modules(ctx: SimContext, req: AriRequest) -> web.StreamResponse:
    return json_response([row.to_json() for row in ctx.modules.values()])


@routes.add("GET", "/asterisk/modules/{moduleName}")
async def get_module(ctx: SimContext, req: AriRequest) -> web.StreamResponse:
    row = ctx.modules.get(req.path_args["moduleName"])
    if row is None:
        return error(404, MODULE_NOT_FOUND)
    return json_response(row.to_json())


def _app_json(ctx: SimContext, name: str) -> dict[str, Any]:
    state = ctx.hub.apps[name]
    return {
        "name": name,
        "channel_ids": ctx.pbx.app_channel_ids(name),
        "bridge_ids": ctx.pbx.app_bridge_ids(name),
        "endpoint_ids": [],
        "device_names": [],
        "events_allowed": list(state.events_allowed),
        "events_disallowed": list(state.events_disallowed),
    }


@routes.add("GET", "/applications")
async def list_applications(ctx: SimContext, req: AriRequest) -> web.StreamResponse:
    return json_response([_app_json(ctx, name) for name in ctx.hub.apps])


@routes.add("GET", "/applications/{applicationName}")
async def get_application(ctx: SimContext, req: AriRequest) -> web.StreamResponse:
    name = req.path_args["applicationName"]
    if not ctx.hub.exists(name):
        return error(404, APP_NOT_FOUND)
    return json_response(_app_json(ctx, name))


async def _subscription(ctx: SimContext, req: AriRequest, subscribe: bool) -> web.Response:
    name = req.path_args["applicationName"]
    sources = req.get_list("eventSource")
    if not sources:
        return error(400, "Missing parameter eventSource")
    if not ctx.hub.exists(name):
        return error(404, APP_NOT_FOUND)
    pbx = ctx.pbx
    targets: list[tuple[str, str]] = []
    for source in sources:
        scheme, sep, ident = source.partition(":")
        if not sep or scheme not in ("channel", "bridge", "endpoint", "deviceState"):
            return error(400, "Invalid event source URI scheme")
        if scheme == "channel" and pbx.find_channel(ident) is None:
            return error(422, "Event source does not exist")
        if scheme == "bridge" and pbx.find_bridge(ident) is None:
            return error(422, "Event source does not exist")
        if scheme in ("endpoint", "deviceState"):
            return error(422, "Event source does not exist")
        targets.append((scheme, ident))
    for scheme, ident in targets:
        if scheme == "channel":
            ch = pbx.channels[ident]
            if subscribe:
                ch.subscribers.add(name)
            elif ch.stasis_app != name:
                ch.subscribers.discard(name)
        else:
            b = pbx.bridges[ident]
            count = b.subscribers.get(name, 0)
            b.subscribers[name] = count + 1 if subscribe else max(0, count - 1)
    return json_response(_app_json(ctx, name))


@routes.add(
    "POST", "/applications/{applicationName}/subscription", reads=("eventSource",)
)
async def subscribe(ctx: SimContext, req: AriRequest) -> web.StreamResponse:
    return await _subscription(ctx, req, True)


@routes.add(
    "DELETE", "/applications/{applicationName}/subscription", reads=("eventSource",)
)
async def unsubscribe(ctx: SimContext, req: AriRequest) -> web.StreamResponse:
    return await _subscription(ctx, req, False)
