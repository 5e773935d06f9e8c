"""The purge and SQLite's full-text index: FTS5 merges the index's segments inside whichever write
fills a level, and a purge's deletes fill levels fast, so before this the merge landed inside a
purge batch and held the one writer (and the live calls behind it) for hundreds of ms at a
million calls (bench.purge, bench.fts_merges). Now a run turns those merges off, merges in small
steps of its own between batches, and puts FTS5's defaults back at the end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest

from callwright.privacy.retention_job import (
    FTS_MERGE_DEFAULTS,
    FTS_MERGES_OFF,
    RetentionJob,
)
from callwright.store.clock import format_iso
from callwright.store.db import Database
from tests.callwright.privacy.conftest import NOW
from tests.callwright.store.conftest import MakeDb, MakeOrg

CALLS = 300
WORDS = "booking invoice refund plumber tomorrow address warranty callback".split()


async def fts_settings(db: Database) -> dict[str, int]:
    rows = await db.fetch_all("SELECT k, v FROM call_turns_fts_config"
                              " WHERE k IN ('automerge', 'crisismerge')")
    return {str(row[0]): int(row[1]) for row in rows}


async def old_calls_with_turns(db: Database, org_id: int) -> None:
    old = format_iso(NOW - timedelta(days=800))
    await db.executemany(
        "INSERT INTO calls (id, uid, org_id, started_at, status) VALUES (?, ?, ?, ?, 'completed')",
        [(i, f"uid-{i}", org_id, old) for i in range(1, CALLS + 1)])
    await db.executemany(
        "INSERT INTO call_turns (call_id, seq, speaker, text, started_at) VALUES (?, ?, ?, ?, ?)",
        [(i, seq, "caller", " ".join(WORDS[(i + k) % len(WORDS)] for k in range(4)), old)
         for i in range(1, CALLS + 1) for seq in (1, 2)])


@pytest.mark.store_engines("sqlite")  # FTS5's own segment merges
async def test_no_purge_batch_merges_the_index_and_the_defaults_come_back(
    make_db: MakeDb, make_org: MakeOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = await make_db()
    org = await make_org(db)
    await old_calls_with_turns(db, org.id)
    assert await fts_settings(db) == {}  # FTS5's built-in defaults
    inside: list[dict[str, int]] = []
    real = db.transaction

    @asynccontextmanager
    async def transaction() -> AsyncIterator[Any]:  # the settings each purge batch runs under
        async with real() as conn:
            async with conn.execute("SELECT k, v FROM call_turns_fts_config"
                                    " WHERE k IN ('automerge', 'crisismerge')") as cur:
                inside.append({str(r[0]): int(r[1]) for r in await cur.fetchall()})
            yield conn

    merges: list[str] = []
    execute = db.execute

    async def counting_execute(sql: str, params: Any = ()) -> int:
        if "'merge'" in sql:
            merges.append(sql)
        return await execute(sql, params)

    monkeypatch.setattr(db, "transaction", transaction)
    monkeypatch.setattr(db, "execute", counting_execute)
    await RetentionJob(db, lambda: NOW, batch_size=10, max_batch_s=None).run_once()

    assert await db.fetch_value("SELECT count(*) FROM call_turns") == 0
    assert len(inside) == CALLS // 10
    assert all(s == FTS_MERGES_OFF for s in inside), inside[:3]
    assert len(merges) == len(inside)  # one merge step after each batch, outside it
    assert await fts_settings(db) == FTS_MERGE_DEFAULTS
    # Merged as it went: a handful of segments left, not one per batch.
    assert await db.fetch_value("SELECT count(*) FROM call_turns_fts_data") < len(inside)
    assert await db.fetch_all(
        "SELECT rowid FROM call_turns_fts WHERE call_turns_fts MATCH 'refund'") == []


@pytest.mark.store_engines("sqlite")
async def test_a_dry_run_leaves_the_index_settings_alone(
    make_db: MakeDb, make_org: MakeOrg
) -> None:
    db = await make_db()
    org = await make_org(db)
    await old_calls_with_turns(db, org.id)
    await RetentionJob(db, lambda: NOW).run_once(dry_run=True)
    assert await fts_settings(db) == {}
    assert await db.fetch_value("SELECT count(*) FROM call_turns") == CALLS * 2
