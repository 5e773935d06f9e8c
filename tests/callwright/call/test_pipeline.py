"""The call pipeline with in-memory fakes at its edges (no sockets): real pacer clock, real VAD,
endpointing and barge-in, real espeak-ng speech as caller audio, a scripted dialog and STT."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import soxr

from callwright.call.journal import CallJournal
from callwright.call.outcome import CallOutcome
from callwright.call.pipeline import CallPipeline
from callwright.call.pipeline_settings import PipelineSettings
from callwright.dialog.actions import (
    CallContext,
    CallerTurn,
    DialogAction,
    Hangup,
    Listen,
    Say,
)
from callwright.errors import SpeechError
from callwright.media.pacer import PacerClock
from callwright.media.transport import FrameSink, MediaFormat
from callwright.speech.barge_in import BargeInConfig
from callwright.speech.endpointing import EndpointingConfig
from callwright.speech.protocols import Transcript

RATE = 8000
FRAME = 320


def speech_pcm(text: str, voice: str = "en-us") -> bytes:
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "--stdout", text], check=True, capture_output=True
    ).stdout
    samples = np.frombuffer(wav[44:], dtype=np.int16)
    return np.asarray(soxr.resample(samples, 22050, RATE), dtype=np.int16).tobytes()


def tone(ms: int, level: int = 8000) -> bytes:
    t = np.arange(RATE * ms // 1000) / RATE
    return (np.sin(2 * np.pi * 440 * t) * level).astype(np.int16).tobytes()


class FakeTransport:
    def __init__(self) -> None:
        self.format = MediaFormat("ulaw", RATE)
        self.sent: list[bytes] = []
        self.on_frame: FrameSink | None = None

    async def start(self, on_frame: FrameSink, on_closed: Callable[[str], None]) -> None:
        self.on_frame = on_frame

    def send_frame(self, pcm: bytes) -> None:
        self.sent.append(pcm)

    async def close(self) -> None:
        return None

    def voiced_frames(self) -> int:
        return sum(1 for f in self.sent if np.abs(np.frombuffer(f, np.int16)).max() > 500)

    async def speak(self, pcm: bytes) -> None:
        """Deliver caller audio in real time, 20 ms a frame, like Asterisk does."""
        assert self.on_frame is not None
        for i in range(0, len(pcm), FRAME):
            frame = pcm[i : i + FRAME].ljust(FRAME, b"\0")
            self.on_frame(frame)
            await asyncio.sleep(0.02)


class FakeStream:
    def __init__(self, engine: FakeStt) -> None:
        self.engine = engine
        self.fed = 0

    def feed(self, pcm: bytes) -> None:
        self.fed += len(pcm)

    def partial(self) -> str:
        return "…" if self.fed else ""

    async def finish(self) -> Transcript:
        if self.engine.fail:
            raise SpeechError("recogniser died")
        self.engine.fed_bytes.append(self.fed)
        text = self.engine.answers.pop(0) if self.engine.answers else ""
        return Transcript(text, 0.9)

    async def close(self) -> None:
        return None


@dataclass
class FakeStt:
    answers: list[str] = field(default_factory=list)
    fail: bool = False
    grammars: list[tuple[str, ...] | None] = field(default_factory=list)
    fed_bytes: list[int] = field(default_factory=list)
    name: str = "fake"

    async def open_stream(
        self, sample_rate: int, grammar: Sequence[str] | None = None
    ) -> FakeStream:
        self.grammars.append(tuple(grammar) if grammar else None)
        return FakeStream(self)

    async def close(self) -> None:
        return None


class ToneTts:
    """Synthesises 60 ms of tone per character: long texts take long to play."""

    name = "tone"

    def __init__(self) -> None:
        self.texts: list[str] = []

    async def synthesize(self, text: str, sample_rate: int, voice: str | None = None) -> bytes:
        self.texts.append(text)
        return tone(min(8000, 60 * len(text)))


class ScriptedDialog:
    def __init__(self, greeting: str, replies: dict[str, list[DialogAction]]) -> None:
        self.greeting = greeting
        self.replies = replies
        self.turns: list[CallerTurn] = []
        self.interrupted: list[str] = []

    async def begin(self, ctx: CallContext) -> AsyncIterator[DialogAction]:
        yield Say(self.greeting)
        yield Listen(grammar=("yes", "no"), no_input_s=30)

    async def on_caller_turn(self, turn: CallerTurn) -> AsyncIterator[DialogAction]:
        self.turns.append(turn)
        for action in self.replies.get(turn.text or turn.dtmf, [Say("Pardon?"), Listen()]):
            yield action

    async def on_no_input(self) -> AsyncIterator[DialogAction]:
        yield Hangup("no_input")

    def on_interrupted(self, heard: str) -> None:
        self.interrupted.append(heard)

    def node_id(self) -> str | None:
        return "test"


class MemoryTurns:
    def __init__(self) -> None:
        self.turns: list[dict[str, Any]] = []
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def add_turn(self, call_id: int, seq: int, speaker: str, text: str, started_at: str,
                       ended_at: str | None = None, interrupted: bool = False,
                       stt_ms: int | None = None, dialog_ms: int | None = None,
                       tts_ms: int | None = None, first_frame_ms: int | None = None,
                       confidence: float | None = None,
                       meta: dict[str, Any] | None = None) -> int:
        self.turns.append(dict(seq=seq, speaker=speaker, text=text, interrupted=interrupted,
                               stt_ms=stt_ms, first_frame_ms=first_frame_ms, tts_ms=tts_ms))
        return seq

    async def add_event(self, call_id: int, kind: str, detail: dict[str, Any] | None = None) -> int:
        self.events.append((kind, detail or {}))
        return len(self.events)


@dataclass
class Rig:
    pipeline: CallPipeline
    transport: FakeTransport
    stt: FakeStt
    tts: ToneTts
    dialog: ScriptedDialog
    store: MemoryTurns
    task: asyncio.Task[CallOutcome]


@pytest.fixture
async def make_rig() -> AsyncIterator[Callable[..., Rig]]:
    clock = PacerClock()
    clock.start()
    rigs: list[Rig] = []

    def make(dialog: ScriptedDialog, answers: Sequence[str] = (), *, fail_stt: bool = False,
             barge_in: bool = True, silence_hangup_s: float = 0.0) -> Rig:
        transport, tts, store = FakeTransport(), ToneTts(), MemoryTurns()
        stt = FakeStt(list(answers), fail_stt)
        pipeline = CallPipeline(
            transport=transport, stt=stt, tts=tts, dialog=dialog,
            ctx=CallContext("uid1", "5551234", "100", "en"),
            journal=CallJournal(store, 1), clock=clock,
            settings=PipelineSettings(
                language="en", voice=None,
                endpointing=EndpointingConfig(end_silence_ms=400),
                barge_in=BargeInConfig(enabled=barge_in, min_speech_ms=200),
                silence_hangup_s=silence_hangup_s,
            ),
        )
        task = asyncio.get_running_loop().create_task(pipeline.run())
        rig = Rig(pipeline, transport, stt, tts, dialog, store, task)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        if not rig.task.done():
            rig.pipeline.end(CallOutcome("completed", "test_end"))
            await asyncio.wait_for(rig.task, 5)
    await clock.stop()


async def wait_until(check: Callable[[], bool], within_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def test_greeting_turn_reply_and_hangup(make_rig: Callable[..., Rig]) -> None:
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
    make_rig: Callable[..., Rig],
) -> None:
    dialog = ScriptedDialog("Press one or speak", {
        "yes": [Say("Fine"), Listen(dtmf=True)], "1": [Say("One"), Hangup()],
    })
    rig = make_rig(dialog, ["yes"])
    await wait_until(lambda: rig.transport.voiced_frames() > 5)
    await asyncio.sleep(0.3)
    await rig.transport.speak(speech_pcm("yes please"))
    turns = rig.pipeline.journal.turns
    await wait_until(lambda: len(turns) == 3)
    rig.pipeline.on_dtmf("1")
    await asyncio.wait_for(rig.task, 10)
    greeting, _, spoken, dtmf_reply = turns
    # Caller stopped speaking → first reply frame: the endpointing silence (400 ms) and more.
    assert spoken.heard_gap_ms is not None and spoken.first_frame_ms is not None
    assert spoken.heard_gap_ms >= spoken.first_frame_ms + 300
    assert spoken.heard_gap_ms < 2000
    # No spoken turn before the greeting or a keypad answer: no gap to measure.
    assert greeting.heard_gap_ms is None and dtmf_reply.heard_gap_ms is None


async def test_barge_in_cuts_the_reply_and_logs_what_was_heard(
    make_rig: Callable[..., Rig],
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


async def test_a_noise_burst_does_not_interrupt(make_rig: Callable[..., Rig]) -> None:
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


async def test_a_dead_recogniser_ends_the_call_politely(make_rig: Callable[..., Rig]) -> None:
    dialog = ScriptedDialog("Hi", {})
    rig = make_rig(dialog, fail_stt=True)
    await wait_until(lambda: rig.transport.voiced_frames() > 3)
    await asyncio.sleep(0.2)
    before = rig.transport.voiced_frames()
    await rig.transport.speak(speech_pcm("hello"))
    outcome = await asyncio.wait_for(rig.task, 15)
    assert outcome.status == "failed" and "recogniser died" in outcome.reason
    assert rig.transport.voiced_frames() > before + 20  # the apology was played
    assert any(kind == "error" for kind, _ in rig.store.events)


async def test_dtmf_is_a_caller_turn(make_rig: Callable[..., Rig]) -> None:
    dialog = ScriptedDialog("Press one", {"1": [Say("One it is"), Hangup()]})
    rig = make_rig(dialog, [])
    await wait_until(lambda: rig.transport.voiced_frames() > 3)
    rig.pipeline.on_dtmf("1")
    outcome = await asyncio.wait_for(rig.task, 10)
    assert outcome.reason == "assistant_hangup"
    assert dialog.turns == [CallerTurn("", dtmf="1")]


async def test_a_silent_caller_is_hung_up_after_the_backstop(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(ScriptedDialog("Hello there, anyone?", {}), silence_hangup_s=0.6)
    started = asyncio.get_running_loop().time()
    outcome = await asyncio.wait_for(rig.task, 10)
    assert outcome == CallOutcome("completed", "caller_silent")
    greeting_s = 60 * len("Hello there, anyone?") / 1000
    # Counted from the end of the greeting, not from the start of the call.
    assert asyncio.get_running_loop().time() - started > greeting_s + 0.5


async def test_a_reply_cut_by_the_caller_hanging_up_is_logged_as_heard(
    make_rig: Callable[..., Rig],
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
