"""In-memory fakes at the edges of a :class:`CallPipeline` (no sockets): a transport delivering
caller audio in real time, a scripted STT (that can crash or hang on chosen turns), a tone TTS
(that can fail or hang), a scripted dialog and a turn store in memory."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import soxr

from callwright.call.outcome import CallOutcome
from callwright.call.pipeline import CallPipeline
from callwright.dialog.actions import (
    CallContext,
    CallerTurn,
    DialogAction,
    Hangup,
    Listen,
    Say,
)
from callwright.errors import SpeechError
from callwright.media.transport import FrameSink, MediaFormat
from callwright.speech.protocols import Transcript
from callwright.store.turns import NewTurn

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
        self.sent_at: list[float] = []
        self.on_frame: FrameSink | None = None

    async def start(self, on_frame: FrameSink, on_closed: Callable[[str], None]) -> None:
        self.on_frame = on_frame

    def send_frame(self, pcm: bytes) -> None:
        self.sent.append(pcm)
        self.sent_at.append(time.monotonic())

    def first_voiced_at(self, after: int = 0) -> float:
        """When the first voiced frame from index ``after`` on was sent."""
        for pcm, at in zip(self.sent[after:], self.sent_at[after:], strict=True):
            if np.abs(np.frombuffer(pcm, np.int16)).max() > 500:
                return at
        raise AssertionError("no voiced frame sent")

    def longest_gap_s(self) -> float:
        """The longest time between two frames sent."""
        return max((b - a for a, b in zip(self.sent_at, self.sent_at[1:], strict=False)),
                   default=0.0)

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
        self.closed = False

    def feed(self, pcm: bytes) -> None:
        self.fed += len(pcm)

    def partial(self) -> str:
        return "…" if self.fed else ""

    async def finish(self) -> Transcript:
        turn = self.engine.finishes
        self.engine.finishes += 1
        if self.engine.fail or turn in self.engine.crash_turns:
            raise SpeechError("recogniser died")
        if turn in self.engine.hang_turns:
            await asyncio.Event().wait()  # a worker that stopped answering
        self.engine.fed_bytes.append(self.fed)
        text = self.engine.answers.pop(0) if self.engine.answers else ""
        return Transcript(text, 0.9)

    async def close(self) -> None:
        self.closed = True


@dataclass
class FakeStt:
    """Answers each turn with the next of ``answers``; fails every turn with ``fail``, crashes on
    the turns (counted from 0) in ``crash_turns`` and never answers on those in ``hang_turns``."""

    answers: list[str] = field(default_factory=list)
    fail: bool = False
    crash_turns: set[int] = field(default_factory=set)
    hang_turns: set[int] = field(default_factory=set)
    finishes: int = 0
    streams: list[FakeStream] = field(default_factory=list)
    grammars: list[tuple[str, ...] | None] = field(default_factory=list)
    fed_bytes: list[int] = field(default_factory=list)
    name: str = "fake"

    async def open_stream(
        self, sample_rate: int, grammar: Sequence[str] | None = None
    ) -> FakeStream:
        self.grammars.append(tuple(grammar) if grammar else None)
        self.streams.append(FakeStream(self))
        return self.streams[-1]

    async def close(self) -> None:
        return None


class ToneTts:
    """Synthesises 60 ms of tone per character: long texts take long to play. With ``fail``
    it raises SpeechError, with ``hang`` it never answers."""

    def __init__(self, name: str = "tone", *, fail: bool = False, hang: bool = False) -> None:
        self.name = name
        self.fail = fail
        self.hang = hang
        self.texts: list[str] = []
        self.voices: list[str | None] = []

    async def synthesize(self, text: str, sample_rate: int, voice: str | None = None) -> bytes:
        self.texts.append(text)
        self.voices.append(voice)
        if self.fail:
            raise SpeechError(f"{self.name} crashed")
        if self.hang:
            await asyncio.Event().wait()
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

    async def add_turn(self, call_id: int, turn: NewTurn) -> int:
        self.turns.append(dict(seq=turn.seq, speaker=turn.speaker, text=turn.text,
                               interrupted=turn.interrupted, stt_ms=turn.stt_ms,
                               first_frame_ms=turn.first_frame_ms, tts_ms=turn.tts_ms,
                               meta=turn.meta or {}))
        return turn.seq

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

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.store.events]


async def wait_until(check: Callable[[], bool], within_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


