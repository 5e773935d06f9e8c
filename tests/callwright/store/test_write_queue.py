"""The call path's writes while the store is locked (issue 11, item 4): queued in order, tried
again until the lock goes, never lost, and never waited for by the call."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from callwright.call.journal import CallJournal, TurnRecord
from callwright.errors import StoreError
from callwright.store.calls import CallRepository
from callwright.store.clock import ms_between
from callwright.store.db import Database
from callwright.store.queued_calls import QueuedCallRepository
from callwright.store.turns import NewTurn
from callwright.store.write_queue import WriteQueue, is_busy
from tests.callwright.store.conftest import MakeDb, MakeSqliteDb
from tests.fakes.store_lock import LONGER_THAN_BUSY_TIMEOUT_S, hold_write_lock
from tests.pg_server import PgServer

Locker = Callable[[Path, float], Awaitable[asyncio.Task[None]]]
HOLD_S = LONGER_THAN_BUSY_TIMEOUT_S


@pytest.fixture
async def locked() -> AsyncIterator[Locker]:
    """``release = await locked(db_path, seconds)``: the store's write lock held by another
    connection for ``seconds`` (awaited at the end of the test if the test did not)."""
    tasks: list[asyncio.Task[None]] = []

    async def lock(path: Path, seconds: float) -> asyncio.Task[None]:
        tasks.append(await hold_write_lock(path, seconds))
        return tasks[-1]

    yield lock
    await asyncio.gather(*tasks)


def turn(text: str) -> TurnRecord:
    return TurnRecord("caller", text, "2025-01-01T00:00:00.000Z", "2025-01-01T00:00:01.000Z")


@pytest.mark.slow
async def test_a_call_writes_through_a_lock_longer_than_the_busy_timeout(
    make_sqlite_db: MakeSqliteDb, locked: Locker
) -> None:
    db = await make_sqlite_db()
    queue = WriteQueue()
    calls = QueuedCallRepository(db, queue)
    call = await calls.create_call(None, None, None, "100", "5551234", "", "chan-1")
    journal = CallJournal(calls, call.id, queue=queue)

    release = await locked(db.path, HOLD_S)
    t0 = time.monotonic()
    for i in range(3):
        await journal.turn(turn(f"turn {i + 1}"))
        await journal.event("note", i=i)
    assert time.monotonic() - t0 < 0.05  # the call does not wait for the store
    ended = asyncio.ensure_future(calls.close_call(call.id, "completed", "caller_hangup"))
    second = asyncio.ensure_future(
        calls.create_call(None, None, None, "100", "5559999", "", "chan-2")
    )
    await asyncio.sleep(HOLD_S - 1.0)
    assert not ended.done() and queue.depth == 8  # still held: nothing written, nothing lost
    await release
    assert await asyncio.wait_for(ended, 5)
    later = await asyncio.wait_for(second, 5)
    assert time.monotonic() - t0 >= HOLD_S - 0.1

    row = await CallRepository(db).get(call.id)
    assert row.status == "completed" and row.end_reason == "caller_hangup"
    assert [t.text for t in await calls.turns(call.id)] == ["turn 1", "turn 2", "turn 3"]
    assert [(e.kind, e.detail) for e in await calls.events(call.id)] == [
        ("note", {"i": 0}), ("note", {"i": 1}), ("note", {"i": 2})
    ]
    # The end is when the call ended, not when the lock let it through.
    assert row.duration_ms is not None and row.duration_ms < 1000
    # The call that came during the lock has its row, started when it came.
    assert ms_between(row.started_at, later.started_at) < 1000
    assert (await CallRepository(db).get(later.id)).status == "in_progress"
    assert journal.failed_writes == 0 and queue.failed == 0 and queue.busy_retries >= 1


async def test_a_write_that_fails_for_another_reason_fails_alone(make_db: MakeDb) -> None:
    db = await make_db()
    queue = WriteQueue()
    calls = QueuedCallRepository(db, queue)
    call = await calls.create_call(None, None, None, "100", "5551234", "", "chan-1")
    journal = CallJournal(calls, call.id, queue=queue)
    await journal.turn(turn("first"))
    # Another turn with seq 1 breaks the (call, seq) uniqueness: that write fails for good.
    duplicate = queue.submit("duplicate", lambda: CallRepository(db).add_turn(
        call.id, NewTurn(1, "caller", "again", "2025-01-01T00:00:00.000Z")))
    await journal.turn(turn("second"))
    assert await queue.flush(5)
    with pytest.raises(StoreError, match="(?i)unique"):
        await duplicate
    assert [t.text for t in await calls.turns(call.id)] == ["first", "second"]
    assert queue.failed == 1 and queue.busy_retries == 0 and journal.failed_writes == 0


async def test_close_gives_up_on_what_the_lock_still_holds(
    make_sqlite_db: MakeSqliteDb, locked: Locker
) -> None:
    db = await make_sqlite_db()
    queue = WriteQueue()
    calls = QueuedCallRepository(db, queue)
    call = await calls.create_call(None, None, None, "100", "5551234", "", "chan-1")
    release = await locked(db.path, 1.5)
    pending = queue.submit("event", lambda: CallRepository(db).add_event(call.id, "late"))
    assert await queue.close(0.3) == 1
    with pytest.raises(StoreError, match="not written"):
        await pending
    with pytest.raises(StoreError, match="closed"):
        queue.submit("after close", lambda: CallRepository(db).add_event(call.id, "never"))
    await release


async def test_busy_and_locked_are_told_from_other_errors(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    first = sqlite3.connect(path, isolation_level=None, timeout=0)
    second = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        first.execute("CREATE TABLE t (x UNIQUE)")
        first.execute("BEGIN EXCLUSIVE")
        with pytest.raises(sqlite3.OperationalError) as busy:
            second.execute("INSERT INTO t VALUES (1)")
        first.execute("ROLLBACK")
        first.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(sqlite3.IntegrityError) as unique:
            first.execute("INSERT INTO t VALUES (1)")
    finally:
        first.close()
        second.close()
    wrapped = StoreError("database is locked in: INSERT ...")
    wrapped.__cause__ = busy.value
    assert is_busy(busy.value) and is_busy(wrapped)
    assert not is_busy(unique.value) and not is_busy(StoreError("database is closed"))
    assert not is_busy(ValueError("locked"))


async def test_an_awaited_write_is_not_lost_when_its_waiter_is_cancelled(
    make_sqlite_db: MakeSqliteDb, locked: Locker
) -> None:
    db = await make_sqlite_db()
    queue = WriteQueue()
    calls = QueuedCallRepository(db, queue)
    call = await calls.create_call(None, None, None, "100", "5551234", "", "chan-1")
    release = await locked(db.path, 1.0)
    waiter = asyncio.ensure_future(calls.close_call(call.id, "failed", "server_shutdown"))
    await asyncio.sleep(0.2)
    waiter.cancel()
    await release
    assert await queue.flush(5)
    assert (await CallRepository(db).get(call.id)).status == "failed"


@pytest.mark.store_engines("postgresql")  # a lost server connection: PostgreSQL's "busy"
async def test_a_write_cut_by_a_lost_connection_is_tried_again(make_db: MakeDb) -> None:
    db = await make_db()
    queue = WriteQueue(retry_s=0.05)
    calls = QueuedCallRepository(db, queue)
    call = await calls.create_call(None, None, None, "100", "5551234", "", "chan-1")
    other = await make_db("watcher")  # another database: its own connections stay up
    name = await db.fetch_value("SELECT current_database()")
    killed = await other.fetch_value(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = ?",
        (name,),
    )
    assert killed >= 1  # every connection of the call's store is gone (a server restart)
    ended = asyncio.ensure_future(calls.close_call(call.id, "completed", "caller_hangup"))
    assert await asyncio.wait_for(ended, 10)
    assert (await CallRepository(db).get(call.id)).status == "completed"
    assert queue.failed == 0


@pytest.mark.store_engines("postgresql")
async def test_a_write_refused_a_connection_waits_for_one(
    make_db: MakeDb, postgres_server: PgServer
) -> None:
    admin = await make_db()  # as the cluster's superuser
    await admin.execute("CREATE ROLE cw_queue LOGIN")
    await admin.execute("CREATE DATABASE cw_queue OWNER cw_queue")
    db = await Database.open(f"postgresql://cw_queue@127.0.0.1:{postgres_server.port}/cw_queue")
    try:
        queue = WriteQueue(retry_s=0.05, max_retry_s=0.1)
        calls = QueuedCallRepository(db, queue)
        call = await calls.create_call(None, None, None, "100", "5551234", "", "chan-1")
        # The server takes no more connections for the role, and drops the ones it has.
        await admin.execute("ALTER ROLE cw_queue CONNECTION LIMIT 0")
        await admin.fetch_value("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                                " WHERE usename = 'cw_queue'")
        ended = asyncio.ensure_future(calls.close_call(call.id, "completed", "caller_hangup"))
        await asyncio.sleep(0.5)
        assert not ended.done() and queue.busy_retries >= 1  # refused: tried again, not lost
        await admin.execute("ALTER ROLE cw_queue CONNECTION LIMIT -1")
        assert await asyncio.wait_for(ended, 10)
        assert (await CallRepository(db).get(call.id)).status == "completed"
        assert queue.failed == 0
        await queue.close(1)
    finally:
        await db.close()
        await admin.execute("DROP DATABASE IF EXISTS cw_queue WITH (FORCE)")
        await admin.execute("DROP ROLE IF EXISTS cw_queue")
