"""Draining and stopping with a caller who talks to a person (a bridged transfer), in process."""

from __future__ import annotations

import asyncio
import time

import pytest

from ari_app.demo_caller import heard_speech_after, synthesize_phrases
from ari_app.service import CallService
from callwright.speech.vosk_stt import VoskModelCache
from callwright.store.calls import CallRepository
from callwright.store.db import Database
from tests.ari_app.conftest import MakeHarness
from tests.ari_app.test_transfers import say_hello, transfer_flow

pytestmark = pytest.mark.slow


async def test_a_caller_with_a_person_stays_with_them_over_a_drain_and_a_restart(
    make_harness: MakeHarness, vosk_models: VoskModelCache
) -> None:
    h = await make_harness(flow=transfer_flow("Local/200@agents"),
                           env={"CALLWRIGHT_CALLS_DRAIN_S": "0.5"})
    call = await say_hello(h, "5552010")
    agent = await h.sim.next_outbound_call(timeout=20)
    (words,) = await synthesize_phrases(await h.caller_voice(), ["네"], "ko")
    await asyncio.sleep(0.5)
    started = time.monotonic()
    await h.service.drain()
    await h.service.stop()
    assert time.monotonic() - started < 5, "a call with a person is not waited for"
    # Nobody was handed back or hung up: the two still hear each other.
    assert not call.is_ended and not agent.is_ended and call.continued_to is None
    spoke = time.monotonic()
    await agent.caller.say(words)
    await heard_speech_after(call.caller, spoke, 5)
    db = await Database.open(h.settings.store.path)
    calls = CallRepository(db)
    (row,) = await calls.list_recent_all_orgs(5)
    assert (row.status, row.end_reason) == (
        "transferred", "bridged: left to the PBX (server_drain)")

    # The next process finds the pair, leaves it, and cleans up when the person hangs up.
    again = CallService(h.settings, vosk_models=vosk_models)
    await again.start()
    try:
        assert again.app is not None and again.app.last_plan is not None
        assert [k.caller.id for k in again.app.last_plan.keep] == [call.channel_id]
        await asyncio.sleep(0.5)
        assert not call.is_ended
        await agent.caller.hangup()
        await asyncio.wait_for(call.ended(), 5)
        await asyncio.sleep(0.2)
        assert not h.sim.pbx.channels and not h.sim.pbx.bridges
        row = await calls.get(row.id)
        assert (row.status, row.end_reason) == ("transferred", "transfer kept over a restart")
    finally:
        await again.stop()
        await db.close()
