"""Recordings of FreeSWITCH calls, as on Asterisk: both sides in a stereo WAV at the fork's
rate, the opt-out key deletes it and marks the row."""

from __future__ import annotations

import asyncio
import wave

import numpy as np
import pytest

from ari_app.demo import DEMO_CALLER, DEMO_PHRASES
from ari_app.simulator.caller import SimulatedCaller
from callwright.dialog.demo_flow import DEMO_FLOW
from tests.fs_app.conftest import MakeFsHarness
from tests.fs_app.test_call_end_to_end import TURN_S, talk

pytestmark = pytest.mark.slow
NOTICE = "이 통화는 녹음됩니다."


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0


@pytest.mark.parametrize("rate", [8000, 16000])
async def test_a_recorded_call_keeps_both_sides(make_fs_harness: MakeFsHarness, rate: int) -> None:
    h = await make_fs_harness(rate=rate, record_calls=True)
    caller = SimulatedCaller()
    call = h.dial(caller_number=DEMO_CALLER, caller=caller)
    await talk(h, caller, DEMO_PHRASES)
    await asyncio.wait_for(call.ended.wait(), TURN_S)
    row = await h.closed_call()
    assert row.status == "completed" and row.recording_path is not None
    with wave.open(row.recording_path) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, rate)
        stereo = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
        seconds = wav.getnframes() / rate
    assert row.duration_ms is not None and abs(seconds * 1000 - row.duration_ms) < 2000
    assert rms(stereo[:, 0]) > 100, "the caller's side is silent"
    assert rms(stereo[:, 1]) > 300, "the assistant's side is silent"


async def test_the_opt_out_key_deletes_the_recording(make_fs_harness: MakeFsHarness) -> None:
    h = await make_fs_harness(record_calls=True)
    caller = SimulatedCaller()
    call = h.dial(caller=caller)
    await caller.wait_for_speech(TURN_S)
    await caller.send_dtmf("9")
    await asyncio.sleep(0.5)
    await caller.hangup()
    await asyncio.wait_for(call.ended.wait(), 5)
    row = await h.closed_call()
    assert row.recording_path is None and row.recording_declined
    events = [(e.kind, e.detail) for e in await h.calls.events(row.id)]
    assert ("recording_declined", {"how": "key 9"}) in events
    assert not list((h.settings.recordings.dir).rglob("*.wav"))


async def test_a_recorded_call_opens_with_the_consent_notice(
    make_fs_harness: MakeFsHarness,
) -> None:
    h = await make_fs_harness(record_calls=True)
    assert h.service.db is not None
    await h.service.db.execute("UPDATE assistants SET consent_prompt = ?", (NOTICE,))
    caller = SimulatedCaller()
    call = h.dial(caller=caller)
    await caller.wait_for_speech(TURN_S)
    await caller.wait_until_quiet(1500, timeout=30)
    await caller.hangup()
    await asyncio.wait_for(call.ended.wait(), 5)
    row = await h.closed_call()
    turns = await h.calls.turns(row.id)
    assert turns[0].speaker == "assistant"
    assert turns[0].text == f"{NOTICE} {DEMO_FLOW['nodes']['greet']['prompt']}"
    assert row.recording_path is not None
