from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from callwright.privacy.recording_crypto import SUFFIX
from callwright.privacy.retention_job import RetentionJob
from callwright.privacy.secrets import MasterKey
from callwright.store.call_search import transcript_search
from callwright.store.calls import Call, CallRepository
from callwright.store.clock import format_iso
from callwright.store.db import Database
from callwright.store.engine import Connection
from callwright.store.retention import RetentionRepository
from tests.callwright.privacy.conftest import NOW, MakeCall
from tests.callwright.store.conftest import MakeAssistant, MakeDb, MakeOrg


def on_disk(path: str | Path | None) -> bool:
    return path is not None and Path(path).exists()


def job(db: Database, **kwargs: Any) -> RetentionJob:
    return RetentionJob(db, lambda: NOW, **kwargs)


async def count(db: Database, sql: str, *params: Any) -> int:
    return int(await db.fetch_value(sql, params))


async def audit_rows(db: Database, action: str = "retention.run") -> list[dict[str, Any]]:
    rows = await db.fetch_all(
        "SELECT org_id, actor, target, detail FROM audit_log WHERE action = ? ORDER BY id",
        (action,),
    )
    return [{**dict(row), "detail": json.loads(row["detail"])} for row in rows]


async def test_each_kind_of_data_expires_on_its_own_clock(
    make_db: MakeDb, make_org: MakeOrg, make_call: MakeCall
) -> None:
    db = await make_db()
    org = await make_org(db)
    await RetentionRepository(db).set(org.id, metadata_days=365, transcript_days=180,
                                      recording_days=30)
    fresh = await make_call(db, org.id, age_days=10, recording=True)
    month = await make_call(db, org.id, age_days=40, recording=True)
    half = await make_call(db, org.id, age_days=200, recording=True, slots={"name": "Pat"})
    old = await make_call(db, org.id, age_days=400, recording=True, notes=["called back"])
    held_old = await make_call(db, org.id, age_days=400, recording=True, legal_hold=True,
                               notes=["dispute"])
    held_month = await make_call(db, org.id, age_days=40, recording=True, legal_hold=True)

    report = await job(db).run_once()

    repo = CallRepository(db)
    for untouched in (fresh, held_old, held_month):
        again = await repo.get(untouched.id)
        assert on_disk(again.recording_path)
        assert len(await repo.turns(untouched.id)) == 2
    assert await count(db, "SELECT count(*) FROM call_notes WHERE call_id = ?", held_old.id) == 1

    after_month = await repo.get(month.id)
    assert after_month.recording_path is None and after_month.recording_key_id is None
    assert month.recording_path is not None and not on_disk(month.recording_path)
    assert len(await repo.turns(month.id)) == 2

    after_half = await repo.get(half.id)
    assert after_half.recording_path is None and after_half.slots == {}
    assert await repo.turns(half.id) == []
    assert len(await repo.events(half.id)) >= 1  # the timeline is metadata: kept

    assert await count(db, "SELECT count(*) FROM calls WHERE id = ?", old.id) == 0
    for table in ("call_turns", "call_events", "call_notes"):
        assert await count(db, f"SELECT count(*) FROM {table} WHERE call_id = ?", old.id) == 0
    assert old.recording_path is not None and not on_disk(old.recording_path)
    # the full-text index no longer finds the deleted turns
    matching, query = transcript_search(db.engine, "hello")
    assert await count(db, f"SELECT count(*) FROM ({matching}) AS hits",
                       *query) == 4  # fresh, month and the two held

    counts = report.for_org(org.id)
    assert (counts.calls_deleted, counts.transcripts_deleted, counts.recordings_deleted,
            counts.turns_deleted, counts.held) == (1, 1, 3, 4, 2)

    entries = await audit_rows(db)
    assert len(entries) == 1
    entry = entries[0]
    assert entry["org_id"] == org.id and entry["actor"] == "system"
    assert entry["detail"]["calls_deleted"] == 1 and entry["detail"]["held"] == 2
    assert entry["detail"]["policy"]["org_default"] == [365, 180, 30]

    second = await job(db).run_once()
    assert second.for_org(org.id).calls_deleted == 0
    assert second.for_org(org.id).recordings_deleted == 0
    assert len(await audit_rows(db)) == 2, "every run writes one entry per org"


async def test_an_assistant_policy_overrides_the_orgs(
    make_db: MakeDb, make_org: MakeOrg, make_assistant: MakeAssistant, make_call: MakeCall
) -> None:
    db = await make_db()
    org = await make_org(db)
    brief, other = await make_assistant(db, org.id), await make_assistant(db, org.id)
    retention = RetentionRepository(db)
    await retention.set(org.id, metadata_days=365, transcript_days=365, recording_days=90)
    await retention.set(org.id, brief.id, metadata_days=20, transcript_days=10,
                        recording_days=5)
    short_lived = await make_call(db, org.id, age_days=25, assistant_id=brief.id)
    transcript_only = await make_call(db, org.id, age_days=15, assistant_id=brief.id)
    kept = await make_call(db, org.id, age_days=25, assistant_id=other.id, recording=True)
    no_assistant = await make_call(db, org.id, age_days=25)

    report = await job(db).run_once()

    ids = {int(r[0]) for r in await db.fetch_all("SELECT id FROM calls")}
    assert short_lived.id not in ids
    assert {transcript_only.id, kept.id, no_assistant.id} <= ids
    repo = CallRepository(db)
    assert await repo.turns(transcript_only.id) == []
    assert len(await repo.turns(kept.id)) == 2
    assert (await repo.get(kept.id)).recording_path is not None
    assert report.for_org(org.id).calls_deleted == 1


async def test_orgs_are_swept_separately_and_each_is_audited(
    make_db: MakeDb, make_org: MakeOrg, make_call: MakeCall
) -> None:
    db = await make_db()
    strict, lax, idle = await make_org(db), await make_org(db), await make_org(db)
    retention = RetentionRepository(db)
    await retention.set(strict.id, metadata_days=30, transcript_days=30, recording_days=30)
    await retention.set(lax.id, metadata_days=3000, transcript_days=3000, recording_days=3000)
    strict_call = await make_call(db, strict.id, age_days=100)
    lax_call = await make_call(db, lax.id, age_days=100, recording=True)
    orphan = await make_call(db, None, age_days=400)  # unknown number: built-in defaults
    recent_orphan = await make_call(db, None, age_days=5)

    report = await job(db).run_once()

    ids = {int(r[0]) for r in await db.fetch_all("SELECT id FROM calls")}
    assert ids == {lax_call.id, recent_orphan.id}
    assert strict_call.id not in ids and orphan.id not in ids
    entries = await audit_rows(db)
    assert [e["org_id"] for e in entries] == [strict.id, lax.id, idle.id, None]
    assert [e["detail"]["calls_deleted"] for e in entries] == [1, 0, 0, 1]
    assert report.for_org(None).calls_deleted == 1


async def test_encrypted_recordings_and_their_leftovers_are_removed(
    make_db: MakeDb, make_org: MakeOrg, make_call: MakeCall
) -> None:
    db = await make_db()
    org = await make_org(db)
    key = MasterKey.generate()
    call = await make_call(db, org.id, age_days=100, recording=True, encrypt_with=key)
    assert call.recording_path is not None and call.recording_path.endswith(SUFFIX)
    sealed = Path(call.recording_path)
    leftover = sealed.with_name(sealed.name[: -len(SUFFIX)])  # an interrupted encryption's WAV
    leftover.write_bytes(b"RIFF plaintext")

    report = await job(db).run_once()

    assert not on_disk(sealed) and not on_disk(leftover)
    assert report.for_org(org.id).recordings_deleted == 1
    assert (await CallRepository(db).get(call.id)).recording_key_id is None


async def test_missing_and_undeletable_files(
    make_db: MakeDb, make_org: MakeOrg, make_call: MakeCall, tmp_path: Path
) -> None:
    db = await make_db()
    org = await make_org(db)
    await RetentionRepository(db).set(org.id, metadata_days=60, transcript_days=60,
                                      recording_days=30)
    missing = await make_call(db, org.id, age_days=40, recording=True)
    assert missing.recording_path is not None
    await asyncio.to_thread(Path(missing.recording_path).unlink)
    stuck = await make_call(db, org.id, age_days=100)
    blocker = tmp_path / "not-a-file.wav"
    blocker.mkdir()
    (blocker / "inside").write_text("x")
    await CallRepository(db).set_recording(stuck.id, str(blocker), None)

    report = await job(db).run_once()
    counts = report.for_org(org.id)
    assert (counts.files_missing, counts.files_failed, counts.calls_deleted) == (1, 1, 0)
    assert (await CallRepository(db).get(missing.id)).recording_path is None
    stuck_now = await CallRepository(db).get(stuck.id)  # kept, with its reference, for a retry
    assert stuck_now.recording_path == str(blocker)

    (blocker / "inside").unlink()
    blocker.rmdir()
    retry = await job(db).run_once()
    assert retry.for_org(org.id).calls_deleted == 1


async def test_a_legal_hold_set_during_the_run_is_respected(
    make_db: MakeDb, make_org: MakeOrg, make_call: MakeCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = await make_db()
    org = await make_org(db)
    call = await make_call(db, org.id, age_days=800, recording=True)
    read = db.fetch_all

    async def read_then_hold(sql: str, params: Any = ()) -> Any:
        rows = await read(sql, params)
        if "FROM calls c" in sql:  # the candidate read: an admin sets a hold right after it
            await db.execute("UPDATE calls SET legal_hold = 1 WHERE id = ?", (call.id,))
        return rows

    monkeypatch.setattr(db, "fetch_all", read_then_hold)
    report = await job(db).run_once()
    assert report.for_org(org.id).calls_deleted == 0
    assert report.for_org(org.id).held == 1
    assert on_disk(call.recording_path)
    assert await count(db, "SELECT count(*) FROM calls WHERE id = ?", call.id) == 1


async def test_calls_in_progress_are_left_alone(
    make_db: MakeDb, make_org: MakeOrg, make_call: MakeCall
) -> None:
    db = await make_db()
    org = await make_org(db)
    running = await make_call(db, org.id, age_days=900, status="in_progress")
    await job(db).run_once()
    assert (await CallRepository(db).get(running.id)).status == "in_progress"


async def test_large_stores_are_swept_in_short_batches(
    make_db: MakeDb, make_org: MakeOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = await make_db()
    org = await make_org(db)
    total = 4000
    old = format_iso(NOW - timedelta(days=800))
    await db.executemany(
        "INSERT INTO calls (uid, org_id, caller_number, started_at, status) VALUES (?, ?, ?, ?,"
        " 'completed')",
        [(f"uid-{i}", org.id, f"+1555{i:07d}", old) for i in range(total)],
    )
    await db.executemany(
        "INSERT INTO call_turns (call_id, seq, speaker, text, started_at)"
        " SELECT id, 0, 'caller', 'hi', started_at FROM calls WHERE uid = ?",
        [(f"uid-{i}",) for i in range(0, total, 4)],
    )
    keep = await CallRepository(db, now=lambda: format_iso(NOW)).create_call(
        org.id, None, None, "", "+1", "", "c")
    transactions = 0
    opened = db.transaction

    @asynccontextmanager
    async def counting() -> AsyncIterator[Connection]:
        nonlocal transactions
        transactions += 1
        async with opened() as conn:
            yield conn

    monkeypatch.setattr(db, "transaction", counting)
    report = await job(db, batch_size=500, max_batch_s=None).run_once()

    assert report.for_org(org.id).calls_deleted == total
    assert report.for_org(org.id).turns_deleted == total // 4
    assert transactions == total // 500
    assert await count(db, "SELECT count(*) FROM calls") == 1
    assert isinstance(keep, Call)


async def test_run_forever_runs_again_and_survives_a_failure(
    make_db: MakeDb, make_org: MakeOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = await make_db()
    await make_org(db)
    retention = job(db)
    real = retention.run_once
    runs = 0

    async def flaky() -> Any:
        nonlocal runs
        runs += 1
        if runs == 2:
            raise RuntimeError("disk hiccup")
        return await real()

    monkeypatch.setattr(retention, "run_once", flaky)
    task = asyncio.create_task(retention.run_forever(interval_s=0.01))
    for _ in range(500):
        if runs >= 4:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert runs >= 4, "the job kept running after a failed run"
    assert len(await audit_rows(db)) >= 2
