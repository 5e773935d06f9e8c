from __future__ import annotations

from callwright.store.calls import CallRepository
from callwright.store.clock import shift_iso
from callwright.store.recovery import close_abandoned_calls
from tests.callwright.store.conftest import MakeDb, MakeOrg

START = "2026-11-22T05:00:00.000Z"


async def test_closes_only_in_progress_calls(make_db: MakeDb, make_org: MakeOrg) -> None:
    db = await make_db()
    org = await make_org(db)
    repo = CallRepository(db, now=lambda: START)
    left_over = [
        await repo.create_call(org.id, None, None, "100", "+1555000000" + str(i), "", f"ch-{i}")
        for i in range(3)
    ]
    unknown = await repo.create_call(None, None, None, "999", "", "", "ch-x")
    finished = await repo.create_call(org.id, None, None, "100", "", "", "ch-done")
    await repo.close_call(finished.id, "completed", "caller_hangup")
    before_finished = await repo.get(finished.id)

    restart = shift_iso(START, ms=90_500)
    assert await close_abandoned_calls(db, now=lambda: restart) == 4

    for call in [*left_over, unknown]:
        closed = await repo.get(call.id)
        assert (closed.status, closed.end_reason) == ("failed", "server_restart")
        assert closed.ended_at == restart and closed.duration_ms == 90_500
        assert [e.kind for e in await repo.events(call.id)] == ["server_restart"]
    assert await repo.get(finished.id) == before_finished
    assert await repo.list_in_progress() == []


async def test_second_run_closes_nothing(make_db: MakeDb) -> None:
    db = await make_db()
    repo = CallRepository(db)
    await repo.create_call(None, None, None, "100", "", "", "ch")
    assert await close_abandoned_calls(db) == 1
    assert await close_abandoned_calls(db) == 0


async def test_recovery_after_reopening_the_database(make_db: MakeDb) -> None:
    first = await make_db("store.db")
    call = await CallRepository(first).create_call(None, None, None, "100", "", "", "ch")
    await first.close()
    second = await make_db("store.db")  # a new process after a crash
    assert await close_abandoned_calls(second) == 1
    assert (await CallRepository(second).get(call.id)).status == "failed"
