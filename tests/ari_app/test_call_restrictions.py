"""A caller's restrictions honoured on a whole call (the PBX simulator, real speech engines):
``transcribe``, ``store`` and ``object``, each set as an admin would and in force on the next
call (issue 12, item 2). ``record`` is in test_call_privacy.py."""

from __future__ import annotations

import asyncio

import pytest

from ari_app.demo import DEMO_CALLER, DEMO_NUMBER
from ari_app.simulator.calls import ContinuedTo
from callwright.privacy.call_privacy import objection_line
from callwright.privacy.restrictions import (
    HASH_PREFIX,
    NOT_TRANSCRIBED,
    CallerRestrictionRepository,
)
from callwright.privacy.secrets import MasterKey
from tests.ari_app.conftest import Harness, MakeHarness
from tests.ari_app.test_call_end_to_end import demo_call

pytestmark = pytest.mark.slow


async def restrict(h: Harness, kinds: set[str], number: str = DEMO_CALLER) -> None:
    assert h.service.db is not None
    repo = CallerRestrictionRepository(
        h.service.db, MasterKey.load_or_create(h.settings.server.master_key_file))
    [org] = await h.service.db.fetch_all("SELECT org_id FROM assistants")
    await repo.restrict(org["org_id"], number, frozenset(kinds), "test")


async def test_a_caller_not_to_be_transcribed_is_understood_but_not_written_down(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness()
    await restrict(h, {"transcribe"})
    report = await demo_call(h)
    assert report.ended_by_assistant  # the dialog understood both answers in memory
    call = await h.closed_call()
    assert call.status == "completed" and call.end_reason == "demo_booked"
    turns = await h.calls.turns(call.id)
    speakers = ["assistant", "caller", "assistant", "caller", "assistant"]
    assert [t.speaker for t in turns] == speakers
    assert {t.text for t in turns} == {NOT_TRANSCRIBED}
    assert all(t.meta == {} for t in turns)
    assert h.service.db is not None
    # (an external-content index: only MATCH reads the index itself)
    assert await h.service.db.fetch_all(
        "SELECT rowid FROM call_turns_fts WHERE call_turns_fts MATCH 'transcribed'") == []
    events = await h.calls.events(call.id)
    assert ("privacy_restriction", {"kinds": ["transcribe"]}) in [
        (e.kind, e.detail) for e in events]
    assert call.recording_path is not None  # only what was asked: still recorded


async def test_a_caller_not_to_be_stored_leaves_only_a_minimal_row(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness()
    await restrict(h, {"store"})
    report = await demo_call(h)
    assert report.ended_by_assistant  # still served
    call = await h.closed_call()
    assert call.status == "completed" and call.end_reason == "demo_booked"
    assert call.caller_number.startswith(HASH_PREFIX) and DEMO_CALLER not in call.caller_number
    assert call.caller_name == ""
    assert call.duration_ms is not None and call.duration_ms > 3000
    assert call.recording_path is None and call.slots == {}
    assert await h.calls.turns(call.id) == []
    assert h.service.db is not None
    row = await h.service.db.fetch_one("SELECT * FROM calls WHERE id = ?", (call.id,))
    assert row is not None and DEMO_CALLER not in str(tuple(row))
    for event in await h.calls.events(call.id):
        assert DEMO_CALLER not in str(event.detail), event

    # The same caller calls again: the same hash, so an org can count calls without the number.
    await demo_call(h)
    rows = await h.service.db.fetch_all("SELECT caller_number FROM calls ORDER BY id")
    assert len(rows) == 2 and rows[0][0] == rows[1][0]


async def test_a_caller_who_objected_is_told_and_handed_to_the_dialplan(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness(env={"CALLWRIGHT_CALLS_FALLBACK_TARGET": "operators,100,1"})
    await restrict(h, {"object"}, "5554100")
    call = await h.sim.place_call(dialed=DEMO_NUMBER, caller_number="5554100",
                                  app=h.settings.ari.app)
    await call.caller.wait_for_speech(timeout=10)
    for _ in range(300):
        if call.continued_to is not None:
            break
        await asyncio.sleep(0.1)
    assert call.continued_to == ContinuedTo("operators", "100", 1)
    row = await h.closed_call()
    assert row.status == "transferred" and row.end_reason == "handed_back: caller_objection"
    assert row.recording_path is None
    turns = await h.calls.turns(row.id)
    assert [(t.speaker, t.text) for t in turns] == [("assistant", objection_line("ko"))]
    kinds = [e.kind for e in await h.calls.events(row.id)]
    assert "caller_objected" in kinds and "handed_back" in kinds
