"""Prompt conversion with pydub (WAV, MP3 and OGG through ffmpeg) and the prompted TTS."""

from __future__ import annotations

import io
import math
import subprocess
import wave

import numpy as np
import pytest

from callwright.media.g711 import ulaw_decode
from callwright.prompts.audio import PromptAudioError, convert_prompt, format_of, wav_to_mp3
from callwright.prompts.tts import PromptedTts


def tone_wav(hz: float = 440, seconds: float = 1.0, rate: int = 44100, channels: int = 2) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    samples = (8000 * np.sin(2 * math.pi * hz * t)).astype("<i2")
    frames = np.repeat(samples, channels) if channels > 1 else samples
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames.tobytes())
    return buf.getvalue()


def peak_hz(pcm: bytes, rate: int) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.argmax(spectrum) * rate / len(samples))


def test_wav_to_every_call_format() -> None:
    audio = convert_prompt(tone_wav(), "wav")
    assert audio.duration_ms == 1000
    assert len(audio.slin8) == 16000 and len(audio.slin16) == 32000
    assert len(audio.ulaw) == len(audio.alaw) == 8000
    assert abs(peak_hz(audio.slin8, 8000) - 440) < 5
    assert abs(peak_hz(audio.slin16, 16000) - 440) < 5
    assert abs(peak_hz(ulaw_decode(audio.ulaw), 8000) - 440) < 5


@pytest.mark.parametrize("fmt", ["mp3", "ogg"])  # through ffmpeg (apt: make deps, Dockerfile)
def test_mp3_and_ogg(fmt: str) -> None:
    encoded = subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-f", "wav", "-i", "pipe:0", "-f", fmt, "pipe:1"],
        input=tone_wav(), capture_output=True, check=True).stdout
    audio = convert_prompt(encoded, format_of(f"greeting.{fmt}"))
    assert 950 <= audio.duration_ms <= 1100
    assert abs(peak_hz(audio.slin16, 16000) - 440) < 10
    assert wav_to_mp3(tone_wav())[:3] in (b"ID3", b"\xff\xfb", b"\xff\xf3")


def test_bad_uploads() -> None:
    with pytest.raises(PromptAudioError, match="WAV, MP3 or OGG"):
        format_of("greeting.flac")
    with pytest.raises(PromptAudioError, match="empty"):
        convert_prompt(b"", "wav")
    with pytest.raises(PromptAudioError, match="not readable as WAV"):
        convert_prompt(b"RIFF....not a wav", "wav")
    with pytest.raises(PromptAudioError, match="shorter than 0.1 s"):
        convert_prompt(tone_wav(seconds=0.05), "wav")


class FakeTts:
    name = "fake"

    async def synthesize(self, text: str, sample_rate: int, voice: str | None = None) -> bytes:
        return b"tts:" + text.encode()


async def test_prompted_tts_plays_the_recording_for_its_text() -> None:
    tts = PromptedTts(FakeTts(), {"Hello, this is the clinic.": b"\x01\x00" * 10}, 8000)
    assert await tts.synthesize("Hello,  this is the clinic. ", 8000) == b"\x01\x00" * 10
    assert await tts.synthesize("Something else.", 8000) == b"tts:Something else."
    assert await tts.synthesize("Hello, this is the clinic.", 16000) == (
        b"tts:Hello, this is the clinic.")
    assert tts.played == 1 and tts.name == "fake"
