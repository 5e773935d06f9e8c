from __future__ import annotations

import asyncio
import random
import re

import pytest

from callwright.errors import NotFound
from callwright.store.call_search import transcript_search
from callwright.store.calls import Call, CallRepository
from callwright.store.clock import shift_iso, utc_now_iso
from callwright.store.db import Database
from callwright.store.turns import NewTurn
from tests.callwright.store.conftest import MakeAssistant, MakeDb, MakeOrg


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: str = "2026-11-22T05:44:50.439Z") -> None:
        self.current = start

    def now(self) -> str:
        return self.current

    def advance(self, ms: int) -> None:
        self.current = shift_iso(self.current, ms=ms)


async def new_call(repo: CallRepository, org_id: int | None = None, channel: str = "ch-1") -> Call:
    return await repo.create_call(
        org_id, None, None, dialed="100", caller_number="+15551230000", caller_name="Alice",
        channel_id=channel,
    )


async def test_create_call_is_stored_as_returned(make_db: MakeDb, make_org: MakeOrg,
                                                 make_assistant: MakeAssistant) -> None:
    db = await make_db()
    org = await make_org(db)
    assistant = await make_assistant(db, org.id)
    repo = CallRepository(db)
    call = await repo.create_call(org.id, assistant.id, None, "100", "+15551230000", "Alice",
                                  "1700000000.1", "inbound")
    assert call.status == "in_progress" and call.ended_at is None and call.duration_ms is None
    assert re.fullmatch(r"[A-Za-z0-9_-]{16}", call.uid)
    assert await repo.get(call.id) == call
    assert await repo.get_by_uid(call.uid) == call
    assert call.slots == {} and call.legal_hold is False


async def test_uids_are_random_and_unique(make_db: MakeDb) -> None:
    repo = CallRepository(await make_db())
    calls = [await new_call(repo) for _ in range(20)]
    assert len({c.uid for c in calls}) == 20


async def test_call_without_org_for_unknown_numbers(make_db: MakeDb) -> None:
    repo = CallRepository(await make_db())
    call = await new_call(repo, org_id=None)
    assert (await repo.get(call.id)).org_id is None


async def test_close_call_sets_duration_and_is_idempotent(make_db: MakeDb) -> None:
    clock = FakeClock()
    repo = CallRepository(await make_db(), now=clock.now)
    call = await new_call(repo)
    clock.advance(1234)
    assert await repo.mark_answered(call.id)
    clock.advance(61_000)
    assert await repo.close_call(call.id, "completed", "caller_hangup") is True
    closed = await repo.get(call.id)
    assert closed.status == "completed" and closed.end_reason == "caller_hangup"
    assert closed.answered_at == "2026-11-22T05:44:51.673Z"
    assert closed.ended_at == "2026-11-22T05:45:52.673Z"
    assert closed.duration_ms == 62_234

    clock.advance(5000)
    assert await repo.close_call(call.id, "failed", "error: late") is False
    assert await repo.get(call.id) == closed
    assert await repo.mark_answered(call.id) is False


async def test_close_call_checks_status_and_existence(make_db: MakeDb) -> None:
    repo = CallRepository(await make_db())
    call = await new_call(repo)
    with pytest.raises(ValueError, match="status"):
        await repo.close_call(call.id, "in_progress", "")
    with pytest.raises(ValueError):
        await repo.close_call(call.id, "done", "")
    with pytest.raises(NotFound):
        await repo.close_call(9999, "completed", "")


async def test_events_in_order_with_detail(make_db: MakeDb) -> None:
    repo = CallRepository(await make_db())
    call = await new_call(repo)
    await repo.add_event(call.id, "stasis_start", {"args": ["100"]})
    await repo.add_event(call.id, "answered")
    await repo.add_event(call.id, "hangup", {"cause": 16, "nested": {"ok": True}})
    events = await repo.events(call.id)
    assert [e.kind for e in events] == ["stasis_start", "answered", "hangup"]
    assert events[0].detail == {"args": ["100"]} and events[1].detail == {}
    assert events[2].detail["nested"] == {"ok": True}


async def test_turns_round_trip_and_barge_in_update(make_db: MakeDb) -> None:
    db = await make_db()
    repo = CallRepository(db)
    call = await new_call(repo)
    t0 = utc_now_iso()
    caller = await repo.add_turn(call.id, NewTurn(0, "caller", "opening hours please", t0, t0,
                                                  stt_ms=180, confidence=0.92))
    reply = await repo.add_turn(call.id, NewTurn(
        1, "assistant", "We open at nine and close at six.", t0, None, dialog_ms=12, tts_ms=40,
        first_frame_ms=95, meta={"node": "hours"}))
    assert await repo.update_turn_text(reply, "We open at nine", interrupted=True)
    turns = await repo.turns(call.id)
    assert [t.id for t in turns] == [caller, reply]
    assert turns[0].speaker == "caller" and turns[0].stt_ms == 180
    assert turns[0].confidence == pytest.approx(0.92) and turns[0].interrupted is False
    assert turns[1].text == "We open at nine" and turns[1].interrupted is True
    assert (turns[1].dialog_ms, turns[1].tts_ms, turns[1].first_frame_ms) == (12, 40, 95)
    assert turns[1].meta == {"node": "hours"} and turns[1].ended_at is None
    # the full-text index follows the barge-in edit
    hits = await db.fetch_all(*transcript_search(db.engine, "close"))
    assert hits == []
    hits = await db.fetch_all(*transcript_search(db.engine, "nine"))
    assert [h[0] for h in hits] == [reply]
    with pytest.raises(ValueError, match="speaker"):
        await repo.add_turn(call.id, NewTurn(2, "robot", "beep", t0))


async def test_recording_and_slots(make_db: MakeDb) -> None:
    repo = CallRepository(await make_db())
    call = await new_call(repo)
    assert await repo.set_recording(call.id, "var/recordings/x.wav", "ab12cd34")
    assert await repo.set_slots(call.id, {"name": "김민수", "party_size": 4})
    again = await repo.get(call.id)
    assert again.recording_path == "var/recordings/x.wav" and again.recording_key_id == "ab12cd34"
    assert again.slots == {"name": "김민수", "party_size": 4}
    assert not await repo.set_slots(9999, {})


async def test_org_scoping(make_db: MakeDb, make_org: MakeOrg) -> None:
    db = await make_db()
    org_a, org_b = await make_org(db), await make_org(db)
    repo = CallRepository(db)
    call = await new_call(repo, org_a.id)
    await repo.add_turn(call.id, NewTurn(0, "caller", "secret", utc_now_iso()))
    await repo.add_event(call.id, "answered")
    with pytest.raises(NotFound):
        await repo.get(call.id, org_id=org_b.id)
    with pytest.raises(NotFound):
        await repo.get_by_uid(call.uid, org_id=org_b.id)
    assert await repo.turns(call.id, org_id=org_b.id) == []
    assert await repo.events(call.id, org_id=org_b.id) == []
    assert await repo.list_recent(org_b.id) == []
    assert (await repo.get(call.id, org_id=org_a.id)).id == call.id
    assert len(await repo.turns(call.id, org_id=org_a.id)) == 1
    assert len(await repo.events(call.id, org_id=org_a.id)) == 1


async def test_list_recent_newest_first(make_db: MakeDb, make_org: MakeOrg) -> None:
    db = await make_db()
    org = await make_org(db)
    clock = FakeClock()
    repo = CallRepository(db, now=clock.now)
    made = []
    for i in range(5):
        made.append(await new_call(repo, org.id, channel=f"ch-{i}"))
        clock.advance(1000)
    stray = await new_call(repo, None)
    recent = await repo.list_recent(org.id, limit=3)
    assert [c.channel_id for c in recent] == ["ch-4", "ch-3", "ch-2"]
    everywhere = await repo.list_recent_all_orgs(limit=2)
    assert [c.id for c in everywhere] == [stray.id, made[-1].id]
    await repo.close_call(made[0].id, "completed", "caller_hangup")
    in_progress = [c.id for c in await repo.list_in_progress()]
    assert in_progress == [c.id for c in made[1:]] + [stray.id]


async def add_turns_concurrently(repo: CallRepository, call_id: int, count: int) -> list[int]:
    async def one(seq: int) -> int:
        await asyncio.sleep(random.random() * 0.01)
        speaker = "caller" if seq % 2 == 0 else "assistant"
        return await repo.add_turn(call_id, NewTurn(seq, speaker, f"turn {seq}", utc_now_iso()))

    return list(await asyncio.gather(*(one(seq) for seq in range(count))))


async def test_fifty_concurrent_turns_all_land_in_order(make_db: MakeDb) -> None:
    db: Database = await make_db()
    repo = CallRepository(db)
    calls = [await new_call(repo, channel=f"ch-{i}") for i in range(3)]
    results = await asyncio.gather(*(add_turns_concurrently(repo, c.id, 50) for c in calls))
    for call, ids in zip(calls, results, strict=True):
        assert len(set(ids)) == 50
        turns = await repo.turns(call.id)
        assert [t.seq for t in turns] == list(range(50))
        assert [t.text for t in turns] == [f"turn {seq}" for seq in range(50)]
        assert [t.id for t in turns] == ids  # each seq got the id its add_turn returned
    assert await db.fetch_value("SELECT COUNT(*) FROM call_turns") == 150
