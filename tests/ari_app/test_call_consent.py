"""Consent on the call (issue 12, item 1) on the PBX simulator: a recorded call opens with the
assistant's consent notice, which is the recording's first audio; the opt-out key stops the
recording at once, deletes it and marks the row ``recording_declined``."""

from __future__ import annotations

import asyncio
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from ari_app.demo import DEMO_NUMBER
from ari_app.demo_caller import converse, synthesize_phrases
from ari_app.simulator.caller import FRAME_BYTES, frame_rms
from callwright.dialog.demo_flow import DEMO_FLOW
from callwright.privacy.restrictions import NOT_TRANSCRIBED, CallerRestrictionRepository
from callwright.privacy.secrets import MasterKey
from tests.ari_app.conftest import Harness, MakeHarness
from tests.fakes.openai_server import Reply, ScriptedOpenAI, ToolCall

pytestmark = pytest.mark.slow

NOTICE = "This call is recorded to improve our service. Press nine to refuse."


async def with_notice(h: Harness) -> None:
    assert h.service.db is not None
    await h.service.db.execute("UPDATE assistants SET consent_prompt = ?", (NOTICE,))


def voiced(pcm: bytes, threshold: float = 300.0) -> list[tuple[float, float]]:
    """Stretches of sound (seconds) in 8 kHz PCM16, joined across pauses under 200 ms."""
    found: list[tuple[float, float]] = []
    for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES):
        if frame_rms(pcm[i : i + FRAME_BYTES]) < threshold:
            continue
        start, end = i / 16000, (i + FRAME_BYTES) / 16000
        if found and start - found[-1][1] < 0.2:
            found[-1] = (found[-1][0], end)
        else:
            found.append((start, end))
    return found


async def test_the_notice_opens_the_call_and_the_recording(make_harness: MakeHarness) -> None:
    h = await make_harness()
    await with_notice(h)
    call = await h.sim.place_call(dialed=DEMO_NUMBER, caller_number="5554200",
                                  app=h.settings.ari.app)
    await call.caller.wait_for_speech(timeout=10)
    await call.caller.wait_until_quiet(1500, timeout=30)
    await call.caller.hangup()
    row = await h.closed_call()
    turns = await h.calls.turns(row.id)
    # The notice, then the dialog's own opening (one assistant turn: said back to back).
    assert turns[0].speaker == "assistant"
    assert turns[0].text == f"{NOTICE} {DEMO_FLOW['nodes']['greet']['prompt']}"

    heard = voiced(call.caller.heard_pcm())
    assert row.recording_path is not None
    with wave.open(row.recording_path) as wav:
        stereo = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    recorded = voiced(stereo[:, 1].tobytes())
    assert heard and recorded, (heard, recorded)
    # The recording's first sound is the notice, from its first words: it starts within the
    # first second of the file and lasts as long as what the caller first heard; the file holds
    # nothing (either side) before it.
    assert recorded[0][0] < 1.0, recorded
    assert abs((recorded[0][1] - recorded[0][0]) - (heard[0][1] - heard[0][0])) < 0.4, (
        heard, recorded)
    assert np.abs(stereo[: int(recorded[0][0] * 8000), :]).max(initial=0) < 300


async def test_the_opt_out_key_stops_and_deletes_the_recording(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness()
    await with_notice(h)
    call = await h.sim.place_call(dialed=DEMO_NUMBER, caller_number="5554201",
                                  app=h.settings.ari.app)
    await call.caller.wait_for_speech(timeout=10)
    await asyncio.sleep(1.0)
    await call.caller.send_dtmf("9")
    await asyncio.sleep(1.5)
    await call.caller.hangup()
    row = await h.closed_call()
    assert row.recording_declined and row.recording_path is None
    assert row.status == "completed" and row.end_reason == "caller_hangup"
    recordings = Path(h.settings.recordings.dir)
    assert not [p for p in recordings.rglob("*") if p.is_file()]  # noqa: ASYNC240
    events = [(e.kind, e.detail) for e in await h.calls.events(row.id)]
    assert ("recording_declined", {"how": "key 9"}) in events
    assert not any(kind == "dtmf" for kind, _ in events)  # the key was not the dialog's


async def test_other_keys_still_reach_the_dialog_and_the_recording_is_kept(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness(env={"CALLWRIGHT_RECORDINGS_OPTOUT_DIGIT": "#"})
    await with_notice(h)
    call = await h.sim.place_call(dialed=DEMO_NUMBER, caller_number="5554202",
                                  app=h.settings.ari.app)
    await call.caller.wait_for_speech(timeout=10)
    await call.caller.send_dtmf("9")
    await asyncio.sleep(1.0)
    await call.caller.hangup()
    row = await h.closed_call()
    assert not row.recording_declined and row.recording_path is not None
    assert Path(row.recording_path).exists()  # noqa: ASYNC240


async def test_the_org_notice_opens_the_call_and_the_notice_key_plays_the_privacy_notice(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness()
    assert h.service.db is not None
    await h.service.db.execute("UPDATE orgs SET consent_prompt = ?, privacy_notice = ?",
                               (NOTICE, "We keep recordings for ninety days."))
    call = await h.sim.place_call(dialed=DEMO_NUMBER, caller_number="5554203",
                                  app=h.settings.ari.app)
    await call.caller.wait_for_speech(timeout=10)
    await call.caller.wait_until_quiet(1000, timeout=30)
    await call.caller.send_dtmf("0")
    await call.caller.wait_for_speech(timeout=10)
    await call.caller.wait_until_quiet(1000, timeout=30)
    await call.caller.hangup()
    row = await h.closed_call()
    texts = [t.text for t in await h.calls.turns(row.id) if t.speaker == "assistant"]
    assert texts[0].startswith(NOTICE)
    assert "We keep recordings for ninety days." in texts
    assert row.recording_path is not None and not row.recording_declined


async def test_the_llm_path_opens_with_the_notice_and_understands_an_untranscribed_caller(
    make_harness: MakeHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same session layer serves an LLM assistant: the notice first; a caller restricted
    to ``transcribe`` is understood by the LLM (their words in its request) but not stored."""
    monkeypatch.setenv("CALLWRIGHT_LLM_API_KEY", "sk-test-consent")
    reply = Reply.text("네, 알겠습니다.", tool_calls=[ToolCall("end_call", {"reason": "done"})])
    async with ScriptedOpenAI([reply]) as llm:
        h = await make_harness(flow=None, greeting="안녕하세요, 무엇을 도와드릴까요?", env={
            "CALLWRIGHT_LLM_BASE_URL": llm.base_url, "CALLWRIGHT_LLM_MODEL": "scripted-model",
        })
        await with_notice(h)
        assert h.service.db is not None
        [org] = await h.service.db.fetch_all("SELECT org_id FROM assistants")
        restrictions = CallerRestrictionRepository(
            h.service.db, MasterKey.load_or_create(h.settings.server.master_key_file))
        await restrictions.restrict(org["org_id"], "5554204", frozenset({"transcribe"}))
        audio = await synthesize_phrases(await h.caller_voice(), ["안녕하세요"], "ko")
        placed = time.monotonic()
        call = await h.sim.place_call(dialed=DEMO_NUMBER, caller_number="5554204",
                                      app=h.settings.ari.app)
        report = await converse(call, ["안녕하세요"], audio, placed_at=placed, turn_timeout_s=25)
        assert report.ended_by_assistant
        row = await h.closed_call()
        turns = await h.calls.turns(row.id)
        assert [t.speaker for t in turns] == ["assistant", "caller", "assistant"]
        assert {t.text for t in turns} == {NOT_TRANSCRIBED}
        (request,) = llm.requests
        assert request.messages[-1]["role"] == "user"
        # The LLM had the words recognised (free speech: not always what was said), in memory.
        heard = request.messages[-1]["content"]
        assert heard.strip() and heard != NOT_TRANSCRIBED
        assert row.recording_path is not None
        with wave.open(row.recording_path) as wav:
            assert wav.getnframes() > 8000
