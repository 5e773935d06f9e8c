"""PocketsphinxSttEngine with the English model bundled in the pocketsphinx package."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from callwright.errors import SpeechError
from callwright.speech.pocketsphinx_stt import (
    PocketsphinxStream,
    PocketsphinxSttEngine,
    phrase_words,
)
from callwright.speech.pocketsphinx_worker import jsgf_for
from callwright.speech.protocols import SttEngine, Transcript

from .conftest import Speak

GRAMMAR = ["yes", "no"]
EngineFactory = Callable[..., Awaitable[PocketsphinxSttEngine]]


def chunks(pcm: bytes, rate: int, ms: int = 20) -> list[bytes]:
    step = rate * 2 * ms // 1000
    return [pcm[i : i + step] for i in range(0, len(pcm), step)]


async def recognise(stream: PocketsphinxStream, pcm: bytes, rate: int) -> Transcript:
    for chunk in chunks(pcm, rate):
        stream.feed(chunk)
    return await stream.finish()


@pytest.fixture
async def engine_factory() -> AsyncIterator[EngineFactory]:
    """Factory: ``await make(processes=1)`` -> a started engine, closed at the end."""
    made: list[PocketsphinxSttEngine] = []

    async def make(processes: int = 1, pool_size: int = 4) -> PocketsphinxSttEngine:
        engine = PocketsphinxSttEngine(processes=processes, pool_size=pool_size)
        made.append(engine)
        await engine.start()
        return engine

    yield make
    for engine in made:
        await engine.close()


def test_phrase_words_lowercases_and_drops_punctuation() -> None:
    assert phrase_words("Yes!") == ("yes",)
    assert phrase_words("  No, thanks. ") == ("no", "thanks")
    assert phrase_words("don't") == ("don't",)
    assert phrase_words("네") == ()


def test_jsgf_lists_each_phrase_as_an_alternative() -> None:
    grammar = jsgf_for([("yes",), ("no", "thanks")])
    assert grammar.startswith("#JSGF V1.0;")
    assert "public <phrase> = yes | no thanks;" in grammar
    with pytest.raises(SpeechError):
        jsgf_for([])


async def test_grammar_without_english_words_is_refused() -> None:
    engine = PocketsphinxSttEngine()  # not started: the grammar is checked first
    with pytest.raises(SpeechError, match="no English words"):
        await engine.open_stream(16000, ["네", "아니요"])
    with pytest.raises(SpeechError, match="not a string"):
        await engine.open_stream(16000, "yes")
    with pytest.raises(SpeechError, match="sample rate"):
        await engine.open_stream(0)
    await engine.close()


@pytest.mark.slow
@pytest.mark.parametrize("rate", [8000, 16000])
@pytest.mark.parametrize("word", GRAMMAR)
async def test_grammar_recognises_yes_and_no(
    engine_factory: EngineFactory, speak: Speak, word: str, rate: int
) -> None:
    engine = await engine_factory()
    stt: SttEngine = engine
    pcm = await speak(word, rate, voice="en-us")
    stream = await stt.open_stream(rate, GRAMMAR)
    assert isinstance(stream, PocketsphinxStream)
    result = await recognise(stream, pcm, rate)
    await stream.close()
    assert result.text == word
    assert result.confidence is not None and 0.0 < result.confidence <= 1.0
    assert 0.0 <= result.finalize_ms < 5000


@pytest.mark.slow
async def test_grammar_answer_is_the_phrase_as_written(
    engine_factory: EngineFactory, speak: Speak
) -> None:
    engine = await engine_factory()
    stream = await engine.open_stream(16000, ["Yes, please", "No!"])
    result = await recognise(stream, await speak("yes please", 16000, voice="en-us"), 16000)
    await stream.close()
    assert result.text == "Yes, please"


@pytest.mark.slow
@pytest.mark.parametrize("rate", [8000, 16000])
async def test_free_speech_gives_text_and_partials(
    engine_factory: EngineFactory, speak: Speak, rate: int
) -> None:
    engine = await engine_factory()
    pcm = await speak("the weather is very nice today", rate, voice="en-us")
    stream = await engine.open_stream(rate)
    assert stream.partial() == ""
    for chunk in chunks(pcm, rate):
        stream.feed(chunk)
    for _ in range(500):  # partials arrive as the worker decodes, before finish()
        if stream.partial():
            break
        await asyncio.sleep(0.02)
    assert stream.partial(), "no partial hypothesis within 10 s"
    result = await stream.finish()
    await stream.close()
    assert result.text.strip() != ""
    assert stream.partial() == ""


@pytest.mark.slow
async def test_silence_gives_empty_text(engine_factory: EngineFactory) -> None:
    engine = await engine_factory()
    stream = await engine.open_stream(8000, GRAMMAR)
    result = await recognise(stream, bytes(8000 * 2), 8000)
    await stream.close()
    assert result == Transcript("", None, result.finalize_ms)


@pytest.mark.slow
async def test_interleaved_streams_on_one_worker_keep_their_own_audio(
    engine_factory: EngineFactory, speak: Speak
) -> None:
    engine = await engine_factory(processes=1)
    yes, no = await speak("yes", 16000, voice="en-us"), await speak("no", 16000, voice="en-us")
    first = await engine.open_stream(16000, GRAMMAR)
    second = await engine.open_stream(16000, GRAMMAR)
    for a, b in zip(chunks(yes, 16000), chunks(no, 16000), strict=False):
        first.feed(a)
        second.feed(b)
    for rest in chunks(yes, 16000)[len(chunks(no, 16000)) :]:
        first.feed(rest)
    for rest in chunks(no, 16000)[len(chunks(yes, 16000)) :]:
        second.feed(rest)
    one, two = await asyncio.gather(first.finish(), second.finish())
    await first.close()
    await second.close()
    assert (one.text, two.text) == ("yes", "no")


@pytest.mark.slow
async def test_streams_spread_over_processes_and_reuse_decoders(
    engine_factory: EngineFactory, speak: Speak
) -> None:
    engine = await engine_factory(processes=2)
    assert len(set(engine.worker_pids())) == 2
    pcm = await speak("no", 8000, voice="en-us")
    for _ in range(3):  # later turns borrow the decoder (and compiled grammar) of earlier ones
        streams = [await engine.open_stream(8000, GRAMMAR) for _ in range(2)]
        results = await asyncio.gather(*(recognise(s, pcm, 8000) for s in streams))
        for stream in streams:
            await stream.close()
        assert [r.text for r in results] == ["no", "no"]


@pytest.mark.slow
async def test_finish_is_idempotent_and_feed_after_finish_fails(
    engine_factory: EngineFactory, speak: Speak
) -> None:
    engine = await engine_factory()
    stream = await engine.open_stream(16000, GRAMMAR)
    first = await recognise(stream, await speak("yes", 16000, voice="en-us"), 16000)
    assert await stream.finish() is first
    with pytest.raises(SpeechError):
        stream.feed(bytes(320))
    await stream.close()
    await stream.close()
    with pytest.raises(SpeechError):
        stream.feed(bytes(320))


@pytest.mark.slow
async def test_abandoned_stream_frees_its_decoder_for_the_next_turn(
    engine_factory: EngineFactory, speak: Speak
) -> None:
    engine = await engine_factory(pool_size=1)
    abandoned = await engine.open_stream(16000, GRAMMAR)
    abandoned.feed(await speak("no", 16000, voice="en-us"))
    await abandoned.close()  # barge-in: never finished
    stream = await engine.open_stream(16000, GRAMMAR)
    result = await recognise(stream, await speak("yes", 16000, voice="en-us"), 16000)
    await stream.close()
    assert result.text == "yes"


@pytest.mark.slow
async def test_a_dead_worker_fails_its_streams_and_is_replaced(
    engine_factory: EngineFactory, speak: Speak
) -> None:
    engine = await engine_factory()
    stream = await engine.open_stream(16000, GRAMMAR)
    stream.feed(bytes(3200))
    (pid,) = engine.worker_pids()
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(SpeechError, match="worker stopped"):
        await asyncio.wait_for(stream.finish(), 10)
    with pytest.raises(SpeechError):
        stream.feed(bytes(320))
    await stream.close()
    replacement = await engine.open_stream(16000, GRAMMAR)
    assert engine.worker_pids() != [pid]
    result = await recognise(replacement, await speak("no", 16000, voice="en-us"), 16000)
    await replacement.close()
    assert result.text == "no"


@pytest.mark.slow
async def test_close_fails_open_streams_and_stops_the_workers(
    engine_factory: EngineFactory,
) -> None:
    engine = await engine_factory()
    stream = await engine.open_stream(16000)
    stream.feed(bytes(640))
    pids = engine.worker_pids()
    await engine.close()
    with pytest.raises(SpeechError, match="closed"):
        await stream.finish()
    with pytest.raises(SpeechError, match="closed"):
        await engine.open_stream(16000)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.slow
async def test_a_reused_decoder_learns_the_words_of_a_new_grammar(
    engine_factory: EngineFactory, speak: Speak
) -> None:
    engine = await engine_factory(pool_size=1)  # one grammar decoder serves every turn
    answers = []
    for grammar, said in (
        (GRAMMAR, "no"),
        (["maybe", "either way"], "either way"),
        (GRAMMAR, "yes"),
    ):
        stream = await engine.open_stream(16000, grammar)
        answers.append(
            (await recognise(stream, await speak(said, 16000, voice="en-us"), 16000)).text
        )
        await stream.close()
    assert answers == ["no", "either way", "yes"]


@pytest.mark.slow
async def test_grammar_words_missing_from_the_dictionary_are_left_out(
    engine_factory: EngineFactory, speak: Speak
) -> None:
    engine = await engine_factory()
    stream = await engine.open_stream(16000, ["yes", "no", "qwzxv"])
    result = await recognise(stream, await speak("no", 16000, voice="en-us"), 16000)
    await stream.close()
    assert result.text == "no"
    only_unknown = await engine.open_stream(16000, ["qwzxv"])
    only_unknown.feed(bytes(640))
    with pytest.raises(SpeechError, match="no grammar phrase is in the English dictionary"):
        await only_unknown.finish()
    await only_unknown.close()


@pytest.mark.slow
async def test_a_hung_worker_is_killed_and_replaced(speak: Speak) -> None:
    engine = PocketsphinxSttEngine(hang_timeout_s=1.0)
    try:
        await engine.start()
        stream = await engine.open_stream(16000, GRAMMAR)
        (pid,) = engine.worker_pids()
        os.kill(pid, signal.SIGSTOP)  # alive, but answers nothing any more
        stream.feed(bytes(3200))
        started = asyncio.get_running_loop().time()
        with pytest.raises(SpeechError, match="gave no answer for 1 s"):
            await asyncio.wait_for(stream.finish(), 10)
        assert 0.9 < asyncio.get_running_loop().time() - started < 3.0
        await stream.close()
        with pytest.raises(ProcessLookupError):  # killed (and reaped), not left stopped
            for _ in range(50):
                os.kill(pid, 0)
                await asyncio.sleep(0.05)
        replacement = await engine.open_stream(16000, GRAMMAR)
        assert engine.worker_pids() not in ([], [pid])
        result = await recognise(replacement, await speak("yes", 16000, voice="en-us"), 16000)
        await replacement.close()
        assert result.text == "yes"
    finally:
        await engine.close()


@pytest.mark.slow
async def test_a_worker_that_answers_is_not_taken_for_a_hung_one(speak: Speak) -> None:
    """Only silence for the whole watchdog period after a FINISH kills a worker."""
    engine = PocketsphinxSttEngine(hang_timeout_s=0.3)
    try:
        await engine.start()
        audio = await speak("no", 16000, voice="en-us")
        for _ in range(3):
            stream = await engine.open_stream(16000, GRAMMAR)
            assert (await recognise(stream, audio, 16000)).text == "no"
            await stream.close()
            await asyncio.sleep(0.4)  # past the watchdog of the FINISH just answered
        assert len(engine.worker_pids()) == 1
    finally:
        await engine.close()
