"""Factories for simulator tests: a running PbxSimulator and an ARI app played by aiohttp."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from ari_app.simulator.server import PbxSimulator

PASSWORD = "test-secret"


class AppSide:
    """The app's end of ARI: REST calls and the events websocket, recording every event."""

    def __init__(self, sim: PbxSimulator, session: aiohttp.ClientSession, app: str) -> None:
        self.sim = sim
        self.session = session
        self.app = app
        self.events: list[dict[str, Any]] = []
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None

    @property
    def base(self) -> str:
        return self.sim.ari_url + "/ari"

    async def connect(self, **params: str) -> None:
        query = {"app": self.app, "subscribeAll": "false", **params}
        self.ws = await self.session.ws_connect(self.base + "/events", params=query)
        self._reader = asyncio.get_running_loop().create_task(self._read(self.ws))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                event = json.loads(msg.data)
                self.events.append(event)
                self._queue.put_nowait(event)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await self._reader

    async def call(
        self, method: str, path: str, json_body: Any = None, **params: str
    ) -> tuple[int, Any]:
        async with self.session.request(
            method, self.base + path, params=params, json=json_body
        ) as resp:
            text = await resp.text()
            if resp.content_type == "application/json" and text:
                return resp.status, json.loads(text)
            return resp.status, text

    async def next_event(self, kind: str | None = None, wait_s: float = 3.0) -> dict[str, Any]:
        async with asyncio.timeout(wait_s):
            while True:
                event = await self._queue.get()
                if kind is None or event["type"] == kind:
                    return event

    async def settle(self, quiet_s: float = 0.15) -> None:
        """Wait until no event has arrived for ``quiet_s``."""
        while True:
            count = len(self.events)
            await asyncio.sleep(quiet_s)
            if len(self.events) == count:
                return

    def drain(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while not self._queue.empty():
            out.append(self._queue.get_nowait())
        return out


SimFactory = Callable[..., Awaitable[PbxSimulator]]
AppFactory = Callable[..., Awaitable[AppSide]]
PeerFactory = Callable[[], Awaitable[Any]]


@pytest.fixture
async def make_sim() -> AsyncIterator[SimFactory]:
    sims: list[PbxSimulator] = []

    async def make(**kwargs: Any) -> PbxSimulator:
        kwargs.setdefault("password", PASSWORD)
        sim = PbxSimulator(**kwargs)
        await sim.start()
        sims.append(sim)
        return sim

    yield make
    for sim in sims:
        await sim.stop()


@pytest.fixture
async def make_app() -> AsyncIterator[AppFactory]:
    apps: list[AppSide] = []
    sessions: list[aiohttp.ClientSession] = []

    async def make(sim: PbxSimulator, app: str = "callwright", connect: bool = True) -> AppSide:
        auth = aiohttp.encode_basic_auth(sim.username, sim.password)
        session = aiohttp.ClientSession(headers={"Authorization": auth})
        sessions.append(session)
        side = AppSide(sim, session, app)
        apps.append(side)
        if connect:
            await side.connect()
        return side

    yield make
    for side in apps:
        if side.ws is not None and not side.ws.closed:
            await side.close()
    for session in sessions:
        await session.close()


@pytest.fixture
async def make_peer() -> AsyncIterator[Callable[[], Awaitable[Any]]]:
    from tests.ari_app.simulator.media_helpers import RtpPeer

    peers: list[RtpPeer] = []

    async def make() -> RtpPeer:
        peer = await RtpPeer.open()
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        peer.close()
