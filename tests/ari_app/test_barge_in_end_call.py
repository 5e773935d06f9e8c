"""Barge-in over the words before a hang-up or transfer, through the whole product on the PBX
simulator: the caller who talks over a hang-up node's goodbye is still hung up (the call row
closed as a normal completed call), and one who talks over "I'll put you through" is still
transferred (callwright.call.terminal_actions)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from ari_app.demo import DEMO_NUMBER
from ari_app.demo_caller import heard_speech_after, synthesize_phrases
from ari_app.simulator.calls import SimulatedCall
from tests.ari_app.conftest import Harness, MakeHarness

pytestmark = pytest.mark.slow

GOODBYE = ("전화해 주셔서 감사합니다. 오늘 안에 처리해 드리겠습니다. "
           "좋은 하루 보내세요. 안녕히 계세요.")
PUT_THROUGH = "지금 영업부로 연결해 드리겠습니다. 연결될 때까지 끊지 말고 잠시만 기다려 주세요."


def ending_flow(end: dict[str, Any]) -> dict[str, Any]:
    """Say hello, then ``end`` (a hang-up or transfer node with its words)."""
    return {
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
                "next": "end",
                "on_fail": "end",
            },
            "end": end,
        },
    }


async def talk_over_the_last_words(h: Harness, caller_number: str) -> SimulatedCall:
    """The caller answers the question, then talks over the reply a second into it."""
    (hello,) = await synthesize_phrases(await h.caller_voice(), ["안녕하세요"], "ko")
    placed = time.monotonic()
    call = await h.sim.place_call(dialed=DEMO_NUMBER, caller_number=caller_number,
                                  app=h.settings.ari.app)
    await heard_speech_after(call.caller, placed, 10)
    await call.caller.wait_until_quiet(800, timeout=15)
    await call.caller.say(hello)
    await heard_speech_after(call.caller, time.monotonic(), 10)  # the last words begin
    await asyncio.sleep(1.0)
    await call.caller.say(hello)
    return call


async def assert_cut_then_heard(h: Harness, status: str, text: str) -> list[Any]:
    row = await h.closed_call()
    assert row.status == status
    turns = await h.calls.turns(row.id)
    assert [t.speaker for t in turns] == ["assistant", "caller"] * 2
    last_words = turns[2]
    assert last_words.interrupted and 0 < len(last_words.text) < len(text)
    assert turns[3].text == "안녕하세요"  # the caller's words were heard before the end
    return turns


async def test_talking_over_the_goodbye_still_hangs_up(make_harness: MakeHarness) -> None:
    h = await make_harness(flow=ending_flow(
        {"kind": "hangup", "text": GOODBYE, "reason": "goodbye_said"}))
    call = await talk_over_the_last_words(h, "5557001")
    # Before, the call stayed open (silence) until the caller hung up.
    await asyncio.wait_for(call.ended(), 15)
    assert call.continued_to is None
    row = await h.closed_call()
    assert row.end_reason == "goodbye_said"  # as if the goodbye had played to its end
    await assert_cut_then_heard(h, "completed", GOODBYE)


async def test_talking_over_the_transfer_announcement_still_transfers(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness(flow=ending_flow(
        {"kind": "transfer", "target": "callwright-transfer,operator,1", "text": PUT_THROUGH}))
    call = await talk_over_the_last_words(h, "5557002")
    await asyncio.wait_for(call.ended(), 15)
    assert call.continued_to is not None
    assert (call.continued_to.context, call.continued_to.extension) == (
        "callwright-transfer", "operator")
    await assert_cut_then_heard(h, "transferred", PUT_THROUGH)
