"""The retention job keeps aggregated, anonymised statistics of what it deletes (0022), so a
period's figures (aggregate + rows still stored) do not shrink when calls are deleted."""

from __future__ import annotations

from callwright.privacy.retention_job import RetentionJob
from callwright.store.call_stats import CallStatsRepository
from callwright.store.db import Database
from callwright.store.retention import RetentionRepository
from tests.callwright.privacy.conftest import NOW, MakeCall
from tests.callwright.store.conftest import MakeAssistant, MakeDb, MakeOrg


async def figures(db: Database, org_id: int) -> dict[str, object]:
    return (await CallStatsRepository(db).period(org_id, "2020-01-01", "2030-01-01")).to_json()


async def test_statistics_survive_the_deletion_of_their_rows(
    make_db: MakeDb, make_org: MakeOrg, make_assistant: MakeAssistant, make_call: MakeCall
) -> None:
    db = await make_db()
    org = await make_org(db)
    other = await make_org(db)
    desk = await make_assistant(db, org.id)
    await RetentionRepository(db).set(org.id, metadata_days=365, transcript_days=90,
                                      recording_days=30)
    await make_call(db, org.id, age_days=400, assistant_id=desk.id, turns=("a", "b", "c"))
    await make_call(db, org.id, age_days=400.2, assistant_id=desk.id, status="failed")
    await make_call(db, org.id, age_days=200, turns=("a", "b"))  # transcript expires only
    await make_call(db, org.id, age_days=10)
    await make_call(db, other.id, age_days=400)
    await db.execute("UPDATE calls SET duration_ms = 60000 WHERE org_id = ?", (org.id,))
    before = await figures(db, org.id)
    assert before["total"] == {"calls": 4, "by_status": {"completed": 3, "failed": 1},
                               "duration_ms": 240000, "mean_duration_ms": 60000, "turns": 9}

    report = await RetentionJob(db, lambda: NOW).run_once()
    assert report.for_org(org.id).calls_deleted == 2
    assert report.for_org(org.id).transcripts_deleted == 1
    assert await db.fetch_value("SELECT count(*) FROM calls WHERE org_id = ?", (org.id,)) == 2
    assert await figures(db, org.id) == before  # every day, every figure, unchanged
    again = await RetentionJob(db, lambda: NOW).run_once()  # a second run counts nothing twice
    assert again.for_org(org.id).calls_deleted == 0
    assert await figures(db, org.id) == before
    desk_only = await CallStatsRepository(db).period(org.id, "2020-01-01", "2030-01-01",
                                                     desk.id)
    assert desk_only.total.by_status == {"completed": 1, "failed": 1}
    assert desk_only.total.turns == 5
    other_org = await figures(db, other.id)
    assert other_org["total"]["calls"] == 1  # type: ignore[index]
    # anonymised: the aggregate holds counts per org, assistant, day and status, nothing else
    rows = await db.fetch_all("SELECT * FROM call_stats_daily")
    columns = {name for row in rows for name in row.keys()}
    assert columns == {"org_id", "assistant_id", "day", "status", "calls", "duration_ms",
                       "timed_calls", "turns"}


async def test_a_dry_run_and_test_calls_add_nothing(
    make_db: MakeDb, make_org: MakeOrg, make_call: MakeCall
) -> None:
    db = await make_db()
    org = await make_org(db)
    await make_call(db, org.id, age_days=400)
    test_call = await make_call(db, org.id, age_days=400)
    await db.execute("UPDATE calls SET direction = 'test' WHERE id = ?", (test_call.id,))
    await RetentionJob(db, lambda: NOW).run_once(dry_run=True)
    assert await db.fetch_value("SELECT count(*) FROM call_stats_daily") == 0
    await RetentionJob(db, lambda: NOW).run_once()
    assert await db.fetch_value("SELECT count(*) FROM calls") == 0
    assert await db.fetch_value("SELECT sum(calls) FROM call_stats_daily") == 1
