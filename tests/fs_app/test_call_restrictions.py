"""A caller's restrictions honoured on FreeSWITCH calls as on Asterisk: ``transcribe``,
``store`` and ``object`` (the simulator, real speech engines)."""

from __future__ import annotations

import asyncio

import pytest

from ari_app.demo import DEMO_CALLER, DEMO_PHRASES
from ari_app.simulator.caller import SimulatedCaller
from callwright.privacy.restrictions import (
    HASH_PREFIX,
    NOT_TRANSCRIBED,
    CallerRestrictionRepository,
)
from callwright.privacy.secrets import MasterKey
from tests.fs_app.conftest import FsHarness, MakeFsHarness
from tests.fs_app.test_call_end_to_end import TURN_S, talk

pytestmark = pytest.mark.slow


async def restrict(h: FsHarness, kinds: set[str], number: str = DEMO_CALLER) -> None:
    assert h.service.db is not None
    key = await asyncio.to_thread(MasterKey.load_or_create, h.settings.server.master_key_file)
    repo = CallerRestrictionRepository(h.service.db, key)
    [org] = await h.service.db.fetch_all("SELECT org_id FROM assistants")
    await repo.restrict(org["org_id"], number, frozenset(kinds), "test")


async def demo_call(h: FsHarness) -> None:
    caller = SimulatedCaller()
    call = h.dial(caller_number=DEMO_CALLER, caller=caller)
    await talk(h, caller, DEMO_PHRASES)
    await asyncio.wait_for(call.ended.wait(), TURN_S)


async def test_a_caller_not_to_be_transcribed_is_understood_but_not_written_down(
    make_fs_harness: MakeFsHarness,
) -> None:
    h = await make_fs_harness()
    await restrict(h, {"transcribe"})
    await demo_call(h)
    row = await h.closed_call()
    assert row.status == "completed" and row.end_reason == "demo_booked"
    turns = await h.calls.turns(row.id)
    assert len(turns) == 5 and {t.text for t in turns} == {NOT_TRANSCRIBED}
    events = [(e.kind, e.detail) for e in await h.calls.events(row.id)]
    assert ("privacy_restriction", {"kinds": ["transcribe"]}) in events


async def test_a_caller_not_to_be_stored_leaves_only_a_minimal_row(
    make_fs_harness: MakeFsHarness,
) -> None:
    h = await make_fs_harness()
    await restrict(h, {"store"})
    await demo_call(h)
    row = await h.closed_call()
    assert row.status == "completed"
    assert row.caller_number.startswith(HASH_PREFIX) and row.caller_name == ""
    assert await h.calls.turns(row.id) == []
    assert not row.slots


async def test_a_caller_who_objected_hears_so_and_is_hung_up_without_a_fallback(
    make_fs_harness: MakeFsHarness,
) -> None:
    h = await make_fs_harness()
    await restrict(h, {"object"})
    caller = SimulatedCaller()
    call = h.dial(caller_number=DEMO_CALLER, caller=caller)
    await caller.wait_for_speech(TURN_S)
    await asyncio.wait_for(call.ended.wait(), TURN_S)
    row = await h.closed_call()
    assert row.end_reason == "caller_objection", row.end_reason
    kinds = [e.kind for e in await h.calls.events(row.id)]
    assert "caller_objected" in kinds
    assert all(t.speaker == "assistant" for t in await h.calls.turns(row.id))
