"""EspeakTts with the real espeak-ng."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from callwright.errors import SpeechError
from callwright.speech.espeak_tts import EspeakTts, parse_wav, trim_leading_silence
from callwright.speech.protocols import TtsEngine


def samples_of(pcm: bytes) -> np.ndarray:
    assert len(pcm) % 2 == 0
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


def rms(pcm: bytes) -> float:
    return float(np.sqrt(np.mean(samples_of(pcm) ** 2)))


def lead_ms(pcm: bytes, rate: int, threshold: int = 200) -> float:
    loud = np.flatnonzero(np.abs(samples_of(pcm)) > threshold)
    assert loud.size, "no sound at all"
    return float(loud[0]) * 1000.0 / rate


@pytest.mark.parametrize("rate", [8000, 16000])
@pytest.mark.parametrize(
    ("voice", "text", "seconds"),
    [
        ("ko", "안녕하세요, 무엇을 도와드릴까요?", (1.0, 5.0)),
        ("en-us", "Hello, how can I help you today?", (1.0, 4.0)),
    ],
)
async def test_speech_is_audible_and_of_plausible_length(
    voice: str, text: str, seconds: tuple[float, float], rate: int
) -> None:
    tts: TtsEngine = EspeakTts(default_voice="en-us")
    pcm = await tts.synthesize(text, rate, voice=voice)
    duration = len(pcm) / 2 / rate
    assert seconds[0] <= duration <= seconds[1]
    assert rms(pcm) > 500  # speech, not silence or faint noise
    assert np.abs(samples_of(pcm)).max() < 32768
    # The leading silence espeak adds is cut to about 20 ms (a little more after resampling).
    assert lead_ms(pcm, rate) <= 25


async def test_rates_give_the_same_duration() -> None:
    tts = EspeakTts()
    low = await tts.synthesize("The quick brown fox.", 8000)
    high = await tts.synthesize("The quick brown fox.", 16000)
    assert abs(len(high) / 2 / 16000 - len(low) / 2 / 8000) < 0.01


async def test_words_per_minute_changes_the_duration() -> None:
    text = "This sentence is read at two different speeds."
    slow = await EspeakTts(rate_wpm=120).synthesize(text, 8000)
    fast = await EspeakTts(rate_wpm=300).synthesize(text, 8000)
    assert len(fast) < 0.7 * len(slow)


async def test_shell_metacharacters_are_spoken_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = f"; touch {marker} && echo $(touch {marker}) `touch {marker}` | cat > {marker} &"
    tts = EspeakTts()
    pcm = await tts.synthesize(text, 8000)
    assert not marker.exists()
    assert len(pcm) / 2 / 8000 > 2.0  # all of it was read out


async def test_text_that_looks_like_an_option_is_spoken() -> None:
    tts = EspeakTts()
    assert tts.command("--version")[-2:] == ["--", "--version"]
    pcm = await tts.synthesize("--version", 16000)
    assert rms(pcm) > 500


async def test_unknown_voice_raises_speech_error() -> None:
    tts = EspeakTts()
    with pytest.raises(SpeechError, match="espeak-ng failed"):
        await tts.synthesize("hello", 8000, voice="xx-nosuchvoice")


@pytest.mark.parametrize("voice", ["-x", "en us", "ko;rm", ""])
def test_malformed_voice_names_are_refused(voice: str) -> None:
    with pytest.raises(SpeechError, match="invalid espeak-ng voice"):
        EspeakTts(default_voice=voice)


async def test_missing_executable_raises_speech_error(tmp_path: Path) -> None:
    tts = EspeakTts(executable=str(tmp_path / "espeak-ng"))
    with pytest.raises(SpeechError, match="not installed"):
        await tts.synthesize("hello", 8000)


async def test_blank_text_is_empty_audio() -> None:
    assert await EspeakTts().synthesize("  \n", 8000) == b""


def wav_bytes(samples: list[int], rate: int = 22050, data_size: int | None = None) -> bytes:
    data = struct.pack(f"<{len(samples)}h", *samples)
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    size = len(data) if data_size is None else data_size
    extra = b"LIST" + struct.pack("<I", 3) + b"abc\x00"  # an odd-sized chunk, padded
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + extra
    return b"RIFF" + struct.pack("<I", 0x7FFFF000) + body + b"data" + struct.pack("<I", size) + data


def test_parse_wav_reads_to_the_end_when_sizes_are_placeholders() -> None:
    samples, rate = parse_wav(wav_bytes([1, -2, 3], data_size=0x7FFFF000))
    assert rate == 22050
    assert samples.tolist() == [1, -2, 3]


@pytest.mark.parametrize("data", [b"", b"RIFF\x00\x00\x00\x00WAVX", b"RIFF\x04\x00\x00\x00WAVE"])
def test_parse_wav_rejects_garbage(data: bytes) -> None:
    with pytest.raises(SpeechError):
        parse_wav(data)


def test_trim_leading_silence_keeps_20_ms() -> None:
    samples = np.array([0] * 1000 + [5000] * 10, dtype=np.int16)
    trimmed = trim_leading_silence(samples, 8000)
    assert len(trimmed) == 160 + 10
    silent = np.zeros(100, dtype=np.int16)
    assert len(trim_leading_silence(silent, 8000)) == 100
