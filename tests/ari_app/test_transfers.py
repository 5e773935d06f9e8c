"""Transfers through ARI against the PBX simulator: blind (continue in the dialplan) and bridged
(originate the target, ringback, bridge it with the caller, drop our media)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from ari_app.ari.rest import AriRestClient
from ari_app.demo import DEMO_NUMBER
from ari_app.demo_caller import heard_speech_after, synthesize_phrases
from ari_app.simulator.calls import SimulatedCall
from tests.ari_app.conftest import PASSWORD, Harness, MakeHarness

pytestmark = pytest.mark.slow


def transfer_flow(target: str) -> dict[str, Any]:
    flow: dict[str, Any] = {
        "version": 1,
        "start": "greet",
        "nodes": {
            "greet": {
                "kind": "ask",
                "prompt": "안녕하세요 라고 말씀해 주세요.",
                "slot": "greeted",
                "answer": "choice",
                "choices": [{"value": "hello", "phrases": ["안녕하세요"]}],
                "max_retries": 1,
                "next": "xfer",
                "on_fail": "bye",
            },
            "xfer": {"kind": "transfer", "target": target, "text": "연결해 드리겠습니다.",
                     "on_fail": "sorry"},
            "sorry": {"kind": "hangup", "text": "상담원이 받지 않습니다. 다시 걸어 주세요.",
                      "reason": "transfer_fallback"},
            "bye": {"kind": "hangup", "text": "안녕히 계세요."},
        },
    }
    return flow


async def say_hello(h: Harness, caller_number: str) -> SimulatedCall:
    (hello,) = await synthesize_phrases(await h.caller_voice(), ["안녕하세요"], "ko")
    placed = time.monotonic()
    call = await h.sim.place_call(dialed=DEMO_NUMBER, caller_number=caller_number,
                                  app=h.settings.ari.app)
    await heard_speech_after(call.caller, placed, 10)
    await call.caller.wait_until_quiet(800, timeout=15)
    await call.caller.say(hello)
    return call


async def test_blind_transfer_continues_in_the_dialplan(make_harness: MakeHarness) -> None:
    h = await make_harness(flow=transfer_flow("callwright-transfer,operator,1"))
    call = await say_hello(h, "5552001")
    await asyncio.wait_for(call.ended(), 30)
    assert call.continued_to is not None
    assert (call.continued_to.context, call.continued_to.extension, call.continued_to.priority) == (
        "callwright-transfer", "operator", 1)
    row = await h.closed_call()
    assert row.status == "transferred"
    turns = await h.calls.turns(row.id)
    assert turns[-1].speaker == "assistant" and turns[-1].text == "연결해 드리겠습니다."


async def test_bridged_transfer_rings_then_connects_caller_and_agent(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness(flow=transfer_flow("Local/200@agents"),
                           sim_options={"outbound_answer_s": 1.5})
    call = await say_hello(h, "5552002")
    agent_call = await h.sim.next_outbound_call(timeout=20)
    # While it rings, the caller hears ringback (a tone, after the "connecting you" sentence).
    await asyncio.sleep(1.8)
    # Answered: the caller and the agent hear each other; our media channel has left the bridge.
    (words,) = await synthesize_phrases(await h.caller_voice(), ["네"], "ko")
    spoke = time.monotonic()
    await call.caller.say(words)
    await heard_speech_after(agent_call.caller, spoke, 5)
    spoke = time.monotonic()
    await agent_call.caller.say(words)
    await heard_speech_after(call.caller, spoke, 5)
    await call.caller.hangup()
    await asyncio.wait_for(agent_call.ended(), 10)  # the app hung the agent up
    row = await h.closed_call()
    assert row.status == "transferred"
    kinds = [e.kind for e in await h.calls.events(row.id)]
    assert "transfer_started" in kinds and "transfer_answered" in kinds


async def test_a_transfer_nobody_answers_comes_back_to_the_assistant(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness(flow=transfer_flow("Local/200@agents"),
                           env={"CALLWRIGHT_CALLS_TRANSFER_RING_S": "1.5"},
                           sim_options={"outbound_answer_s": 30.0})
    call = await say_hello(h, "5552003")
    await asyncio.wait_for(call.ended(), 40)
    row = await h.closed_call()
    assert row.status == "completed" and row.end_reason == "transfer_fallback"
    turns = await h.calls.turns(row.id)
    assert turns[-1].text == "상담원이 받지 않습니다. 다시 걸어 주세요."
    events = {e.kind: e.detail for e in await h.calls.events(row.id)}
    assert "no answer" in events["transfer_no_answer"]["why"]
    assert "transfer_failed" in events
    # The unanswered leg was hung up: no channel is left on the PBX.
    async with aiohttp.ClientSession() as session:
        rest = AriRestClient(session, h.sim.ari_url, h.settings.ari.username, PASSWORD)
        assert [c.name for c in await rest.list_channels()] == []


async def test_an_unknown_technology_fails_fast_and_falls_back(make_harness: MakeHarness) -> None:
    h = await make_harness(flow=transfer_flow("PJSIP/200"))
    call = await say_hello(h, "5552004")
    await asyncio.wait_for(call.ended(), 30)
    row = await h.closed_call()
    assert row.end_reason == "transfer_fallback"
