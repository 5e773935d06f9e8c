"""Each caller turn's audio goes to that turn's recognition stream, however late the stream
opens (a busy recogniser opens it behind other calls' decoding)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from callwright.call.listener import CallerListener, CallerSpeech
from callwright.errors import SpeechError
from callwright.speech.barge_in import BargeInConfig, BargeInDetector
from callwright.speech.endpointing import Endpointer, EndpointingConfig
from callwright.speech.protocols import Transcript

SPEECH, SILENCE = 1, 0


def frame(kind: int, index: int) -> bytes:
    """A 20 ms frame at 8 kHz that says what it is and which one it is."""
    return bytes([kind, index & 255, index >> 8]) + bytes(317)


class MarkVad:
    """Speech is what the frame says it is."""

    def is_speech(self, pcm_frame: bytes) -> bool:
        return pcm_frame[0] == SPEECH


class Stream:
    """Refuses audio once finished, as the Vosk stream does."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.fed: list[int] = []
        self.finished = False

    def feed(self, pcm: bytes) -> None:
        if self.finished:
            raise SpeechError("feed() on a stream that was finished")
        self.fed.append(pcm[1] | pcm[2] << 8)

    def partial(self) -> str:
        return ""

    async def finish(self) -> Transcript:
        self.finished = True
        return Transcript(f"turn {self.number}", 0.9)

    async def close(self) -> None:
        return None


class SlowStt:
    """Opens each stream only when the test lets it (``release``)."""

    name = "slow"

    def __init__(self) -> None:
        self.streams: list[Stream] = []
        self.gates: list[asyncio.Event] = []

    async def open_stream(self, sample_rate: int, grammar: Sequence[str] | None = None) -> Stream:
        gate = asyncio.Event()
        self.gates.append(gate)
        stream = Stream(len(self.gates))
        await gate.wait()
        self.streams.append(stream)
        return stream

    async def close(self) -> None:
        return None


async def test_a_stream_that_opens_after_its_turn_ended_gets_that_turn_and_no_other() -> None:
    stt = SlowStt()
    turns: list[CallerSpeech] = []
    errors: list[SpeechError] = []
    listener = CallerListener(
        sample_rate=8000, vad=MarkVad(),
        endpointer=Endpointer(EndpointingConfig(end_silence_ms=200)),
        barge_in=BargeInDetector(BargeInConfig()), stt=stt, pre_roll_ms=100,
        on_turn=turns.append, on_speech_start=lambda _: None, on_barge_in=lambda _: None,
        on_error=errors.append, turn_end=None,
    )
    # Turn 1: frames 0-4 silence, 5-19 speech, then silence until it ends (200 ms); turn 2
    # starts at frame 40, while turn 1's stream has still not opened.
    script = [SILENCE] * 5 + [SPEECH] * 15 + [SILENCE] * 20 + [SPEECH] * 15
    for i, kind in enumerate(script):
        listener.on_frame(frame(kind, i), i * 20.0)
        await asyncio.sleep(0)
    assert len(stt.gates) == 2 and not turns
    stt.gates[0].set()  # turn 1's stream opens now, turn 2 already going on
    for _ in range(5):
        await asyncio.sleep(0)
    stt.gates[1].set()
    rest = [SILENCE] * 20
    for i, kind in enumerate(rest, start=len(script)):
        listener.on_frame(frame(kind, i), i * 20.0)  # raised on a finished stream before
        await asyncio.sleep(0)
    for _ in range(10):
        await asyncio.sleep(0)
    await listener.close()
    assert errors == []
    assert [t.text for t in turns] == ["turn 1", "turn 2"]
    first, second = stt.streams
    # Each stream heard its own turn whole and in order (the pre-roll, every frame of speech, the
    # silence up to the end of the turn) and nothing of the other turn.
    assert first.fed == list(range(first.fed[0], first.fed[-1] + 1))
    assert 1 <= first.fed[0] <= 5 and 19 < first.fed[-1] < 35
    assert second.fed == list(range(second.fed[0], second.fed[-1] + 1))
    assert 35 <= second.fed[0] <= 40 and second.fed[-1] > 54


@pytest.mark.parametrize("opens_after_frames", [0, 3])
async def test_a_turn_whose_stream_opens_in_time_is_heard_whole(opens_after_frames: int) -> None:
    stt = SlowStt()
    turns: list[CallerSpeech] = []
    listener = CallerListener(
        sample_rate=8000, vad=MarkVad(),
        endpointer=Endpointer(EndpointingConfig(end_silence_ms=200)),
        barge_in=BargeInDetector(BargeInConfig()), stt=stt, pre_roll_ms=100,
        on_turn=turns.append, on_speech_start=lambda _: None, on_barge_in=lambda _: None,
        on_error=lambda exc: pytest.fail(str(exc)), turn_end=None,
    )
    script = [SILENCE] * 5 + [SPEECH] * 15 + [SILENCE] * 20
    opened_at: int | None = None
    for i, kind in enumerate(script):
        listener.on_frame(frame(kind, i), i * 20.0)
        if stt.gates and opened_at is None:
            opened_at = i
        if opened_at is not None and i == opened_at + opens_after_frames:
            stt.gates[0].set()
        await asyncio.sleep(0)
    for _ in range(10):
        await asyncio.sleep(0)
    await listener.close()
    assert [t.text for t in turns] == ["turn 1"]
    fed = stt.streams[0].fed  # the pre-roll (5 frames), the onset's frame, speech, silence
    assert fed == list(range(2, fed[-1] + 1)) and 19 < fed[-1] < 35
