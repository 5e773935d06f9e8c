"""Eager end of turn in a whole call (the pipeline on the in-memory rig, caller audio in real
time): a reply prepared on a likely end that the caller then talks past is never heard; one
confirmed is played, and the turn log says how each turn's eager end went."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Sequence

import numpy as np
import pytest

from bench.turn_corpus import synthesize
from callwright.dialog.actions import CallContext, CallerTurn, DialogAction, Listen, Say
from callwright.dialog.speculation import SideEffectGate
from callwright.speech.protocols import Transcript
from callwright.speech.turn_end import TurnEndConfig
from tests.callwright.call.conftest import MakeRig
from tests.callwright.call.rig import (
    RATE,
    FakeStream,
    FakeStt,
    ScriptedDialog,
    ToneTts,
    tone,
    wait_until,
)

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                reason="espeak-ng is a system dependency (make system-deps)")

#: The level of the audio of a reply to the first word alone, which must never be heard.
MARKED = 3000
#: Silences long enough to survive a loaded machine's timing: a likely end after 100 ms of
#: silence, the end of a complete answer after 450 ms; the caller pauses 250 ms.
TURN_END = TurnEndConfig(complete_silence_ms=450.0, eager_silence_ms=100.0)


class UndoableDialog(ScriptedDialog):
    """Answers "You said <words>." (state: the turns answered, taken back by ``restore``)."""

    def __init__(self) -> None:
        super().__init__("Hello.", {})
        self.side_effects = SideEffectGate()
        self.answered: list[str] = []
        self.started: list[str] = []

    async def begin(self, ctx: CallContext) -> AsyncIterator[DialogAction]:
        yield Say(self.greeting)
        yield Listen(grammar=("yes", "no"), no_input_s=30)

    async def on_caller_turn(self, turn: CallerTurn) -> AsyncIterator[DialogAction]:
        self.started.append(turn.text)
        self.answered.append(turn.text)
        yield Say(f"You said {turn.text}.")
        yield Listen(grammar=("yes", "no"), no_input_s=30)

    def snapshot(self) -> object:
        return list(self.answered)

    def restore(self, snapshot: object) -> None:
        assert isinstance(snapshot, list)
        self.answered = list(snapshot)


class MarkedTts(ToneTts):
    """The reply to "yes" alone is a quieter tone (``MARKED``), any other text the usual one."""

    async def synthesize(self, text: str, sample_rate: int, voice: str | None = None) -> bytes:
        self.texts.append(text)
        return tone(400, MARKED if text == "You said yes." else 8000)


class WordsStream(FakeStream):
    """Its partial is "yes" until the audio fed reaches ``words_at``, then "yes no"."""

    words_at = 0

    def partial(self) -> str:
        return "yes" if self.fed < self.words_at else "yes no"

    async def finish(self) -> Transcript:
        return Transcript(self.partial(), 0.9)


class WordsStt(FakeStt):
    def __init__(self, words_at: int) -> None:
        super().__init__()
        self.words_at = words_at

    async def open_stream(
        self, sample_rate: int, grammar: Sequence[str] | None = None
    ) -> FakeStream:
        stream = WordsStream(self)
        stream.words_at = self.words_at
        self.streams.append(stream)
        return stream


def peaks(frames: list[bytes]) -> list[int]:
    return [int(np.abs(np.frombuffer(f, np.int16)).max()) for f in frames]


def speech_pcm(text: str) -> bytes:
    """espeak-ng's ``text`` without its leading and trailing silence."""
    return synthesize(text, "en").tobytes()


def silence(ms: int) -> bytes:
    return b"\0\0" * (RATE * ms // 1000)


async def test_a_reply_prepared_then_talked_past_is_never_heard(make_rig: MakeRig) -> None:
    yes, no = speech_pcm("yes"), speech_pcm("no")
    # "yes no" is in the partial once some of the audio of "no" was fed (the caller's line was
    # silent before: no pre-roll).
    words_at = len(yes) + len(silence(250)) + len(no) // 4
    dialog = UndoableDialog()
    rig = make_rig(dialog, stt=WordsStt(words_at), tts=MarkedTts(), turn_end=TURN_END)
    await wait_until(lambda: rig.transport.voiced_frames() > 5)  # the greeting plays
    await asyncio.sleep(1.0)  # and ends
    heard_before = len(rig.transport.sent)
    await rig.transport.speak(yes + silence(250) + no + silence(100))
    await wait_until(lambda: any(t["speaker"] == "assistant" and t["text"] == "You said yes no."
                                 for t in rig.store.turns), within_s=10)
    await asyncio.sleep(0.6)  # the reply plays
    # A reply to "yes" alone was prepared on the likely end, then taken back.
    assert dialog.started[0] == "yes"
    assert "You said yes." in rig.tts.texts
    assert dialog.answered == ["yes no"]
    caller = [t for t in rig.store.turns if t["speaker"] == "caller"]
    assert [t["text"] for t in caller] == ["yes no"]
    assert caller[0]["meta"]["eager"] in ("kept", "cancelled")
    if caller[0]["meta"]["eager"] == "kept":
        assert caller[0]["meta"]["eager_cancelled"] >= 1
    # Not one frame of it reached the caller; the reply to the whole turn did.
    after = peaks(rig.transport.sent[heard_before:])
    assert not any(MARKED - 500 < p < MARKED + 500 for p in after)
    assert sum(1 for p in after if p > 7000) > 10
    assert [t["text"] for t in rig.store.turns if t["speaker"] == "assistant"] == [
        "Hello.", "You said yes no."]


async def test_a_reply_prepared_on_a_likely_end_is_played_when_confirmed(
    make_rig: MakeRig,
) -> None:
    yes = speech_pcm("yes")
    dialog = UndoableDialog()
    rig = make_rig(dialog, stt=WordsStt(10**9), tts=ToneTts(), turn_end=TURN_END)
    await wait_until(lambda: rig.transport.voiced_frames() > 5)
    await asyncio.sleep(1.0)
    await rig.transport.speak(yes + silence(600))
    await wait_until(lambda: any(t["speaker"] == "assistant" and t["text"] == "You said yes."
                                 for t in rig.store.turns), within_s=10)
    assert dialog.started == ["yes"] and dialog.answered == ["yes"]  # one step, kept
    [caller] = [t for t in rig.store.turns if t["speaker"] == "caller"]
    assert caller["meta"]["eager"] == "kept" and caller["meta"]["end"] == "complete"
    assert rig.tts.texts == ["Hello.", "You said yes."]


async def test_eager_off_prepares_nothing(make_rig: MakeRig) -> None:
    dialog = UndoableDialog()
    rig = make_rig(dialog, stt=WordsStt(10**9), tts=ToneTts(), turn_end=TURN_END, eager=False)
    await wait_until(lambda: rig.transport.voiced_frames() > 5)
    await asyncio.sleep(1.0)
    await rig.transport.speak(speech_pcm("yes") + silence(600))
    await wait_until(lambda: any(t["speaker"] == "assistant" and t["text"] == "You said yes."
                                 for t in rig.store.turns), within_s=10)
    [caller] = [t for t in rig.store.turns if t["speaker"] == "caller"]
    assert "eager" not in caller["meta"] and dialog.started == ["yes"]
