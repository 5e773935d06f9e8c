"""Job locks: one holder at a time across nodes, taken over when the holder goes."""

from __future__ import annotations

import asyncio

import pytest

from callwright.errors import StoreError
from callwright.store.job_leases import JobLeaseRepository
from callwright.store.job_lock import AdvisoryJobLock, LeaseJobLock, advisory_key, job_lock
from tests.callwright.store.conftest import MakeDb


async def test_one_holder_at_a_time_and_release_hands_it_over(make_db: MakeDb) -> None:
    first_node = await make_db("shared.db")
    second_node = await make_db("shared.db")  # another process on the same store
    a = job_lock(first_node, "retention", holder="node-a", lease_s=30)
    b = job_lock(second_node, "retention", holder="node-b", lease_s=30)
    other_job = job_lock(second_node, "campaign-dialler", holder="node-b", lease_s=30)
    try:
        assert isinstance(a, AdvisoryJobLock if first_node.engine == "postgresql"
                          else LeaseJobLock)
        assert await a.acquire() is True
        assert await a.acquire() is True  # still held: renewed / confirmed
        assert await b.acquire() is False
        assert await other_job.acquire() is True  # another job, another lock
        await a.release()
        assert await b.acquire() is True
        assert await a.acquire() is False
        await a.release()  # not held: nothing happens
        assert await b.acquire() is True
    finally:
        for lock in (a, b, other_job):
            await lock.release()


async def test_a_dead_holder_s_lease_is_taken_over_once_expired(make_db: MakeDb) -> None:
    db = await make_db()
    dead = LeaseJobLock(JobLeaseRepository(db), "webhook-deliveries", "node-a", lease_s=0.3)
    alive = LeaseJobLock(JobLeaseRepository(db), "webhook-deliveries", "node-b", lease_s=0.3)
    assert await dead.acquire() is True
    assert await alive.acquire() is False
    await asyncio.sleep(0.4)  # node-a died: it renews no more
    assert await alive.acquire() is True
    assert await dead.acquire() is False


@pytest.mark.store_engines("postgresql")  # the advisory lock is PostgreSQL's
async def test_the_advisory_lock_goes_with_its_holder_s_connection(make_db: MakeDb) -> None:
    db = await make_db()
    holder = job_lock(db, "retention", holder="node-a")
    other = job_lock(db, "retention", holder="node-b")
    assert isinstance(holder, AdvisoryJobLock) and isinstance(other, AdvisoryJobLock)
    try:
        assert await holder.acquire() is True
        assert await other.acquire() is False
        key = advisory_key("retention") & 0xFFFFFFFFFFFFFFFF
        # node-a's connection dies (its process killed, its network gone): the server frees
        # the lock at once, and the next check of another node takes it.
        killed = await db.fetch_value(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_locks"
            " WHERE locktype = 'advisory' AND granted AND objsubid = 1"
            " AND classid = ? AND objid = ?",
            (key >> 32, key & 0xFFFFFFFF),
        )
        assert killed == 1
        for _ in range(50):
            if await other.acquire():
                break
            await asyncio.sleep(0.05)
        assert other.held
        assert await holder.acquire() is False  # it finds out at its next check
    finally:
        await holder.release()
        await other.release()


async def test_an_unreachable_server_is_a_store_error() -> None:
    lock = AdvisoryJobLock("postgresql://nobody@127.0.0.1:1/none", "retention", timeout_s=1)
    with pytest.raises(StoreError, match="cannot reach"):
        await lock.acquire()
    assert not lock.held


def test_keys_are_stable_and_distinct() -> None:
    assert advisory_key("retention") == advisory_key("retention")
    assert advisory_key("retention") != advisory_key("campaign-dialler")
    assert -(2**63) <= advisory_key("x") < 2**63
