"""Barge-in over a hang-up node's goodbye through FreeSWITCH (the simulator, mod_audio_fork): the
goodbye stops (killAudio) and the caller is still hung up, the row closed as a normal completed
call (callwright.call.terminal_actions)."""

from __future__ import annotations

import asyncio

import pytest

from ari_app.demo_caller import synthesize_phrases
from ari_app.simulator.caller import SimulatedCaller
from tests.fs_app.conftest import MakeFsHarness

pytestmark = pytest.mark.slow

GOODBYE = ("전화해 주셔서 감사합니다. 오늘 안에 처리해 드리겠습니다. "
           "좋은 하루 보내세요. 안녕히 계세요.")
GOODBYE_FLOW = {
    "version": 1, "name": "goodbye", "language": "ko", "start": "bye",
    "nodes": {"bye": {"kind": "hangup", "text": GOODBYE, "reason": "goodbye_said"}},
}


async def test_talking_over_the_goodbye_still_hangs_up(make_fs_harness: MakeFsHarness) -> None:
    h = await make_fs_harness(flow=GOODBYE_FLOW)
    caller = SimulatedCaller()
    call = h.dial(caller=caller)
    (hello,) = await synthesize_phrases(await h.caller_voice(), ["안녕하세요"], "ko")
    await caller.wait_for_speech(25.0)
    await asyncio.sleep(1.0)  # a second into the goodbye
    await caller.say(hello)
    # Before, the channel stayed up (silence) until the caller hung up.
    await asyncio.wait_for(call.ended.wait(), 15)
    row = await h.closed_call()
    assert (row.status, row.end_reason) == ("completed", "goodbye_said")
    turns = await h.calls.turns(row.id)
    assert [t.speaker for t in turns] == ["assistant", "caller"]
    assert turns[0].interrupted and 0 < len(turns[0].text) < len(GOODBYE)
    assert turns[1].text  # the caller's words (free speech: no question asked) were heard
