"""Fixtures for the ARI client tests: real aiohttp servers on 127.0.0.1 and a client session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from .local_server import SERVER, LocalServer

ServerFactory = Callable[..., Awaitable[LocalServer]]


@pytest.fixture
async def make_server() -> AsyncIterator[ServerFactory]:
    """``await make_server(app, port=0, start=True)`` -> a LocalServer, stopped at teardown.

    Handlers find their server as ``request.app[SERVER]``."""
    servers: list[LocalServer] = []

    async def make(app: web.Application, port: int = 0, start: bool = True) -> LocalServer:
        server = LocalServer(app, port)
        app[SERVER] = server
        servers.append(server)
        if start:
            await server.start()
        return server

    yield make
    for server in servers:
        await server.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session
