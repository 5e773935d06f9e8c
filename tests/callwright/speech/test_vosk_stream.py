"""VoskStream's scheduling of its jobs, on a recogniser double (no model): what runs in which job,
at which priority, and when partials are asked for."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from callwright.speech.recognizer_pool import PoolKey
from callwright.speech.stt_scheduler import FINISHING, LIVE
from callwright.speech.vosk_stream import (
    BUSY_PARTIAL_EVERY,
    SECOND_LOOK_MAX_S,
    SECOND_LOOK_SHIFT_S,
    VoskStream,
)

FRAME = bytes(320)


class Recognizer:
    """Hears bytes; says ``words`` once it has heard ``ends_after`` bytes (Vosk's own endpoint)."""

    def __init__(self, ends_after: int | None = None, finals: tuple[str, ...] = ("네",)) -> None:
        self.heard = bytearray()
        self.calls: list[str] = []
        self._ends_after = ends_after
        self._finals = list(finals)  # the text of each final result in turn (the last repeats)
        self.after_final: list[bytes] = []  # what each AcceptWaveform after a final got

    def AcceptWaveform(self, data: bytes) -> int:  # noqa: N802 - vosk's names
        self.calls.append(f"accept {len(data)}")
        if "final" in self.calls:
            self.after_final.append(data)
        before = len(self.heard)
        self.heard += data
        return int(self._ends_after is not None and before < self._ends_after <= len(self.heard))

    def Result(self) -> str:  # noqa: N802
        self.calls.append("result")
        return json.dumps({"text": "예약", "result": [{"word": "예약", "conf": 0.5}]})

    def PartialResult(self) -> str:  # noqa: N802
        self.calls.append("partial")
        return json.dumps({"partial": "네"})

    def FinalResult(self) -> str:  # noqa: N802
        self.calls.append("final")
        text = self._finals.pop(0) if len(self._finals) > 1 else self._finals[0]
        if not text:
            return json.dumps({"text": ""})
        return json.dumps({"text": text, "result": [{"word": text, "conf": 0.9}]})

    def Reset(self) -> None:  # noqa: N802
        self.calls.append("reset")

    def SetWords(self, enable_words: bool) -> None:  # noqa: N802
        pass


class Engine:
    """The part of VoskSttEngine a stream uses; runs each job at once, recording it."""

    def __init__(self) -> None:
        self.busy = False
        self.jobs: list[tuple[str, int]] = []
        self.given_back: list[Recognizer] = []

    async def run(self, func: Callable[..., Any], *args: Any, priority: int = LIVE) -> Any:
        self.jobs.append((func.__name__, priority))
        await asyncio.sleep(0)
        return func(*args)

    async def give_back(self, key: PoolKey, recognizer: Recognizer) -> None:
        self.given_back.append(recognizer)


def open_stream(
    engine: Engine, recognizer: Recognizer, grammar: tuple[str, ...] | None = ("네",),
    max_batch_bytes: int = 16000,
) -> VoskStream:
    return VoskStream(engine=engine, recognizer=recognizer,  # type: ignore[arg-type]
                      key=(8000, grammar), max_batch_bytes=max_batch_bytes)


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_the_rest_and_the_final_result_are_one_finishing_job() -> None:
    engine, recognizer = Engine(), Recognizer()
    stream = open_stream(engine, recognizer)
    stream.feed(FRAME)
    await settle()  # decoded live, with a partial
    assert engine.jobs == [("_accept", LIVE)]
    assert stream.partial() == "네"
    for _ in range(3):
        stream.feed(FRAME)
    result = await stream.finish()
    assert engine.jobs == [("_accept", LIVE), ("_accept_final", FINISHING)]
    assert recognizer.calls == ["accept 320", "partial", f"accept {3 * len(FRAME)}", "final"]
    assert result.text == "네" and result.confidence == 0.9
    assert await stream.finish() is result  # the same result again, no new job
    assert len(engine.jobs) == 2
    await stream.close()
    assert engine.given_back == [recognizer]


async def test_finish_with_nothing_left_takes_only_the_final_result() -> None:
    engine, recognizer = Engine(), Recognizer()
    stream = open_stream(engine, recognizer)
    stream.feed(FRAME + b"\x01")  # an odd byte: half a sample, never decoded
    await settle()
    result = await stream.finish()
    assert recognizer.calls == ["accept 320", "partial", "final"]
    assert bytes(recognizer.heard) == FRAME
    assert result.text == "네"
    await stream.close()


async def test_a_backlog_is_decoded_in_order_ahead_of_live_audio_before_the_final() -> None:
    engine, recognizer = Engine(), Recognizer()
    stream = open_stream(engine, recognizer, max_batch_bytes=2 * len(FRAME))
    audio = b"".join(bytes([i]) * len(FRAME) for i in range(5))
    stream.feed(audio)
    result = await stream.finish()  # before the worker took anything: 5 frames queued
    assert engine.jobs == [("_accept", FINISHING), ("_accept", FINISHING),
                           ("_accept_final", FINISHING)]
    assert bytes(recognizer.heard) == audio
    assert "partial" not in recognizer.calls  # nobody needs a partial of an ended turn
    assert result.text == "네"
    await stream.close()


async def test_a_segment_vosk_ends_within_the_rest_is_kept() -> None:
    engine, recognizer = Engine(), Recognizer(ends_after=len(FRAME))
    stream = open_stream(engine, recognizer)
    stream.feed(FRAME + FRAME)
    result = await stream.finish()
    assert recognizer.calls == [f"accept {2 * len(FRAME)}", "result", "final"]
    assert result.text == "예약 네"
    assert result.confidence == (0.5 + 0.9) / 2
    await stream.close()


async def test_a_grammar_stream_asks_for_every_partial_while_the_threads_are_busy() -> None:
    engine, recognizer = Engine(), Recognizer()
    engine.busy = True
    stream = open_stream(engine, recognizer)
    for _ in range(2 * BUSY_PARTIAL_EVERY):
        stream.feed(FRAME)
        await settle()
    assert recognizer.calls.count("partial") == 2 * BUSY_PARTIAL_EVERY
    await stream.close()


async def test_a_free_speech_stream_asks_for_fewer_partials_while_the_threads_are_busy() -> None:
    engine, recognizer = Engine(), Recognizer()
    engine.busy = True
    stream = open_stream(engine, recognizer, grammar=None)
    for _ in range(2 * BUSY_PARTIAL_EVERY):
        stream.feed(FRAME)
        await settle()
    assert recognizer.calls.count("partial") == 2
    engine.busy = False
    stream.feed(FRAME)
    await settle()
    assert recognizer.calls.count("partial") == 3
    await stream.close()


async def test_close_without_finish_takes_no_final_result() -> None:
    engine, recognizer = Engine(), Recognizer()
    stream = open_stream(engine, recognizer)
    stream.feed(FRAME)
    await stream.close()
    assert "final" not in recognizer.calls
    assert engine.given_back == [recognizer]


async def test_a_grammar_turn_that_came_back_empty_is_decoded_again_shifted_in_the_same_job(
) -> None:
    engine, recognizer = Engine(), Recognizer(finals=("", "네"))
    stream = open_stream(engine, recognizer)
    audio = b"".join(bytes([i]) * len(FRAME) for i in range(1, 4))
    stream.feed(audio[: len(FRAME)])
    await settle()
    stream.feed(audio[len(FRAME):])
    result = await stream.finish()
    assert result.text == "네" and stream.second_look
    assert engine.jobs == [("_accept", LIVE), ("_accept_final", FINISHING)]
    shift = bytes(2 * round(8000 * SECOND_LOOK_SHIFT_S))  # half a 10 ms frame at 8 kHz
    assert recognizer.after_final == [shift + audio]  # the whole turn, as it was heard
    await stream.close()


async def test_silence_stays_empty_after_its_second_look() -> None:
    engine, recognizer = Engine(), Recognizer(finals=("",))
    stream = open_stream(engine, recognizer)
    stream.feed(FRAME)
    result = await stream.finish()
    assert result.text == "" and result.confidence is None
    assert recognizer.calls.count("final") == 2
    await stream.close()


async def test_no_second_look_for_free_speech_a_found_answer_or_a_long_turn() -> None:
    free, found, long = Recognizer(finals=("",)), Recognizer(), Recognizer(finals=("",))
    engine = Engine()
    max_batch = 16000
    streams = [open_stream(engine, free, grammar=None), open_stream(engine, found),
               open_stream(engine, long, max_batch_bytes=max_batch)]
    streams[0].feed(FRAME)
    streams[1].feed(FRAME)
    too_long = int(2 * 8000 * SECOND_LOOK_MAX_S) + len(FRAME)
    for offset in range(0, too_long, max_batch):
        streams[2].feed(bytes(min(max_batch, too_long - offset)))
        await settle()
    results = [await stream.finish() for stream in streams]
    assert [r.text for r in results] == ["", "네", ""]
    assert [r.calls.count("final") for r in (free, found, long)] == [1, 1, 1]
    assert not any(stream.second_look for stream in streams)
    for stream in streams:
        await stream.close()
