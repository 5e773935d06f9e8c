"""The call pipeline with in-memory fakes at its edges (no sockets): real pacer clock, real VAD,
endpointing and barge-in, real espeak-ng speech as caller audio, a scripted dialog and STT."""

from __future__ import annotations

import asyncio

from callwright.call.outcome import CallOutcome
from callwright.dialog.actions import CallerTurn, Hangup, Listen, Say
from tests.callwright.call.conftest import MakeRig
from tests.callwright.call.rig import FRAME, ScriptedDialog, speech_pcm, tone, wait_until


async def test_greeting_turn_reply_and_hangup(make_rig: MakeRig) -> None:
    dialog = ScriptedDialog("Hi", {"yes": [Say("Done, bye"), Hangup("assistant_hangup")]})
    rig = make_rig(dialog, ["yes"])
    await wait_until(lambda: rig.transport.voiced_frames() > 5)  # the greeting plays
    await asyncio.sleep(0.3)
    await rig.transport.speak(speech_pcm("yes please"))
    # The caller then sends nothing at all (Asterisk forwards nothing while they are silent):
    outcome = await asyncio.wait_for(rig.task, 10)
    assert outcome == CallOutcome("completed", "assistant_hangup")
    assert [t["speaker"] for t in rig.store.turns] == ["assistant", "caller", "assistant"]
    assert [t["text"] for t in rig.store.turns] == ["Hi", "yes", "Done, bye"]
    assert rig.stt.grammars == [("yes", "no")]
    assert rig.stt.fed_bytes[0] > FRAME * 20  # the whole utterance (with pre-roll) was fed
    reply = rig.store.turns[2]
    assert reply["first_frame_ms"] is not None and 0 <= reply["first_frame_ms"] < 1000
    assert rig.store.turns[1]["stt_ms"] is not None
    assert rig.tts.texts == ["Hi", "Done, bye"]


async def test_a_reply_to_speech_carries_the_gap_the_caller_heard(
    make_rig: MakeRig,
) -> None:
    dialog = ScriptedDialog("Press one or speak", {
        "yes": [Say("Fine"), Listen(dtmf=True)], "1": [Say("One"), Hangup()],
    })
    rig = make_rig(dialog, ["yes"], turn_end=None)  # the fixed end-of-turn silence
    await wait_until(lambda: rig.transport.voiced_frames() > 5)
    await asyncio.sleep(0.3)
    await rig.transport.speak(speech_pcm("yes please"))
    turns = rig.pipeline.journal.turns
    await wait_until(lambda: len(turns) == 3)
    rig.pipeline.on_dtmf("1")
    await asyncio.wait_for(rig.task, 10)
    greeting, caller, spoken, dtmf_reply = turns
    # Caller stopped speaking → first reply frame: the endpointing silence (400 ms) and more.
    assert spoken.heard_gap_ms is not None and spoken.first_frame_ms is not None
    assert spoken.heard_gap_ms >= spoken.first_frame_ms + 300
    assert spoken.heard_gap_ms < 2000
    assert caller.meta == {"grammar": ["yes", "no"], "end": "silence"}
    # No spoken turn before the greeting or a keypad answer: no gap to measure.
    assert greeting.heard_gap_ms is None and dtmf_reply.heard_gap_ms is None


async def test_a_closed_answer_is_answered_after_a_shorter_silence(make_rig: MakeRig) -> None:
    dialog = ScriptedDialog("Yes or no?", {"yes": [Say("Fine"), Hangup()]})
    rig = make_rig(dialog, ["yes"])  # the recogniser's partial never matches: "…"
    await wait_until(lambda: rig.transport.voiced_frames() > 5)
    await asyncio.sleep(0.3)
    await rig.transport.speak(speech_pcm("yes"))
    await asyncio.wait_for(rig.task, 10)
    _, caller, spoken = rig.pipeline.journal.turns
    # A closed answer not (yet) in the partial: 250 ms of silence, not end_silence_ms (400).
    assert caller.meta == {"grammar": ["yes", "no"], "end": "closed"}
    assert spoken.heard_gap_ms is not None and spoken.first_frame_ms is not None
    assert spoken.heard_gap_ms < spoken.first_frame_ms + 400


async def test_barge_in_cuts_the_reply_and_logs_what_was_heard(
    make_rig: MakeRig,
) -> None:
    long_text = "This is a very long announcement that goes on and on " * 3
    dialog = ScriptedDialog(long_text, {"no": [Say("Okay"), Hangup()]})
    rig = make_rig(dialog, ["no"])
    await wait_until(lambda: rig.transport.voiced_frames() > 25)  # half a second in
    await rig.transport.speak(speech_pcm("no no stop"))
    outcome = await asyncio.wait_for(rig.task, 10)
    assert outcome.reason == "assistant_hangup"
    first = rig.store.turns[0]
    assert first["speaker"] == "assistant" and first["interrupted"] is True
    assert 0 < len(first["text"]) < len(long_text.strip())
    assert dialog.interrupted == [first["text"]]
    assert rig.pipeline.barge_ins == 1
    assert ("barge_in", {"why": "barge_in", "heard": first["text"]}) in rig.store.events
    # The greeting would have played for ~9.5 s; it stopped right after the caller spoke.
    assert rig.transport.voiced_frames() < 9000 // 20


async def test_a_noise_burst_does_not_interrupt(make_rig: MakeRig) -> None:
    text = "Please listen to the whole of this message"
    dialog = ScriptedDialog(text, {})
    rig = make_rig(dialog, [])
    await wait_until(lambda: rig.transport.voiced_frames() > 10)
    await rig.transport.speak(tone(80, level=12000))
    await wait_until(lambda: bool(rig.store.turns), within_s=8)
    assert rig.store.turns[0]["interrupted"] is False
    assert rig.store.turns[0]["text"] == text
    assert rig.pipeline.barge_ins == 0
    assert dialog.interrupted == []


async def test_a_recogniser_failing_turn_after_turn_ends_the_call_politely(
    make_rig: MakeRig,
) -> None:
    dialog = ScriptedDialog("Hi", {})
    rig = make_rig(dialog, fail_stt=True, max_stt_failures=2)
    await wait_until(lambda: rig.transport.voiced_frames() > 3)
    await asyncio.sleep(0.2)
    await rig.transport.speak(speech_pcm("hello"))
    # Asked again once (see test_pipeline_failures.py), then the second failure ends the call.
    await wait_until(lambda: rig.pipeline.settings.repeat_text in rig.tts.texts, within_s=8)
    await asyncio.sleep(1.5)
    before = rig.transport.voiced_frames()
    await rig.transport.speak(speech_pcm("hello"))
    outcome = await asyncio.wait_for(rig.task, 15)
    assert outcome.status == "failed" and "recogniser died" in outcome.reason
    assert rig.transport.voiced_frames() > before + 20  # the apology was played
    assert rig.tts.texts[-1] == rig.pipeline.settings.apology_text
    assert rig.kinds().count("stt_error") == 2 and "error" in rig.kinds()


async def test_dtmf_is_a_caller_turn(make_rig: MakeRig) -> None:
    dialog = ScriptedDialog("Press one", {"1": [Say("One it is"), Hangup()]})
    rig = make_rig(dialog, [])
    await wait_until(lambda: rig.transport.voiced_frames() > 3)
    rig.pipeline.on_dtmf("1")
    outcome = await asyncio.wait_for(rig.task, 10)
    assert outcome.reason == "assistant_hangup"
    assert dialog.turns == [CallerTurn("", dtmf="1")]


async def test_a_typed_turn_is_a_caller_turn_that_cuts_the_reply(make_rig: MakeRig) -> None:
    dialog = ScriptedDialog("Hello, this greeting is long enough to be cut short by a typed turn",
                            {"yes": [Say("Typed it"), Hangup()]})
    rig = make_rig(dialog, [])
    await wait_until(lambda: rig.transport.voiced_frames() > 3)
    rig.pipeline.caller_typed("yes")
    outcome = await asyncio.wait_for(rig.task, 10)
    assert outcome.reason == "assistant_hangup"
    assert dialog.turns == [CallerTurn("yes")]
    turns = rig.store.turns
    assert [(t["speaker"], t["interrupted"]) for t in turns] == [
        ("caller", False), ("assistant", True), ("assistant", False)
    ]
    assert (turns[0]["text"], turns[2]["text"]) == ("yes", "Typed it")
    assert turns[1]["text"] != dialog.greeting  # the greeting was cut: only what was heard


async def test_a_silent_caller_is_hung_up_after_the_backstop(make_rig: MakeRig) -> None:
    rig = make_rig(ScriptedDialog("Hello there, anyone?", {}), silence_hangup_s=0.6)
    started = asyncio.get_running_loop().time()
    outcome = await asyncio.wait_for(rig.task, 10)
    assert outcome == CallOutcome("completed", "caller_silent")
    greeting_s = 60 * len("Hello there, anyone?") / 1000
    # Counted from the end of the greeting, not from the start of the call.
    assert asyncio.get_running_loop().time() - started > greeting_s + 0.5


async def test_a_reply_cut_by_the_caller_hanging_up_is_logged_as_heard(
    make_rig: MakeRig,
) -> None:
    text = "A rather long welcome message that the caller will not wait for"
    rig = make_rig(ScriptedDialog(text, {}))
    await wait_until(lambda: rig.transport.voiced_frames() > 40)
    rig.pipeline.end(CallOutcome("completed", "caller_hangup"))
    outcome = await asyncio.wait_for(rig.task, 5)
    assert outcome.reason == "caller_hangup"
    (turn,) = rig.store.turns
    assert turn["interrupted"] is True
    assert 0 < len(turn["text"]) < len(text) and text.startswith(turn["text"].rstrip("…"))
