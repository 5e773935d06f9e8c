"""The HTTP front of the simulator: authentication, routing, and the life phases of Asterisk.

Every request goes through :meth:`AriHttp.handle`:

* while Asterisk "restarts" (``phase``), answers as a real one does: 503 text/html "Shutdown in
  progress", then (after the socket was closed and reopened) 404 text/html, then 503
  ``{"message":"Asterisk not booted"}``;
* ``/_sim/...`` goes to the control API (same credentials), anything else outside ``/ari`` is
  Asterisk's 404 page;
* ``/ari/...`` needs Basic auth or ``?api_key=user:pass`` (else 401 with ``WWW-Authenticate``),
  then the spec decides: unknown path 404 "Resource not found", wrong method 405 with ``Allow``,
  an operation the simulator does not implement 501, else the registered handler.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ari_app.simulator.context import SimContext
from ari_app.simulator.rest import (
    INTERNAL_ERROR,
    NOT_IMPLEMENTED_MESSAGE,
    AriRequest,
    RouteTable,
    error,
    html_error,
    no_content,
)
from ari_app.simulator.spec import AriSpec, MethodNotAllowed

log = logging.getLogger(__name__)

ControlHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Phase(enum.Enum):
    RUNNING = "running"
    SHUTTING_DOWN = "shutting-down"  # 503 text/html
    HTTP_ONLY = "http-only"          # 404 text/html: the HTTP server is up, ARI is not
    NOT_BOOTED = "not-booted"        # 503 {"message":"Asterisk not booted"}


def _www_authenticate() -> dict[str, str]:
    return {"WWW-Authenticate": 'Basic realm="Asterisk REST Interface"'}


class AriHttp:
    def __init__(
        self,
        spec: AriSpec,
        routes: RouteTable,
        ctx: SimContext,
        username: str,
        password: str,
        control: ControlHandler | None = None,
    ) -> None:
        self.spec = spec
        self.routes = routes
        self.ctx = ctx
        self.username = username
        self.password = password
        self.control = control
        self.phase = Phase.RUNNING
        self._transports: weakref.WeakSet[Any] = weakref.WeakSet()

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    def abort_connections(self) -> None:
        """Drop every open TCP connection (a crashed Asterisk takes its sockets with it)."""
        for transport in list(self._transports):
            transport.abort()

    def authorized(self, request: web.Request) -> bool:
        expected = f"{self.username}:{self.password}"
        api_key = request.query.get("api_key")
        if api_key is not None:
            return api_key == expected
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return decoded == expected

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.transport is not None:
            self._transports.add(request.transport)
        if self.phase is Phase.SHUTTING_DOWN:
            return html_error(503, "Shutdown in progress")
        if self.phase is Phase.HTTP_ONLY:
            return html_error(404, "The requested URL was not found on this server.")
        path = request.rel_url.raw_path
        if path.startswith("/_sim/") and self.control is not None:
            if not self.authorized(request):
                return error(401, "Authentication required", _www_authenticate())
            return await self.control(request)
        if path.startswith("/media/") and self.phase is Phase.RUNNING:
            endpoint = self.ctx.media_sockets.get(path[len("/media/") :])
            if endpoint is not None:
                return await endpoint.serve(request)
        if not path.startswith("/ari/"):
            return html_error(404, "The requested URL was not found on this server.")
        if self.phase is Phase.NOT_BOOTED:
            return error(503, "Asterisk not booted")
        if not self.authorized(request):
            return error(401, "Authentication required", _www_authenticate())
        return await self._ari(request, path[len("/ari") :])

    async def _ari(self, request: web.Request, path: str) -> web.StreamResponse:
        found = self.spec.resolve(request.method, path)
        if found is None:
            return error(404, "Resource not found")
        if isinstance(found, MethodNotAllowed):
            if request.method == "OPTIONS":
                resp = no_content()
                resp.headers["Allow"] = found.allow
                return resp
            return error(405, "Invalid method", {"Allow": found.allow})
        op = found.operation
        if op.websocket:
            return await self._events(request)
        route = self.routes.routes.get(op.key)
        if route is None:
            return error(501, NOT_IMPLEMENTED_MESSAGE)
        body: Any = None
        if request.can_read_body and request.content_type == "application/json":
            raw = await request.read()
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError:
                    return error(400, "Invalid JSON body")
        args = AriRequest(request, op, found.path_args, route.reads, body)
        try:
            return await route.handler(self.ctx, args)
        except Exception:  # the outermost boundary of a request: answer like Asterisk, log
            log.exception("simulator handler for %s %s failed", op.method, op.path)
            return error(500, INTERNAL_ERROR)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        apps = [a for a in ",".join(request.query.getall("app", [])).split(",") if a]
        if not apps:
            return html_error(400, "HTTP request is missing param: [app]")
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return html_error(400, "Bad Request")
        subscribe_all = request.query.get("subscribeAll", "").lower() in ("true", "yes", "1")
        return await self.ctx.hub.serve(request, apps, subscribe_all)

