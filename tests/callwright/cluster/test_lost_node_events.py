"""The ``call.ended`` of a call the lost-node sweep closed (callwright.cluster.heartbeat): queued
in the store's outbox once its wait is over, with ``failed``/``node_lost``; not when the node came
back and reopened the call in the meantime (its real end sends it then)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from callwright.cluster.heartbeat import LostNodeSweep, NodeHeartbeat
from callwright.store.calls import Call, CallOrigin, CallRepository
from callwright.store.nodes import NodeRepository
from tests.callwright.store.conftest import MakeDb
from tests.callwright.webhooks.outbox import Outbox, open_outbox


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class Monotonic:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def a_lost_nodes_call(box: Outbox) -> Call:
    """A call of node-b (written as node-b's call path does), then node-b goes silent."""
    beat = NodeHeartbeat(NodeRepository(box.db), "node-b", ["pbx-2"], beat_s=0.05)
    await beat.start()
    calls = CallRepository(box.db, origin=CallOrigin("node-b", "pbx-2"))
    call = await calls.create_call(box.org.id, box.assistant.id, None, "100", "+4930111222",
                                   "Ada", "ch-b")
    await beat.stop(mark_stopped=False)
    await asyncio.sleep(0.35)  # longer than the sweep's lost_after_s
    return call


async def call_ended_bodies(box: Outbox) -> list[dict[str, object]]:
    return [json.loads(d.body) for d in await box.deliveries.list(box.org.id)
            if d.event == "call.ended"]


async def test_a_call_closed_node_lost_sends_call_ended_after_its_wait(
    make_db: MakeDb, http: aiohttp.ClientSession
) -> None:
    box = await open_outbox(await make_db(), http)
    await box.endpoint("http://127.0.0.1:9/hook")
    call = await a_lost_nodes_call(box)
    clock = Monotonic()
    sweep = LostNodeSweep(box.db, lost_after_s=0.3, call_ended=box.post_call.call_ended,
                          ended_after_s=30.0, clock=clock)
    assert await sweep.sweep_once() == {"node-b": 1}
    assert sweep.ending == [call.id] and await call_ended_bodies(box) == []  # waits first
    clock.t += 29.0
    assert await sweep.send_due() == []
    clock.t += 1.0
    assert await sweep.sweep_once() == {}
    assert sweep.ending == []
    [ended] = await call_ended_bodies(box)
    data = ended["data"]
    assert isinstance(data, dict)
    row = data["call"]
    assert (row["uid"], row["status"], row["end_reason"]) == (call.uid, "failed", "node_lost")
    clock.t += 60.0
    assert await sweep.send_due() == [] and len(await call_ended_bodies(box)) == 1


async def test_no_call_ended_when_the_node_came_back_and_reopened_the_call(
    make_db: MakeDb, http: aiohttp.ClientSession
) -> None:
    box = await open_outbox(await make_db(), http)
    await box.endpoint("http://127.0.0.1:9/hook")
    call = await a_lost_nodes_call(box)
    clock = Monotonic()
    sweep = LostNodeSweep(box.db, lost_after_s=0.3, call_ended=box.post_call.call_ended,
                          ended_after_s=30.0, clock=clock)
    assert await sweep.sweep_once() == {"node-b": 1}
    back = CallRepository(box.db, origin=CallOrigin("node-b", "pbx-2"))
    assert await back.reopen_call(call.id)  # node-b's recovery found its caller still there
    clock.t += 30.0
    assert await sweep.send_due() == []
    assert sweep.ending == [] and await call_ended_bodies(box) == []


async def test_without_post_call_events_nothing_waits(make_db: MakeDb,
                                                      http: aiohttp.ClientSession) -> None:
    box = await open_outbox(await make_db(), http)
    await a_lost_nodes_call(box)
    sweep = LostNodeSweep(box.db, lost_after_s=0.3)
    assert await sweep.sweep_once() == {"node-b": 1}
    assert sweep.ending == []
