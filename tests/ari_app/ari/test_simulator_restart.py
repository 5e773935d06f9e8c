"""The event stream and REST client survive a simulated ``core restart now`` of the PBX."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest

from ari_app.ari import events as ev
from ari_app.ari.connection import AriEventStream
from ari_app.ari.rest import AriRestClient
from ari_app.simulator.server import PbxSimulator
from callwright.errors import AriUnavailable

APP = "callwright"


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    async with PbxSimulator(password="sim-secret", seed=1) as simulator:
        yield simulator


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_stream_reconnects_after_restart(sim: PbxSimulator,
                                               session: aiohttp.ClientSession) -> None:
    seen: list[ev.AriEvent] = []
    calls: list[str] = []

    async def on_event(event: ev.AriEvent) -> None:
        seen.append(event)

    async def on_connected(*, reconnect: bool) -> None:
        calls.append(f"connected:{reconnect}")

    async def on_disconnected(reason: str) -> None:
        calls.append("disconnected")

    stream = AriEventStream(session, sim.ari_url, sim.username, sim.password, APP,
                            on_event=on_event, on_connected=on_connected,
                            on_disconnected=on_disconnected, reconnect_initial_s=0.1,
                            reconnect_max_s=0.5, rng=random.Random(3))
    rest = AriRestClient(session, sim.ari_url, sim.username, sim.password)
    await stream.start()
    try:
        call = await sim.place_call(app=APP)
        await wait_until(lambda: any(isinstance(e, ev.StasisStart) for e in seen))
        assert [c.id for c in await rest.list_channels()] != []

        restarting = asyncio.create_task(sim.restart(down_s=2.0))
        await wait_until(lambda: "disconnected" in calls)
        with pytest.raises(AriUnavailable):       # refused, 404 text/html or 503 for ~0.8 s
            await rest.list_channels()
        await restarting
        await wait_until(lambda: calls[-1:] == ["connected:True"])
        assert calls == ["connected:False", "disconnected", "connected:True"]
        assert stream.reconnects == 1 and stream.connected
        ends = [e for e in seen if isinstance(e, ev.StasisEnd)]
        assert [e.channel.id for e in ends] == [call.channel_id]
        assert await rest.list_channels() == []          # nothing survives a restart

        before = len(seen)
        await sim.place_call(app=APP)
        await wait_until(lambda: any(isinstance(e, ev.StasisStart) for e in seen[before:]))
    finally:
        await stream.stop()
