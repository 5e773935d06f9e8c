"""Database.check_writable: the store's readiness (open, room on the disk, the write lock)."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from callwright.errors import StoreError
from tests.callwright.store.conftest import MakeDb, MakeSqliteDb


async def test_an_open_store_is_writable_and_nothing_is_written(make_db: MakeDb) -> None:
    db = await make_db()
    before = await db.fetch_value("SELECT COUNT(*) FROM schema_migrations")
    await db.check_writable()
    await db.check_writable()
    assert await db.fetch_value("SELECT COUNT(*) FROM schema_migrations") == before
    await db.execute("UPDATE schema_migrations SET name = name")  # no transaction left open


async def test_a_closed_store_is_not_writable(make_db: MakeDb) -> None:
    db = await make_db()
    await db.close()
    with pytest.raises(StoreError, match="closed"):
        await db.check_writable()


async def test_a_full_disk_is_not_writable(make_sqlite_db: MakeSqliteDb) -> None:
    db = await make_sqlite_db()
    with pytest.raises(StoreError, match="MiB free on the disk"):
        await db.check_writable(min_free_bytes=2**62)


async def test_a_store_locked_by_another_process_waits_for_the_lock(
    make_sqlite_db: MakeSqliteDb,
) -> None:
    db = await make_sqlite_db()
    other = sqlite3.connect(db.path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        check = asyncio.create_task(db.check_writable())
        await asyncio.sleep(0.3)
        assert not check.done()  # waiting for the lock (up to the busy timeout)
        other.execute("ROLLBACK")
        await asyncio.wait_for(check, 5)
    finally:
        other.close()


async def test_cancelling_the_check_does_not_leave_a_transaction_open(
    make_sqlite_db: MakeSqliteDb,
) -> None:
    db = await make_sqlite_db()
    other = sqlite3.connect(db.path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        check = asyncio.create_task(db.check_writable())
        await asyncio.sleep(0.1)
        check.cancel()
        with pytest.raises(asyncio.CancelledError):
            await check
        other.execute("ROLLBACK")
    finally:
        other.close()
    await asyncio.sleep(0.3)  # the shielded BEGIN … ROLLBACK finishes
    async with db.transaction() as conn:  # would fail inside a transaction left open
        await conn.execute("UPDATE schema_migrations SET name = name")
