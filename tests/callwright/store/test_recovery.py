from __future__ import annotations

from callwright.store.calls import CallRepository
from callwright.store.clock import shift_iso
from callwright.store.recovery import close_abandoned_calls
from callwright.store.turns import NewTurn
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


async def test_a_restarted_call_is_reopened_found_by_channel_and_resumable(
    make_db: MakeDb, make_org: MakeOrg
) -> None:
    """A caller still in Asterisk after a restart: its row (closed by the start-up sweep) is
    found by channel, reopened, and its journal says where the conversation was."""
    from callwright.call.resume import resume_point

    db = await make_db()
    org = await make_org(db)
    repo = CallRepository(db, now=lambda: START)
    older = await repo.create_call(org.id, None, None, "100", "", "", "1700000000.7")
    await repo.close_call(older.id, "completed", "caller_hangup")
    call = await repo.create_call(org.id, None, None, "100", "", "", "1700000000.7")
    await repo.add_turn(call.id, NewTurn(1, "assistant", "Hello. Sales or support?", START, START,
                        meta={"node": "menu"}))
    await repo.add_turn(call.id, NewTurn(2, "caller", "support", START, START))
    await repo.add_turn(call.id, NewTurn(3, "assistant", "Is it", START, START, interrupted=True,
                        meta={"node": "urgent"}))
    await repo.add_turn(call.id, NewTurn(4, "assistant", "", START, START, interrupted=True))
    await repo.set_slots(call.id, {"dept": "support"})
    assert await close_abandoned_calls(db) == 1

    found = await repo.find_by_channel("1700000000.7")
    assert found is not None and found.id == call.id, "the newest call on that channel"
    assert await repo.find_by_channel("1700000000.8") is None
    assert await repo.reopen_call(call.id)
    reopened = await repo.get(call.id)
    assert (reopened.status, reopened.end_reason) == ("in_progress", "")
    assert reopened.ended_at is None and reopened.duration_ms is None
    assert not await repo.reopen_call(call.id), "already in progress"

    journalled = await resume_point(repo, call.id)
    assert journalled.last_seq == 4
    assert journalled.point.node == "urgent"
    assert dict(journalled.point.slots) == {"dept": "support"}
    assert journalled.point.transcript == (
        ("assistant", "Hello. Sales or support?"), ("user", "support"), ("assistant", "Is it"),
    )
