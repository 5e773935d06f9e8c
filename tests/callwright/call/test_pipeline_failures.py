"""Dependencies that fail during a call (issue 11, item 4): the recogniser crashes or hangs, the
TTS engine fails or hangs, the disk fills up under the recording. The call goes on (degraded, with
an event on its timeline) and another call on the same clock is not slowed down."""

from __future__ import annotations

import asyncio
import time
import wave
from pathlib import Path

import numpy as np

from callwright.call.outcome import CallOutcome
from callwright.dialog.actions import CallerTurn, Hangup, Say
from callwright.media.recorder import StereoWavRecorder
from tests.callwright.call.conftest import MakeRig
from tests.callwright.call.rig import (
    FakeStt,
    Rig,
    ScriptedDialog,
    ToneTts,
    speech_pcm,
    wait_until,
)
from tests.fakes.tiny_disk import tiny_tmpfs

RATE = 8000


def yes_then_bye() -> ScriptedDialog:
    return ScriptedDialog("Hi", {"yes": [Say("Done, bye"), Hangup("assistant_hangup")]})


async def greeted(rig: Rig) -> None:
    await wait_until(lambda: rig.transport.voiced_frames() > 3)
    await wait_until(lambda: bool(rig.store.turns))  # the greeting has been played whole
    await asyncio.sleep(0.2)


async def heard(rig: Rig, text: str, within_s: float = 8.0) -> float:
    """Wait until ``text`` has been played to the caller; when its first frame went out."""
    sent = len(rig.transport.sent)
    await wait_until(lambda: any(t["text"] == text for t in rig.store.turns), within_s)
    return rig.transport.first_voiced_at(after=sent)


async def test_a_crashed_recogniser_asks_the_caller_again_and_the_call_goes_on(
    make_rig: MakeRig,
) -> None:
    rig = make_rig(yes_then_bye(), stt=FakeStt(["yes"], crash_turns={0}))
    await greeted(rig)
    await rig.transport.speak(speech_pcm("yes please"))
    said_at = time.monotonic()
    asked_at = await heard(rig, rig.pipeline.settings.repeat_text)
    assert asked_at - said_at < 1.5  # the end of turn (400 ms) and the line: no long silence
    await asyncio.sleep(0.3)
    await rig.transport.speak(speech_pcm("yes please"))
    outcome = await asyncio.wait_for(rig.task, 10)
    assert outcome == CallOutcome("completed", "assistant_hangup")
    assert [(t["speaker"], t["text"]) for t in rig.store.turns] == [
        ("assistant", "Hi"),
        ("assistant", rig.pipeline.settings.repeat_text),
        ("caller", "yes"),
        ("assistant", "Done, bye"),
    ]
    # The dialog saw one answer only: it still waited for it when the recogniser failed.
    assert rig.dialog.turns == [CallerTurn("yes", confidence=0.9)]
    (error,) = [d for kind, d in rig.store.events if kind == "stt_error"]
    assert error == {"message": "recogniser died", "in_a_row": 1}
    # The grammar of the dialog's Listen held for the turn after the failure too.
    assert rig.stt.grammars == [("yes", "no"), ("yes", "no")]


async def test_a_hung_recogniser_is_given_up_at_its_deadline(make_rig: MakeRig) -> None:
    rig = make_rig(yes_then_bye(), stt=FakeStt(["yes"], hang_turns={0}), stt_timeout_s=1.0)
    await greeted(rig)
    said = speech_pcm("yes please")
    await rig.transport.speak(said)
    # espeak's ~300 ms of trailing silence was sent too: the turn may have ended within it
    said_at = time.monotonic() - trailing_silence_s(said)
    asked_at = await heard(rig, rig.pipeline.settings.repeat_text)
    # The 1 s deadline after the end of the turn, not the endless silence of a hung worker.
    assert 1.0 < asked_at - said_at < 2.5
    (error,) = [d for kind, d in rig.store.events if kind == "stt_error"]
    assert "no result within 1 s" in error["message"]
    await wait_until(lambda: rig.stt.streams[0].closed)  # the hung turn's stream was let go
    await asyncio.sleep(0.3)
    await rig.transport.speak(speech_pcm("yes please"))
    outcome = await asyncio.wait_for(rig.task, 10)
    assert outcome.reason == "assistant_hangup"
    assert [t["text"] for t in rig.store.turns if t["speaker"] == "caller"] == ["yes"]


async def test_a_failing_tts_engine_hands_its_sentences_to_the_fallback(
    make_rig: MakeRig,
) -> None:
    dialog = ScriptedDialog("Hello there", {"1": [Say("One it is"), Hangup()]})
    primary, fallback = ToneTts("piper", fail=True), ToneTts("espeak-ng")
    rig = make_rig(dialog, tts=primary, fallback_tts=fallback, fallback_voice="en-us")
    await greeted(rig)
    assert rig.store.turns[0]["text"] == "Hello there"  # heard, in the fallback's voice
    rig.pipeline.on_dtmf("1")
    outcome = await asyncio.wait_for(rig.task, 10)
    assert outcome.reason == "assistant_hangup"
    assert fallback.texts == ["Hello there", "One it is"]
    assert fallback.voices == ["en-us", "en-us"]
    # After a failure the fallback speaks for a while: the dead engine is not tried per sentence.
    assert primary.texts == ["Hello there"]
    (event,) = [d for kind, d in rig.store.events if kind == "tts_fallback"]
    assert event == {"text": "Hello there", "error": "piper crashed"}


async def test_a_hanging_tts_engine_is_given_up_at_its_deadline(make_rig: MakeRig) -> None:
    primary, fallback = ToneTts("openai", hang=True), ToneTts("espeak-ng")
    started = time.monotonic()
    rig = make_rig(ScriptedDialog("Hello there", {}), tts=primary, fallback_tts=fallback,
                   tts_timeout_s=0.5)
    await wait_until(lambda: rig.transport.voiced_frames() > 0)
    assert 0.5 <= time.monotonic() - started < 1.2
    await wait_until(lambda: "tts_fallback" in rig.kinds())
    assert "no audio within 0.5 s" in rig.store.events[0][1]["error"]


async def test_a_full_disk_stops_the_recording_and_the_call_goes_on(
    make_rig: MakeRig, tmp_path: Path
) -> None:
    with tiny_tmpfs(tmp_path / "disk", size_kb=48) as disk:
        path = disk / "call.wav"
        recorder = StereoWavRecorder(path, RATE)
        long_greeting = "Welcome to the shop, we are glad you called us today"  # ~3 s
        dialog = ScriptedDialog(long_greeting, {"yes": [Say("Done, bye"), Hangup()]})
        rig = make_rig(dialog, ["yes"], recorder=recorder)
        # 48 KiB hold about 1.5 s of stereo 8 kHz audio: the disk fills during the greeting.
        await wait_until(lambda: "recording_stopped" in rig.kinds(), within_s=8)
        await greeted(rig)
        await rig.transport.speak(speech_pcm("yes please"))
        outcome = await asyncio.wait_for(rig.task, 10)
        assert outcome.reason == "assistant_hangup"  # the call went on and ended normally
        assert [t["text"] for t in rig.store.turns] == [long_greeting, "yes", "Done, bye"]
        (event,) = [d for kind, d in rig.store.events if kind == "recording_stopped"]
        assert event["reason"] == "write_failed" and "No space left" in event["error"]
        assert rig.pipeline.recording_error is not None
        # What was written before the disk filled is kept, readable, as the session closes it.
        info = recorder.close()
        assert info.error is rig.pipeline.recording_error
        with wave.open(str(path)) as wav:
            assert wav.getnchannels() == 2 and 0.5 < wav.getnframes() / RATE < 1.6
            assert abs(wav.getnframes() * 1000 // RATE - info.duration_ms) <= 1


async def test_failing_dependencies_of_one_call_do_not_slow_another(
    make_rig: MakeRig, tmp_path: Path
) -> None:
    """Two calls on one clock: the first one's recogniser hangs, its TTS fails and its disk is
    full; the second one's reply comes as fast as it would alone, its audio without gaps."""
    with tiny_tmpfs(tmp_path / "disk", size_kb=16) as disk:
        recorder = StereoWavRecorder(disk / "sick.wav", RATE)
        sick = make_rig(
            yes_then_bye(), stt=FakeStt(["yes"], hang_turns={0}), stt_timeout_s=1.0,
            tts=ToneTts("piper", fail=True), fallback_tts=ToneTts("espeak-ng"),
            recorder=recorder, uid="sick",
        )
        healthy = make_rig(yes_then_bye(), ["yes"], uid="healthy")
        await greeted(sick)
        await greeted(healthy)
        await asyncio.gather(sick.transport.speak(speech_pcm("yes please")),
                             healthy.transport.speak(speech_pcm("yes please")))
        outcome = await asyncio.wait_for(healthy.task, 10)
        assert outcome.reason == "assistant_hangup"
        reply = healthy.store.turns[-1]
        assert reply["text"] == "Done, bye"
        assert reply["first_frame_ms"] is not None and reply["first_frame_ms"] < 200
        # Its audio went out every 20 ms all along (the pacer sends silence between replies).
        assert healthy.transport.longest_gap_s() < 0.15
        await heard(sick, sick.pipeline.settings.repeat_text)
        assert {"stt_error", "tts_fallback", "recording_stopped"} <= set(sick.kinds())
        sick.pipeline.end(CallOutcome("completed", "caller_hangup"))
        await asyncio.wait_for(sick.task, 5)
        recorder.close()


def trailing_silence_s(pcm: bytes) -> float:
    """How long ``pcm`` (PCM16 at the rig's rate) is silent at its end."""
    samples = np.frombuffer(pcm, dtype=np.int16)
    loud = np.nonzero(np.abs(samples) > 100)[0]
    return (len(samples) - (int(loud[-1]) + 1 if loud.size else 0)) / RATE
