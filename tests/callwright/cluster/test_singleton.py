"""Jobs that run on one node at a time, and the lost-node sweep (issue 13), on one store shared
by two 'nodes' (two Database objects on one SQLite file, as two processes would have)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

from callwright.cluster.heartbeat import LostNodeSweep, NodeHeartbeat
from callwright.cluster.singleton import SingletonJob
from callwright.errors import StoreError
from callwright.store.calls import CallOrigin, CallRepository
from callwright.store.job_leases import JobLeaseRepository
from callwright.store.job_lock import LeaseJobLock
from callwright.store.nodes import NodeRepository
from tests.callwright.store.conftest import MakeDb


def counting_body(runs: list[str], node: str) -> Callable[[], Coroutine[Any, Any, None]]:
    async def body() -> None:
        while True:
            runs.append(node)
            await asyncio.sleep(0.02)
    return body


async def wait_for(check: Callable[[], bool], within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


async def test_one_node_runs_the_job_and_another_takes_over_when_it_dies(
    make_db: MakeDb
) -> None:
    db_a, db_b = await make_db("shared.db"), await make_db("shared.db")
    runs: list[str] = []
    job_a = SingletonJob("retention", LeaseJobLock(JobLeaseRepository(db_a), "retention", "a",
                                                lease_s=0.6), counting_body(runs, "a"),
                         check_s=0.1)
    job_b = SingletonJob("retention", LeaseJobLock(JobLeaseRepository(db_b), "retention", "b",
                                                lease_s=0.6), counting_body(runs, "b"),
                         check_s=0.1)
    job_a.start()
    await wait_for(lambda: job_a.running)
    job_b.start()
    await asyncio.sleep(0.4)  # several checks of b: the lease is a's
    assert job_a.running and not job_b.running and set(runs) == {"a"}
    # a dies: its process is gone, so no release and no renewal.
    await job_a.stop(release=False)
    died = len(runs)
    await wait_for(lambda: job_b.running, within_s=3.0)
    assert set(runs[died:]) == {"b"} and job_b.taken == 1
    await job_b.stop()
    assert await JobLeaseRepository(db_a).holder("retention") is None


async def test_a_clean_stop_hands_the_job_over_at_the_next_check(make_db: MakeDb) -> None:
    db_a, db_b = await make_db("shared.db"), await make_db("shared.db")
    runs: list[str] = []
    job_a = SingletonJob("webhooks", LeaseJobLock(JobLeaseRepository(db_a), "webhooks", "a"),
                         counting_body(runs, "a"), check_s=0.05)
    job_b = SingletonJob("webhooks", LeaseJobLock(JobLeaseRepository(db_b), "webhooks", "b"),
                         counting_body(runs, "b"), check_s=0.05)
    assert await job_a.check() and not await job_b.check()
    await job_a.stop()  # released: b need not wait for the 15 s lease to expire
    assert await job_b.check() and job_b.running
    await job_b.stop()


class FailingLock:
    def __init__(self) -> None:
        self.fail = False

    async def acquire(self) -> bool:
        if self.fail:
            raise StoreError("database is locked")
        return True

    async def release(self) -> None:
        raise StoreError("database is locked")


async def test_a_lock_that_cannot_be_checked_stops_the_job_here(make_db: MakeDb) -> None:
    lock = FailingLock()
    job = SingletonJob("retention", lock, counting_body([], "a"), check_s=0.05)
    assert await job.check() and job.running
    lock.fail = True
    assert not await job.check() and not job.running
    await job.stop()  # the release failing is logged, not raised


async def test_a_failed_body_runs_again_while_the_lock_is_held() -> None:
    lock = FailingLock()
    starts: list[int] = []

    async def body() -> None:
        starts.append(1)
        raise RuntimeError("boom")

    job = SingletonJob("retention", lock, body, check_s=0.05)
    await job.check()
    await asyncio.sleep(0.01)
    await job.check()  # the failure logged, the body started again
    await asyncio.sleep(0.01)
    assert len(starts) == 2 and job.taken == 2
    lock.release = _nothing  # type: ignore[method-assign]
    await job.stop()


async def _nothing() -> None:
    return None


async def test_the_sweep_closes_a_silent_nodes_calls_only(make_db: MakeDb) -> None:
    db = await make_db()
    nodes = NodeRepository(db)
    alive = NodeHeartbeat(nodes, "node-a", ["pbx-1"], beat_s=0.05)
    dead = NodeHeartbeat(nodes, "node-b", ["pbx-2"], beat_s=0.05)
    await alive.start()
    await dead.start()
    a = CallRepository(db, origin=CallOrigin("node-a", "pbx-1"))
    b = CallRepository(db, origin=CallOrigin("node-b", "pbx-2"))
    call_a = await a.create_call(None, None, None, "100", "", "", "ch-a")
    call_b = await b.create_call(None, None, None, "100", "", "", "ch-b")
    await dead.stop(mark_stopped=False)  # node-b dies: no more beats, no clean stop
    sweep = LostNodeSweep(db, lost_after_s=0.3)
    assert await sweep.sweep_once() == {}
    await asyncio.sleep(0.5)
    assert await sweep.sweep_once() == {"node-b": 1}
    closed = await b.get(call_b.id)
    assert (closed.status, closed.end_reason) == ("failed", "node_lost")
    assert [e.kind for e in await b.events(call_b.id)] == ["node_lost"]
    assert (await a.get(call_a.id)).status == "in_progress"
    assert await sweep.sweep_once() == {}
    await alive.stop()
    listed = {n.node_id: n for n in await nodes.list_nodes()}
    assert listed["node-a"].stopped_at is not None and listed["node-b"].stopped_at is None


async def test_stopping_twice_touches_the_store_once(make_db: MakeDb) -> None:
    db = await make_db()
    job = SingletonJob("retention", LeaseJobLock(JobLeaseRepository(db), "retention", "a"),
                       counting_body([], "a"), check_s=0.05)
    beat = NodeHeartbeat(NodeRepository(db), "a", ["pbx"], beat_s=0.05)
    job.start()
    await beat.start()
    await wait_for(lambda: job.running)
    await job.stop()
    await beat.stop()
    await db.close()  # a second stop (the service stopped twice) needs no store
    await job.stop()
    await beat.stop()
    assert not job.running
