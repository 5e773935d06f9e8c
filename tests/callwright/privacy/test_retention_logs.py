"""Notes and webhook delivery logs on their own retention clocks, per org and per assistant."""

from __future__ import annotations

import dataclasses

import pytest

from callwright.errors import NotFound
from callwright.privacy.retention_job import RetentionJob
from callwright.privacy.secrets import MasterKey
from callwright.store.db import Database
from callwright.store.legal_holds import LegalHoldRepository
from callwright.store.retention import RetentionRepository
from tests.admin.webhook_data import QUEUED_AT, webhook_fixture
from tests.callwright.privacy.conftest import NOW, MakeCall
from tests.callwright.store.conftest import MakeAssistant, MakeDb, MakeOrg

KEY = MasterKey.generate()


async def deliveries(db: Database, org_id: int, endpoint_id: int, call_id: int,
                     statuses: tuple[str, ...] = ("delivered", "failed", "pending")) -> None:
    for status in statuses:
        await db.execute(
            "INSERT INTO webhook_deliveries (org_id, endpoint_id, event_id, event, call_id, body,"
            " status, created_at, next_at, expires_at) VALUES (?, ?, ?, 'call.ended', ?, '{}',"
            " ?, ?, ?, ?)",
            (org_id, endpoint_id, f"evt-{call_id}-{status}", call_id, status, QUEUED_AT,
             QUEUED_AT, QUEUED_AT),
        )


async def left(db: Database, call_id: int) -> tuple[int, int, list[str]]:
    notes = await db.fetch_value("SELECT count(*) FROM call_notes WHERE call_id = ?", (call_id,))
    turns = await db.fetch_value("SELECT count(*) FROM call_turns WHERE call_id = ?", (call_id,))
    rows = await db.fetch_all(
        "SELECT status FROM webhook_deliveries WHERE call_id = ? ORDER BY status", (call_id,))
    return int(notes), int(turns), [str(r["status"]) for r in rows]


async def test_notes_and_delivery_logs_expire_on_their_own_clocks(
    make_db: MakeDb, make_org: MakeOrg, make_assistant: MakeAssistant, make_call: MakeCall
) -> None:
    db = await make_db()
    org = await make_org(db)
    own = await make_assistant(db, org.id)
    endpoint_id, _ = await webhook_fixture(db, KEY, org.id)
    policies = RetentionRepository(db)
    await policies.set_logs(org.id, notes_days=30, webhook_log_days=7)
    await policies.set_logs(org.id, own.id, notes_days=None, webhook_log_days=60)
    month = await make_call(db, org.id, age_days=40, notes=["a", "b"])
    fresh = await make_call(db, org.id, age_days=5, notes=["c"])
    mine = await make_call(db, org.id, age_days=40, notes=["d"], assistant_id=own.id)
    held = await make_call(db, org.id, age_days=40, notes=["e"])
    await LegalHoldRepository(db).hold_call(org.id, held.uid)
    for call in (month, fresh, mine, held):
        await deliveries(db, org.id, endpoint_id, call.id)

    dry = await RetentionJob(db, lambda: NOW).run_once(dry_run=True)
    assert await left(db, month.id) == (2, 2, ["delivered", "failed", "pending"])
    report = await RetentionJob(db, lambda: NOW).run_once()
    counts = report.for_org(org.id)
    assert dataclasses.asdict(dry.for_org(org.id)) == dataclasses.asdict(counts)
    assert (counts.notes_deleted, counts.deliveries_deleted, counts.calls_deleted) == (2, 2, 0)
    assert counts.held == 1
    assert await left(db, month.id) == (0, 2, ["pending"])  # the call and its turns stay
    assert await left(db, fresh.id) == (1, 2, ["delivered", "failed", "pending"])
    assert await left(db, mine.id) == (1, 2, ["delivered", "failed", "pending"])
    assert await left(db, held.id) == (1, 2, ["delivered", "failed", "pending"])


async def test_a_transcript_and_its_log_expiring_together_count_the_same_in_the_dry_run(
    make_db: MakeDb, make_org: MakeOrg, make_call: MakeCall
) -> None:
    db = await make_db()
    org = await make_org(db)
    endpoint_id, _ = await webhook_fixture(db, KEY, org.id)
    policies = RetentionRepository(db)
    await policies.set(org.id, metadata_days=365, transcript_days=30, recording_days=30)
    await policies.set_logs(org.id, notes_days=None, webhook_log_days=10)
    call = await make_call(db, org.id, age_days=100, notes=["kept"])
    await deliveries(db, org.id, endpoint_id, call.id)
    dry = (await RetentionJob(db, lambda: NOW).run_once(dry_run=True)).for_org(org.id)
    real = (await RetentionJob(db, lambda: NOW).run_once()).for_org(org.id)
    assert dataclasses.asdict(dry) == dataclasses.asdict(real)
    assert (real.transcripts_deleted, real.deliveries_deleted, real.notes_deleted) == (1, 2, 0)
    assert await left(db, call.id) == (1, 0, [])  # the pending one went with the transcript


async def test_set_logs_and_new_assistant_policies_carry_the_org_values(
    make_db: MakeDb, make_org: MakeOrg, make_assistant: MakeAssistant
) -> None:
    db = await make_db()
    org = await make_org(db)
    first, second = await make_assistant(db, org.id), await make_assistant(db, org.id)
    policies = RetentionRepository(db)
    await policies.set(org.id, metadata_days=200, transcript_days=100, recording_days=50)
    org_policy = await policies.set_logs(org.id, notes_days=90, webhook_log_days=14)
    assert (org_policy.metadata_days, org_policy.notes_days, org_policy.webhook_log_days) == (
        200, 90, 14)
    own = await policies.set_logs(org.id, first.id, notes_days=None, webhook_log_days=3)
    assert (own.metadata_days, own.transcript_days, own.recording_days) == (200, 100, 50)
    assert (own.notes_days, own.webhook_log_days, own.source) == (None, 3, "assistant")
    other = await policies.set(org.id, second.id, metadata_days=30, transcript_days=30,
                               recording_days=30)
    assert (other.notes_days, other.webhook_log_days) == (90, 14)
    again = await policies.set(org.id, metadata_days=300, transcript_days=100, recording_days=50)
    assert (again.notes_days, again.webhook_log_days) == (90, 14)  # set() leaves them
    bad_days: list[object] = [0, -1, 36501, True, 2.5]
    for bad in bad_days:
        with pytest.raises(ValueError):
            await policies.set_logs(org.id, notes_days=bad,  # type: ignore[arg-type]
                                    webhook_log_days=None)
    with pytest.raises(NotFound):
        await policies.set_logs(org.id, 9999, notes_days=1, webhook_log_days=1)
    assert (await policies.effective(org.id, first.id)).webhook_log_days == 3
