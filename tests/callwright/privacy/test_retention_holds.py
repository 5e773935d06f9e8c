"""Legal holds, per-assistant overrides, the dry run and batching of the retention job."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest

from callwright.privacy.caller_data import erase_caller
from callwright.privacy.retention_job import (
    CHECKPOINT_EVERY,
    DEFAULT_AUTOCHECKPOINT,
    MIN_BATCH,
    RetentionJob,
)
from callwright.privacy.secrets import MasterKey
from callwright.store.calls import CallRepository
from callwright.store.clock import format_iso
from callwright.store.db import Database
from callwright.store.engine import Connection
from callwright.store.legal_holds import LegalHoldRepository
from callwright.store.retention import RetentionRepository
from tests.callwright.privacy.conftest import NOW, MakeCall
from tests.callwright.store.conftest import MakeAssistant, MakeDb, MakeOrg

HELD_NUMBER = "+15550107777"


def job(db: Database, **kwargs: Any) -> RetentionJob:
    return RetentionJob(db, lambda: NOW, **kwargs)


async def exists(db: Database, call_id: int) -> bool:
    return bool(await db.fetch_value("SELECT count(*) FROM calls WHERE id = ?", (call_id,)))


async def test_a_held_number_and_a_held_call_survive_until_lifted(
    make_db: MakeDb, make_org: MakeOrg, make_call: MakeCall
) -> None:
    db = await make_db()
    org, other = await make_org(db), await make_org(db)
    by_held = await make_call(db, org.id, age_days=800, caller=HELD_NUMBER, recording=True)
    by_held_newer = await make_call(db, org.id, age_days=120, caller=HELD_NUMBER, recording=True)
    same_number_elsewhere = await make_call(db, other.id, age_days=800, caller=HELD_NUMBER)
    held_call = await make_call(db, org.id, age_days=800)
    plain = await make_call(db, org.id, age_days=800)
    holds = LegalHoldRepository(db)
    await holds.hold_number(org.id, HELD_NUMBER, "litigation")
    await holds.hold_call(org.id, held_call.uid, "complaint")

    report = await job(db).run_once()
    counts = report.for_org(org.id)
    assert (counts.calls_deleted, counts.held) == (1, 3)
    assert not await exists(db, plain.id)
    assert not await exists(db, same_number_elsewhere.id)  # the hold is the org's only
    for kept in (by_held, by_held_newer, held_call):
        assert await exists(db, kept.id)
    assert await db.fetch_value("SELECT recording_path FROM calls WHERE id = ?",
                                (by_held_newer.id,)) is not None

    await holds.lift_number(org.id, HELD_NUMBER)
    await holds.lift_call(org.id, held_call.uid)
    again = (await job(db).run_once()).for_org(org.id)
    assert (again.calls_deleted, again.recordings_deleted, again.held) == (2, 2, 0)
    assert not await exists(db, held_call.id) and await exists(db, by_held_newer.id)


async def test_a_number_hold_set_during_the_run_is_respected(
    make_db: MakeDb, make_org: MakeOrg, make_call: MakeCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = await make_db()
    org = await make_org(db)
    call = await make_call(db, org.id, age_days=800, caller=HELD_NUMBER)
    read = db.fetch_all

    async def read_then_hold(sql: str, params: Any = ()) -> Any:
        rows = await read(sql, params)
        if "FROM calls c" in sql:
            await LegalHoldRepository(db).hold_number(org.id, HELD_NUMBER)
        return rows

    monkeypatch.setattr(db, "fetch_all", read_then_hold)
    counts = (await job(db).run_once()).for_org(org.id)
    assert (counts.calls_deleted, counts.held) == (0, 1)
    assert await exists(db, call.id)


async def test_an_assistant_policy_overrides_the_org_for_its_calls_only(
    make_db: MakeDb, make_org: MakeOrg, make_assistant: MakeAssistant, make_call: MakeCall
) -> None:
    db = await make_db()
    org = await make_org(db)
    short = await make_assistant(db, org.id)
    policies = RetentionRepository(db)
    await policies.set(org.id, metadata_days=365, transcript_days=365, recording_days=90)
    await policies.set(org.id, short.id, metadata_days=30, transcript_days=7, recording_days=1)
    own = await make_call(db, org.id, age_days=10, assistant_id=short.id, recording=True)
    own_old = await make_call(db, org.id, age_days=40, assistant_id=short.id)
    org_call = await make_call(db, org.id, age_days=40, recording=True)

    counts = (await job(db).run_once()).for_org(org.id)
    assert (counts.calls_deleted, counts.transcripts_deleted, counts.recordings_deleted) == (
        1, 1, 1)
    assert not await exists(db, own_old.id)
    kept = await db.fetch_one("SELECT recording_path, (SELECT count(*) FROM call_turns"
                              " WHERE call_id = calls.id) AS turns FROM calls WHERE id = ?",
                              (own.id,))
    assert kept is not None and kept["recording_path"] is None and kept["turns"] == 0
    untouched = await db.fetch_one("SELECT recording_path FROM calls WHERE id = ?",
                                   (org_call.id,))
    assert untouched is not None and untouched["recording_path"] is not None


async def test_the_dry_run_counts_exactly_what_the_run_then_deletes(
    make_db: MakeDb, make_org: MakeOrg, make_assistant: MakeAssistant, make_call: MakeCall
) -> None:
    db = await make_db()
    org, other = await make_org(db), await make_org(db)
    assistant = await make_assistant(db, org.id)
    await RetentionRepository(db).set(org.id, metadata_days=365, transcript_days=180,
                                      recording_days=30)
    await RetentionRepository(db).set(org.id, assistant.id, metadata_days=100,
                                      transcript_days=50, recording_days=5)
    for age in (2, 10, 40, 60, 120, 200, 400, 700):
        await make_call(db, org.id, age_days=age, recording=True, notes=["n"])
        await make_call(db, org.id, age_days=age, assistant_id=assistant.id, recording=age > 8,
                        turns=("a", "b", "c"))
        await make_call(db, other.id, age_days=age, turns=())
    await make_call(db, None, age_days=500)  # a call to an unknown number
    await make_call(db, org.id, age_days=900, caller=HELD_NUMBER)
    await LegalHoldRepository(db).hold_number(org.id, HELD_NUMBER)
    snapshot = await db.fetch_all("SELECT * FROM calls ORDER BY id")
    turns = await db.fetch_value("SELECT count(*) FROM call_turns")

    dry = await job(db).run_once(dry_run=True)
    assert [tuple(r) for r in await db.fetch_all("SELECT * FROM calls ORDER BY id")] == [
        tuple(r) for r in snapshot]
    assert await db.fetch_value("SELECT count(*) FROM call_turns") == turns
    assert await db.fetch_value("SELECT count(*) FROM audit_log") == 0
    real = await job(db).run_once()

    assert dry.for_org(org.id).calls_deleted == 6  # 400, 700; the assistant's from 120 days
    assert dry.for_org(org.id).oldest_call == format_iso(NOW - timedelta(days=700))
    assert dry.for_org(org.id).held == 1
    for org_id in (org.id, other.id, None):
        assert dataclasses.asdict(dry.for_org(org_id)) == dataclasses.asdict(
            real.for_org(org_id)), org_id


async def test_the_purge_lets_another_writer_in_between_its_batches(
    make_db: MakeDb, make_org: MakeOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = await make_db()
    org = await make_org(db)
    old = format_iso(NOW - timedelta(days=800))
    await db.executemany(
        "INSERT INTO calls (uid, org_id, started_at, status) VALUES (?, ?, ?, 'completed')",
        [(f"uid-{i}", org.id, old) for i in range(1000)],
    )
    events: list[str] = []
    opened = db.transaction

    @asynccontextmanager
    async def logged() -> AsyncIterator[Connection]:
        async with opened() as conn:
            yield conn
        events.append("purge")

    monkeypatch.setattr(db, "transaction", logged)
    done = asyncio.Event()

    async def live_call() -> None:  # a call writing as fast as the writer lets it
        seq = 0
        while not done.is_set():
            await db.execute("INSERT INTO audit_log (org_id, actor, action, target, detail, at)"
                             " VALUES (?, 'test', 'live', ?, '{}', ?)", (org.id, str(seq), old))
            events.append("live")
            seq += 1
            await asyncio.sleep(0)

    writer = asyncio.create_task(live_call())
    await asyncio.sleep(0.01)
    report = await job(db, batch_size=100, max_batch_s=None).run_once()
    done.set()
    await writer

    assert report.for_org(org.id).calls_deleted == 1000
    purges = [i for i, e in enumerate(events) if e == "purge"]
    assert len(purges) == 10
    for before, after in zip(purges, purges[1:], strict=False):
        assert "live" in events[before + 1:after], f"no live write between batches: {events}"


def test_batches_are_sized_towards_the_transaction_target() -> None:
    sized = RetentionJob(None, lambda: NOW, batch_size=500, max_batch_s=0.02)  # type: ignore[arg-type]
    assert sized.next_limit(500, 0.1) == 300  # 5 times too slow: halfway to 100
    assert sized.next_limit(300, 0.001) == 500  # fast: back up, never above batch_size
    assert sized.next_limit(20, 5.0) == MIN_BATCH
    assert sized.next_limit(200, 0.02) == 200
    fixed = RetentionJob(None, lambda: NOW, batch_size=500, max_batch_s=None)  # type: ignore[arg-type]
    assert fixed.next_limit(10, 5.0) == 500
    with pytest.raises(ValueError):
        RetentionJob(None, max_batch_s=0)  # type: ignore[arg-type]


async def test_slow_batches_shrink_so_the_writer_is_held_briefly(
    make_db: MakeDb, make_org: MakeOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = await make_db()
    org = await make_org(db)
    old = format_iso(NOW - timedelta(days=800))
    await db.executemany(
        "INSERT INTO calls (uid, org_id, started_at, status) VALUES (?, ?, ?, 'completed')",
        [(f"uid-{i}", org.id, old) for i in range(600)],
    )
    sizes: list[int] = []
    opened = db.transaction

    @asynccontextmanager
    async def sized() -> AsyncIterator[Connection]:
        async with opened() as conn:
            before = await db.fetch_value("SELECT count(*) FROM calls")
            yield conn
        sizes.append(int(before) - int(await db.fetch_value("SELECT count(*) FROM calls")))

    monkeypatch.setattr(db, "transaction", sized)
    real_apply = RetentionJob._apply

    async def timed_apply(self: RetentionJob, *args: Any) -> None:  # 1 ms a call: a slow disk
        await real_apply(self, *args)
        await asyncio.sleep(len(args[0].delete_calls) / 1000)

    monkeypatch.setattr(RetentionJob, "_apply", timed_apply)
    report = await job(db, batch_size=200, max_batch_s=0.02).run_once()
    assert report.for_org(org.id).calls_deleted == 600
    assert sizes[0] == 200 and max(sizes[1:]) <= 110, sizes  # halfway to 20 calls, then on
    assert min(sizes[:-1]) >= MIN_BATCH and max(sizes[-3:-1]) <= 30, sizes


async def test_an_erasure_leaves_the_calls_of_a_held_number(
    make_db: MakeDb, make_org: MakeOrg, make_call: MakeCall
) -> None:
    db = await make_db()
    org = await make_org(db)
    first = await make_call(db, org.id, age_days=9, caller=HELD_NUMBER, recording=True)
    second = await make_call(db, org.id, age_days=1, caller=HELD_NUMBER)
    await LegalHoldRepository(db).hold_number(org.id, HELD_NUMBER, "litigation")

    report = await erase_caller(db, org.id, HELD_NUMBER, MasterKey.generate())

    assert sorted(report.held_calls) == sorted([first.uid, second.uid])
    assert report.calls_anonymised == 0
    for call in (first, second):
        kept = await CallRepository(db).get(call.id)
        assert kept.caller_number == HELD_NUMBER and len(await CallRepository(db).turns(call.id))


@pytest.mark.store_engines("sqlite")  # SQLite's WAL checkpoints
async def test_the_purge_checkpoints_off_the_writer_and_restores_it(
    make_db: MakeDb, make_org: MakeOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = await make_db()
    org = await make_org(db)
    old = format_iso(NOW - timedelta(days=800))
    await db.executemany(
        "INSERT INTO calls (uid, org_id, started_at, status) VALUES (?, ?, ?, 'completed')",
        [(f"uid-{i}", org.id, old) for i in range(CHECKPOINT_EVERY * 2 * 10 + 5)],
    )
    seen: list[int] = []
    real = db.checkpoint

    async def checkpoint() -> None:  # what the writer's own setting is at each checkpoint
        async with db.transaction() as conn:
            async with conn.execute("PRAGMA wal_autocheckpoint") as cur:
                row = await cur.fetchone()
        seen.append(int(row[0]) if row else -1)
        await real()

    monkeypatch.setattr(db, "checkpoint", checkpoint)
    await job(db, batch_size=10, max_batch_s=None).run_once()
    assert seen == [0, 0, DEFAULT_AUTOCHECKPOINT]  # every 20 batches, then once restored
    assert await db.fetch_value("SELECT count(*) FROM calls") == 0
    await job(db).run_once(dry_run=True)
    assert len(seen) == 3  # a dry run writes nothing, so never checkpoints
