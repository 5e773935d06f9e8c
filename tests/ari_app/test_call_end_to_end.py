"""A whole call through ARI: the real call service against the PBX simulator, real RTP on
127.0.0.1, real Vosk (Korean model, grammar mode), real espeak-ng, a real SQLite file."""

from __future__ import annotations

import asyncio
import time
import wave

import aiohttp
import numpy as np
import pytest

from ari_app.ari.rest import AriRestClient
from ari_app.demo import DEMO_CALLER, DEMO_NUMBER, DEMO_PHRASES
from ari_app.demo_caller import ConversationReport, converse, synthesize_phrases
from callwright.dialog.demo_flow import DEMO_FLOW
from callwright.store.turns import Turn
from tests.ari_app.conftest import PASSWORD, Harness, MakeHarness

pytestmark = pytest.mark.slow


async def demo_call(h: Harness, phrases: tuple[str, ...] = DEMO_PHRASES) -> ConversationReport:
    audio = await synthesize_phrases(await h.caller_voice(), phrases, "ko")
    placed = time.monotonic()
    call = await h.sim.place_call(
        dialed=DEMO_NUMBER, caller_number=DEMO_CALLER, caller_name="E2E", app=h.settings.ari.app
    )
    return await converse(call, phrases, audio, placed_at=placed, turn_timeout_s=25)


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0


async def test_a_call_is_answered_understood_answered_recorded_and_logged(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness()
    report = await demo_call(h)

    # The caller heard the greeting, and each reply after speaking; the assistant hung up.
    assert report.greeting_heard_at is not None
    assert all(turn.reply_heard_at is not None for turn in report.turns)
    assert report.ended_by_assistant

    call = await h.closed_call()
    assert call.status == "completed", call.end_reason
    assert call.end_reason == "demo_booked"
    assert call.dialed == DEMO_NUMBER and call.caller_number == DEMO_CALLER
    assert call.answered_at is not None and call.ended_at is not None
    assert call.duration_ms is not None and call.duration_ms > 3000

    turns: list[Turn] = await h.calls.turns(call.id)
    assert [t.speaker for t in turns] == ["assistant", "caller", "assistant", "caller", "assistant"]
    assert [t.text for t in turns if t.speaker == "caller"] == ["안녕하세요", "네"]
    nodes = DEMO_FLOW["nodes"]
    assert turns[0].text == nodes["greet"]["prompt"]
    assert turns[2].text == nodes["offer"]["prompt"]
    assert turns[4].text == nodes["booked"]["text"]
    for reply in (turns[2], turns[4]):
        assert reply.first_frame_ms is not None and reply.first_frame_ms >= 0
    assert all(t.stt_ms is not None for t in turns if t.speaker == "caller")

    kinds = [e.kind for e in await h.calls.events(call.id)]
    assert kinds[:2] == ["stasis_start", "media_connected"]

    # A two-channel recording: caller left, assistant right, as long as the call.
    assert call.recording_path is not None
    with wave.open(call.recording_path) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        frames = wav.readframes(wav.getnframes())
        seconds = wav.getnframes() / 8000
    stereo = np.frombuffer(frames, dtype="<i2").reshape(-1, 2)
    assert abs(seconds * 1000 - call.duration_ms) < 1500
    assert rms(stereo[:, 0]) > 100, "the caller's side is silent"
    assert rms(stereo[:, 1]) > 300, "the assistant's side is silent"
    # Where the caller said 안녕하세요, the left channel carries it.
    said = int((report.turns[0].said_at - report.placed_at) * 8000)
    assert rms(stereo[said : said + 4000, 0]) > 300

    # Nothing is left behind on the PBX: media channel and bridge were deleted by the app.
    async with aiohttp.ClientSession() as session:
        rest = AriRestClient(session, h.sim.ari_url, h.settings.ari.username, PASSWORD)
        assert await rest.list_channels() == []
        assert await rest.list_bridges() == []


async def test_an_unknown_number_hears_a_message_and_is_hung_up(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness()
    call = await h.sim.place_call(dialed="999", caller_number="5550000", app=h.settings.ari.app)
    await call.caller.wait_for_speech(timeout=10)
    await asyncio.wait_for(call.ended(), 15)
    row = await h.closed_call()
    assert row.status == "rejected" and row.end_reason == "unknown_number"
    assert row.org_id is None and row.assistant_id is None


async def test_the_caller_hanging_up_closes_the_record(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness()
    call = await h.sim.place_call(
        dialed=DEMO_NUMBER, caller_number="5551111", app=h.settings.ari.app
    )
    await call.caller.wait_for_speech(timeout=10)
    await call.caller.hangup()
    row = await h.closed_call()
    assert row.status == "completed" and row.end_reason == "caller_hangup"
    assert row.duration_ms is not None
    async with aiohttp.ClientSession() as session:
        rest = AriRestClient(session, h.sim.ari_url, h.settings.ari.username, PASSWORD)
        assert await rest.list_channels() == []
