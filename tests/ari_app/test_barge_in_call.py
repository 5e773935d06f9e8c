"""Barge-in through the whole product: the caller talks over the greeting (it stops at once and
the transcript keeps what was heard), and a short noise burst does not stop it."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from ari_app.demo import DEMO_NUMBER
from ari_app.demo_caller import heard_speech_after, synthesize_phrases
from ari_app.simulator.caller import SimulatedCaller, frame_rms
from callwright.dialog.demo_flow import DEMO_FLOW
from tests.ari_app.conftest import MakeHarness

pytestmark = pytest.mark.slow
GREETING = DEMO_FLOW["nodes"]["greet"]["prompt"]


def last_speech_heard(caller: SimulatedCaller, before: float) -> float:
    """Monotonic time of the last speech frame the caller heard before ``before``."""
    last = 0.0
    for t_rel, pcm in caller.heard_frames():
        at = caller.t0 + t_rel
        if at <= before and frame_rms(pcm) >= caller.speech_rms:
            last = at
    return last


async def test_talking_over_the_greeting_stops_it(make_harness: MakeHarness) -> None:
    h = await make_harness()
    (hello,) = await synthesize_phrases(await h.caller_voice(), ["안녕하세요"], "ko")
    placed = time.monotonic()
    call = await h.sim.place_call(dialed=DEMO_NUMBER, caller_number="5556001",
                                  app=h.settings.ari.app)
    await heard_speech_after(call.caller, placed, 10)
    await asyncio.sleep(1.0)  # a second into a ~5 s greeting
    said_at = time.monotonic()
    speaking = asyncio.ensure_future(call.caller.say(hello))
    await asyncio.sleep(1.2)
    # The greeting stopped shortly after the caller started talking.
    stopped = last_speech_heard(call.caller, time.monotonic())
    assert stopped - said_at < 0.6, f"greeting went on {stopped - said_at:.2f} s"
    await speaking
    # The assistant then answers what the caller said (the flow moved on).
    await heard_speech_after(call.caller, time.monotonic(), 10)
    await call.caller.wait_until_quiet(900, timeout=15)
    await call.caller.hangup()
    row = await h.closed_call()
    turns = await h.calls.turns(row.id)
    assert turns[0].speaker == "assistant" and turns[0].interrupted
    assert 0 < len(turns[0].text) < len(GREETING)
    assert turns[1].speaker == "caller" and turns[1].text == "안녕하세요"
    assert turns[2].text == DEMO_FLOW["nodes"]["offer"]["prompt"]


async def test_a_noise_burst_does_not_stop_the_greeting(make_harness: MakeHarness) -> None:
    h = await make_harness()
    placed = time.monotonic()
    call = await h.sim.place_call(dialed=DEMO_NUMBER, caller_number="5556002",
                                  app=h.settings.ari.app)
    await heard_speech_after(call.caller, placed, 10)
    await asyncio.sleep(1.0)
    t = np.arange(8000 * 80 // 1000) / 8000  # an 80 ms click of broadband noise + tone
    burst = (np.sin(2 * np.pi * 700 * t) * 9000 + np.random.default_rng(1).normal(0, 3000, t.size))
    await call.caller.say(burst.astype("<i2").tobytes())
    await call.caller.wait_until_quiet(900, timeout=15)
    await call.caller.hangup()
    row = await h.closed_call()
    turns = await h.calls.turns(row.id)
    assert turns[0].speaker == "assistant" and not turns[0].interrupted
    assert turns[0].text == GREETING
