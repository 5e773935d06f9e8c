"""OpenAiSttEngine against a real local server speaking /v1/audio/transcriptions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest

from callwright.errors import SpeechError
from callwright.speech.openai_stt import OpenAiSttEngine, normalise, snap_to_grammar
from callwright.speech.protocols import SttEngine
from tests.fakes.clients import make_openai_client
from tests.fakes.openai_audio_server import ScriptedAudioServer, Transcription

from .conftest import Speak

Started = tuple[ScriptedAudioServer, OpenAiSttEngine]
Factory = Callable[..., Awaitable[Started]]


@pytest.fixture
async def make_engine() -> AsyncIterator[Factory]:
    """Factory: ``await make(*scripts, language=None, max_turn_ms=30000, timeout_s=5)``."""
    async with AsyncExitStack() as stack:

        async def make(*scripts: Transcription, **options: Any) -> Started:
            server = await stack.enter_async_context(ScriptedAudioServer(scripts))
            client = await stack.enter_async_context(
                await make_openai_client(
                    base_url=server.base_url, api_key="test-key", max_retries=0
                )
            )
            options.setdefault("timeout_s", 5.0)
            model = options.pop("model", "whisper-1")
            language = options.pop("language", None)
            engine = OpenAiSttEngine(client, model, language, **options)
            stack.push_async_callback(engine.close)
            return server, engine

        yield make


def feed_all(stream: Any, pcm: bytes, rate: int, ms: int = 20) -> None:
    step = rate * 2 * ms // 1000
    for i in range(0, len(pcm), step):
        stream.feed(pcm[i : i + step])


@pytest.mark.parametrize("rate", [8000, 16000])
async def test_uploads_the_turn_as_one_wav_and_returns_the_text(
    make_engine: Factory, speak: Speak, rate: int
) -> None:
    server, engine = await make_engine(Transcription("the weather is nice"), language="en")
    stt: SttEngine = engine
    pcm = await speak("the weather is nice", rate, voice="en-us")
    stream = await stt.open_stream(rate)
    feed_all(stream, pcm, rate)
    assert stream.partial() == ""
    result = await stream.finish()
    await stream.close()
    assert result.text == "the weather is nice"
    assert result.confidence is None
    (upload,) = server.uploads
    assert upload.fields["model"] == "whisper-1"
    assert upload.fields["language"] == "en"
    assert upload.fields["response_format"] == "json"
    assert upload.filename.endswith(".wav")
    got_rate, channels, width, frames = upload.wav()
    assert (got_rate, channels, width) == (rate, 1, 2)
    assert frames == pcm
    assert upload.duration_s == pytest.approx(len(pcm) / 2 / rate)


async def test_no_language_field_without_a_language(make_engine: Factory) -> None:
    server, engine = await make_engine(Transcription("hello"))
    stream = await engine.open_stream(16000)
    stream.feed(bytes(3200))
    assert (await stream.finish()).text == "hello"
    assert "language" not in server.uploads[0].fields


async def test_audio_beyond_max_turn_is_not_uploaded(make_engine: Factory) -> None:
    server, engine = await make_engine(Transcription("long"), max_turn_ms=1000)
    stream = await engine.open_stream(8000)
    for _ in range(100):  # 2 s of 20 ms frames
        stream.feed(b"\x01\x00" * 160)
    assert stream.buffered_ms == pytest.approx(1000)
    await stream.finish()
    assert server.uploads[0].duration_s == pytest.approx(1.0)


async def test_an_empty_turn_sends_nothing(make_engine: Factory) -> None:
    server, engine = await make_engine()
    stream = await engine.open_stream(16000, ["yes", "no"])
    result = await stream.finish()
    assert result.text == "" and result.confidence is None
    assert server.uploads == []


@pytest.mark.parametrize(
    ("heard", "expected"),
    [
        ("Yes.", "yes"),
        ("  NO!  ", "no"),
        ("Yes, please.", "Yes please"),
        ("yes", "yes"),
        ("Noh.", "no"),
        ("maybe", ""),
        ("", ""),
    ],
)
async def test_with_a_grammar_the_text_snaps_to_a_phrase(
    make_engine: Factory, heard: str, expected: str
) -> None:
    _, engine = await make_engine(Transcription(heard))
    stream = await engine.open_stream(16000, ["yes", "no", "Yes please"])
    stream.feed(bytes(3200))
    result = await stream.finish()
    assert result.text == expected
    assert (result.confidence is None) == (expected == "")


def test_snap_prefers_the_single_phrase_found_inside_the_text() -> None:
    assert snap_to_grammar("Yes, I think so.", ["yes", "no"]) == ("yes", 0.9)
    assert snap_to_grammar("yes no", ["yes", "no"]) == ("", 0.0)  # ambiguous
    assert snap_to_grammar("No thanks", ["no", "no thanks"]) == ("no thanks", 1.0)
    assert snap_to_grammar("네.", ["네", "아니요"]) == ("네", 1.0)
    assert snap_to_grammar("아니요 괜찮아요", ["네", "아니요"]) == ("아니요", 0.9)
    assert normalise("Don't — STOP!") == "don t stop"


@pytest.mark.parametrize("status", [400, 401, 429, 500])
async def test_http_errors_become_speech_errors(make_engine: Factory, status: int) -> None:
    _, engine = await make_engine(Transcription(status=status, error_message="scripted failure"))
    stream = await engine.open_stream(16000)
    stream.feed(bytes(3200))
    with pytest.raises(SpeechError, match=f"HTTP {status}"):
        await stream.finish()
    await stream.close()


async def test_a_hanging_server_times_out(make_engine: Factory) -> None:
    _, engine = await make_engine(Transcription(hang=True), timeout_s=0.5)
    stream = await engine.open_stream(16000)
    stream.feed(bytes(3200))
    started = time.monotonic()
    with pytest.raises(SpeechError, match="timed out|failed"):
        await stream.finish()
    assert time.monotonic() - started < 3.0


async def test_a_refused_connection_is_a_speech_error() -> None:
    async with ScriptedAudioServer() as server:
        url = server.base_url
    async with await make_openai_client(base_url=url, api_key="k", max_retries=0) as client:
        engine = OpenAiSttEngine(client, "whisper-1", timeout_s=2.0)
        stream = await engine.open_stream(16000)
        stream.feed(bytes(320))
        with pytest.raises(SpeechError, match="failed"):
            await stream.finish()


async def test_finish_twice_uploads_once_and_feed_after_finish_fails(
    make_engine: Factory,
) -> None:
    server, engine = await make_engine(Transcription("one", delay_s=0.2), Transcription("two"))
    stream = await engine.open_stream(16000)
    stream.feed(bytes(3200))
    first, second = await asyncio.gather(stream.finish(), stream.finish())
    assert first is second and first.text == "one"
    assert first.finalize_ms >= 150
    assert len(server.uploads) == 1
    with pytest.raises(SpeechError):
        stream.feed(bytes(320))
    await stream.close()
    await stream.close()
    with pytest.raises(SpeechError):
        await stream.finish()


async def test_close_cancels_a_running_upload(make_engine: Factory) -> None:
    _, engine = await make_engine(Transcription("late", delay_s=5.0))
    stream = await engine.open_stream(16000)
    stream.feed(bytes(3200))
    waiter = asyncio.ensure_future(stream.finish())
    await asyncio.sleep(0.2)
    started = time.monotonic()
    await stream.close()
    assert time.monotonic() - started < 1.0
    with pytest.raises(SpeechError, match="closed"):
        await waiter


async def test_refuses_bad_arguments_and_closed_engines(make_engine: Factory) -> None:
    _, engine = await make_engine()
    with pytest.raises(SpeechError):
        await engine.open_stream(0)
    with pytest.raises(SpeechError):
        await engine.open_stream(16000, "yes")
    with pytest.raises(SpeechError):
        await engine.open_stream(16000, ["  ", ""])
    with pytest.raises(SpeechError):
        OpenAiSttEngine(engine.client, "")
    await engine.close()
    with pytest.raises(SpeechError, match="closed"):
        await engine.open_stream(16000)
