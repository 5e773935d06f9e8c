"""OpenAiTts against a real local server speaking /v1/audio/speech."""

from __future__ import annotations

import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import numpy as np
import pytest

from callwright.errors import SpeechError
from callwright.speech.openai_tts import OpenAiTts, decode_wav
from callwright.speech.protocols import TtsEngine
from tests.fakes.clients import make_openai_client
from tests.fakes.openai_audio_server import (
    SPEECH_RATE,
    ScriptedAudioServer,
    Speech,
    tone,
    wav_bytes,
)

Started = tuple[ScriptedAudioServer, OpenAiTts]
Factory = Callable[..., Awaitable[Started]]


@pytest.fixture
async def make_tts() -> AsyncIterator[Factory]:
    """Factory: ``await make(*scripts, response_format="wav", voice="alloy", ...)``."""
    async with AsyncExitStack() as stack:

        async def make(*scripts: Speech, **options: Any) -> Started:
            server = await stack.enter_async_context(ScriptedAudioServer(speech=scripts))
            client = await stack.enter_async_context(
                await make_openai_client(
                    base_url=server.base_url, api_key="test-key", max_retries=0
                )
            )
            options.setdefault("timeout_s", 5.0)
            model = options.pop("model", "gpt-4o-mini-tts")
            voice = options.pop("voice", "alloy")
            return server, OpenAiTts(client, model, voice, **options)

        yield make


def dominant_hz(pcm: bytes, rate: int) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.argmax(spectrum) * rate / samples.size)


@pytest.mark.parametrize("fmt", ["wav", "pcm"])
@pytest.mark.parametrize("rate", [8000, 16000, 24000])
async def test_audio_is_resampled_to_the_requested_rate(
    make_tts: Factory, fmt: str, rate: int
) -> None:
    server, tts = await make_tts(Speech(tone_hz=440.0, ms_per_char=100), response_format=fmt)
    engine: TtsEngine = tts
    pcm = await engine.synthesize("Hello there", rate)  # 11 chars: 1.1 s of tone
    assert len(pcm) / 2 == pytest.approx(1.1 * rate, abs=2)
    assert dominant_hz(pcm, rate) == pytest.approx(440.0, abs=5.0)
    (request,) = server.speech_requests
    assert request["input"] == "Hello there"
    assert request["model"] == "gpt-4o-mini-tts"
    assert request["voice"] == "alloy"
    assert request["response_format"] == fmt
    assert "speed" not in request


async def test_a_wav_streamed_with_unknown_sizes_is_read_to_the_end(make_tts: Factory) -> None:
    _, tts = await make_tts(Speech(ms_per_char=100, unknown_length=True))
    pcm = await tts.synthesize("abcde", 24000)
    assert len(pcm) / 2 == pytest.approx(0.5 * 24000, abs=2)


@pytest.mark.slow
async def test_espeak_speech_from_the_server_survives_the_round_trip(make_tts: Factory) -> None:
    _, tts = await make_tts(Speech(espeak_voice="en-us"))
    pcm = await tts.synthesize("Good morning, how can I help?", 8000)
    samples = np.frombuffer(pcm, dtype="<i2")
    assert 0.8 < samples.size / 8000 < 5.0
    assert np.abs(samples).max() > 3000


async def test_the_voice_argument_and_speed_are_sent(make_tts: Factory) -> None:
    server, tts = await make_tts(voice="nova", speed=1.25)
    await tts.synthesize("hi", 16000)
    await tts.synthesize("hi", 16000, voice="echo")
    assert [r["voice"] for r in server.speech_requests] == ["nova", "echo"]
    assert all(r["speed"] == 1.25 for r in server.speech_requests)


async def test_empty_text_makes_no_request(make_tts: Factory) -> None:
    server, tts = await make_tts()
    assert await tts.synthesize("   ", 8000) == b""
    assert server.speech_requests == []


@pytest.mark.parametrize("status", [400, 401, 429, 500, 503])
async def test_http_errors_become_speech_errors(make_tts: Factory, status: int) -> None:
    _, tts = await make_tts(Speech(status=status))
    with pytest.raises(SpeechError, match=f"HTTP {status}"):
        await tts.synthesize("hello", 8000)


async def test_a_hanging_server_times_out(make_tts: Factory) -> None:
    _, tts = await make_tts(Speech(hang=True), timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(SpeechError):
        await tts.synthesize("hello", 8000)
    assert time.monotonic() - started < 3.0


async def test_a_refused_connection_is_a_speech_error() -> None:
    async with ScriptedAudioServer() as server:
        url = server.base_url
    async with await make_openai_client(base_url=url, api_key="k", max_retries=0) as client:
        tts = OpenAiTts(client, "tts", "alloy", timeout_s=2.0)
        with pytest.raises(SpeechError, match="failed"):
            await tts.synthesize("hello", 8000)


async def test_refuses_bad_settings(make_tts: Factory) -> None:
    _, tts = await make_tts()
    with pytest.raises(SpeechError):
        OpenAiTts(tts.client, "m", "alloy", "mp3")  # type: ignore[arg-type]
    with pytest.raises(SpeechError):
        OpenAiTts(tts.client, "m", "")
    with pytest.raises(SpeechError):
        OpenAiTts(tts.client, "m", "alloy", speed=9.0)
    with pytest.raises(SpeechError):
        await tts.synthesize("hello", 0)


def test_decode_wav_handles_stereo_float_and_rejects_garbage() -> None:
    mono = tone(1000.0, 0.1)
    assert decode_wav(wav_bytes(mono, SPEECH_RATE)) == (mono, SPEECH_RATE)
    left = np.frombuffer(mono, dtype="<i2")
    stereo = np.stack([left, left], axis=1).astype("<i2").tobytes()
    header = wav_bytes(stereo, 16000)
    as_stereo = bytearray(header)
    struct.pack_into("<HIIH", as_stereo, 22, 2, 16000, 16000 * 4, 4)
    pcm, rate = decode_wav(bytes(as_stereo))
    assert rate == 16000 and pcm == mono
    floats = (left.astype("<f4") / 32768.0).tobytes()
    as_float = bytearray(wav_bytes(floats, 24000))
    struct.pack_into("<HHIIHH", as_float, 20, 3, 1, 24000, 24000 * 4, 4, 32)
    pcm, _ = decode_wav(bytes(as_float))
    assert np.abs(np.frombuffer(pcm, "<i2").astype(int) - left).max() <= 1
    for bad in (b"", b"ID3\x04mp3 data", b"RIFF\x00\x00\x00\x00WAVEdata\x00\x00\x00\x00"):
        with pytest.raises(SpeechError):
            decode_wav(bad)
