"""A fake ``/ari/events`` websocket endpoint for the event stream tests."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from .fake_ari import PASSWORD, USER, Canned
from .local_server import SERVER


@dataclass
class EventServer:
    """``/ari/events``: answers ``refusals`` first (one per handshake), then accepts. Each
    accepted socket is put on ``accepted``; ``greeting`` is sent at once on every accept."""

    refusals: list[Canned] = field(default_factory=list)
    greeting: list[str] = field(default_factory=list)
    handshakes: list[tuple[float, int, dict[str, str], str | None]] = field(default_factory=list)
    accepted: asyncio.Queue[web.WebSocketResponse] = field(default_factory=asyncio.Queue)
    close_codes: list[int | None] = field(default_factory=list)
    requests: dict[int, web.Request] = field(default_factory=dict)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/ari/events", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        def seen(status: int) -> None:
            self.handshakes.append((time.monotonic(), status, dict(request.query),
                                    request.headers.get("Authorization")))
        if request.headers.get("Authorization") != aiohttp.encode_basic_auth(USER, PASSWORD):
            seen(401)
            return web.json_response({"message": "Authentication required"}, status=401)
        if self.refusals:
            canned = self.refusals.pop(0)
            seen(canned.status)
            body = canned.body if isinstance(canned.body, str) else json.dumps(canned.body)
            return web.Response(status=canned.status, body=body.encode(),
                                headers={"Content-Type": canned.content_type})
        seen(101)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        request.app[SERVER].live.append(request)
        self.requests[id(ws)] = request
        for text in self.greeting:
            await ws.send_str(text)
        self.accepted.put_nowait(ws)
        async for _ in ws:
            pass
        self.close_codes.append(ws.close_code)
        return ws

    def drop(self, ws: web.WebSocketResponse) -> None:
        """Cut the TCP connection with no close frame (the client sees 1006)."""
        transport = self.requests[id(ws)].transport
        assert transport is not None
        transport.abort()

    async def next_socket(self, timeout_s: float = 3.0) -> web.WebSocketResponse:
        async with asyncio.timeout(timeout_s):
            return await self.accepted.get()
