"""Fixtures for the speech tests: the real Korean Vosk model (loaded once) and espeak-ng speech."""

from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import Awaitable, Callable

import numpy as np
import pytest
import soxr

Speak = Callable[..., Awaitable[bytes]]


def pcm_of_wav(wav: bytes) -> tuple[np.ndarray, int]:
    """Samples (int16) and rate of a WAV as espeak-ng writes it (its sizes may be wrong)."""
    with wave.open(io.BytesIO(wav)) as reader:
        rate = reader.getframerate()
        assert reader.getnchannels() == 1 and reader.getsampwidth() == 2
    data_at = wav.index(b"data") + 8
    body = wav[data_at:]
    return np.frombuffer(body[: len(body) - len(body) % 2], dtype="<i2"), rate


@pytest.fixture
def speak() -> Speak:
    """Factory: ``await speak(text, rate, voice="ko", pad_ms=200)`` -> PCM16 LE at ``rate``.

    Runs espeak-ng directly (not through EspeakTts, so the STT tests do not depend on it) and
    resamples its 22050 Hz output with soxr; ``pad_ms`` of silence is added on both sides.
    """

    async def make(text: str, rate: int, voice: str = "ko", pad_ms: int = 200) -> bytes:
        proc = await asyncio.create_subprocess_exec(
            "espeak-ng",
            "-v",
            voice,
            "--stdout",
            "--",
            text,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        wav, err = await proc.communicate()
        assert proc.returncode == 0, err.decode(errors="replace")
        samples, source_rate = pcm_of_wav(wav)
        resampled = soxr.resample(samples.astype(np.float32) / 32768.0, source_rate, rate, "HQ")
        pcm = (np.clip(resampled, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        pad = bytes(rate * 2 * pad_ms // 1000)
        return bytes(pad + pcm + pad)

    return make
