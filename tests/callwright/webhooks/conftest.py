"""Factories for the post-call events' tests: a store with an org, endpoints, a receiver."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from callwright.dialog.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from tests.callwright.store.conftest import make_assistant, make_db, make_org

__all__ = ["make_assistant", "make_db", "make_org"]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        value = json.loads(self.body)
        assert isinstance(value, dict)
        return value

    def signature_ok(self, secret: str) -> bool:
        timestamp = self.headers[TIMESTAMP_HEADER]
        return self.headers.get(SIGNATURE_HEADER) == sign(secret.encode(), timestamp, self.body)


@dataclass
class Receiver:
    """A local HTTP receiver: answers ``statuses`` in turn (then the last one forever)."""

    server: TestServer
    statuses: list[int] = field(default_factory=lambda: [200])
    received: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        return str(self.server.make_url("/hook"))

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(Received(dict(request.headers), await request.read()))
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return web.Response(status=status, text="ok")


MakeReceiver = Callable[..., Awaitable[Receiver]]


@pytest.fixture
async def make_receiver() -> AsyncIterator[MakeReceiver]:
    servers: list[TestServer] = []

    async def make(*statuses: int) -> Receiver:
        app = web.Application()
        receiver = Receiver(TestServer(app), list(statuses or (200,)))
        app.router.add_post("/hook", receiver.handle)
        await receiver.server.start_server()
        servers.append(receiver.server)
        return receiver

    yield make
    for server in servers:
        await server.close()
