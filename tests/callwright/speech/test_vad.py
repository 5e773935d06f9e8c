from __future__ import annotations

import functools
import io
import shutil
import subprocess
import wave
from collections.abc import Callable

import numpy as np
import pytest
import soxr

from bench.turn_corpus import NOISE_DBFS, corpus, hiss, render
from bench.turn_corpus import frames as corpus_frames
from callwright.errors import ConfigError, MediaError
from callwright.speech.vad import VoiceActivityDetector, frame_dbfs

SpeechFactory = Callable[[str, int], bytes]


@functools.lru_cache(maxsize=8)
def _espeak(text: str, rate: int) -> bytes:
    out = subprocess.run(
        ["espeak-ng", "-v", "en-us", "--stdout", text], capture_output=True, check=True, timeout=30
    ).stdout
    with wave.open(io.BytesIO(out), "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        source_rate = w.getframerate()
        raw = w.readframes(1 << 30)  # the streamed header has no real length: read to the end
    samples = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    resampled = soxr.resample(samples, source_rate, rate)
    return bytes((np.clip(resampled, -1.0, 1.0) * 32767.0).astype("<i2").tobytes())


@pytest.fixture
def speech_pcm() -> SpeechFactory:
    """Real synthesized speech (espeak-ng, 22050 Hz) resampled to ``rate``, PCM16 LE."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    return _espeak


@pytest.fixture
def make_noise() -> Callable[[float, int, float], bytes]:
    def make(level_dbfs: float, rate: int, seconds: float) -> bytes:
        rng = np.random.default_rng(1234)
        amplitude = 32768.0 * 10.0 ** (level_dbfs / 20.0)
        noise = rng.standard_normal(int(rate * seconds)) * amplitude
        return bytes(noise.astype("<i2").tobytes())

    return make


def frames(pcm: bytes, frame_bytes: int) -> list[bytes]:
    return [pcm[i : i + frame_bytes] for i in range(0, len(pcm) - frame_bytes + 1, frame_bytes)]


@pytest.mark.parametrize("floor", [None, -50.0])
def test_digital_silence_is_never_speech(floor: float | None) -> None:
    vad = VoiceActivityDetector(8000, energy_floor_dbfs=floor)
    assert not any(vad.is_speech(bytes(320)) for _ in range(100))


@pytest.mark.parametrize("rate", [8000, 16000])
def test_synthesized_speech_is_mostly_speech(rate: int, speech_pcm: SpeechFactory) -> None:
    pcm = speech_pcm("Hello, thank you for calling. How can I help you today?", rate)
    vad = VoiceActivityDetector(rate)
    chunks = frames(pcm, vad.frame_bytes)
    verdicts = [vad.is_speech(f) for f in chunks]
    assert len(chunks) > 100
    assert sum(verdicts) / len(verdicts) > 0.6
    loud = [v for f, v in zip(chunks, verdicts, strict=True) if frame_dbfs(f) > -35.0]
    assert len(loud) > 50
    assert sum(loud) / len(loud) > 0.9


def test_speech_after_silence_is_detected(speech_pcm: SpeechFactory) -> None:
    vad = VoiceActivityDetector(8000)
    pcm = bytes(320 * 50) + speech_pcm("Yes, please.", 8000)
    verdicts = [vad.is_speech(f) for f in frames(pcm, 320)]
    assert not any(verdicts[:50])
    assert sum(verdicts[50:]) >= 10


def test_low_white_noise_is_stopped_by_the_energy_floor(
    speech_pcm: SpeechFactory, make_noise: Callable[[float, int, float], bytes]
) -> None:
    noise = make_noise(-60.0, 8000, 3.0)
    assert frame_dbfs(noise) == pytest.approx(-60.0, abs=0.5)
    # Line noise after the caller spoke: WebRTC's VAD has adapted to speech and calls it speech.
    pcm = speech_pcm("Good morning, I would like to book an appointment.", 8000)
    skip = len(frames(pcm, 320))
    bare = VoiceActivityDetector(8000, energy_floor_dbfs=None)
    floored = VoiceActivityDetector(8000)  # default floor, -50 dBFS
    bare_hits = [bare.is_speech(f) for f in frames(pcm + noise, 320)][skip:]
    floored_hits = [floored.is_speech(f) for f in frames(pcm + noise, 320)][skip:]
    assert sum(bare_hits) > len(bare_hits) // 2
    assert not any(floored_hits)
    fresh = VoiceActivityDetector(8000)
    assert not any(fresh.is_speech(f) for f in frames(noise, 320))


def test_floor_only_vetoes_quiet_frames(speech_pcm: SpeechFactory) -> None:
    pcm = speech_pcm("Good morning, I would like to book an appointment.", 8000)
    pcm += bytes(320 * 20)
    bare = VoiceActivityDetector(8000, energy_floor_dbfs=None)
    floored = VoiceActivityDetector(8000, energy_floor_dbfs=-50.0)
    for f in frames(pcm, 320):
        assert floored.is_speech(f) == (bare.is_speech(f) and frame_dbfs(f) >= -50.0)


@pytest.mark.parametrize("frame_ms", [10, 20, 30])
def test_frame_sizes(frame_ms: int, speech_pcm: SpeechFactory) -> None:
    vad = VoiceActivityDetector(16000, aggressiveness=3, frame_ms=frame_ms)
    assert vad.frame_bytes == 16000 * frame_ms // 1000 * 2
    pcm = speech_pcm("One two three four five.", 16000)
    assert any(vad.is_speech(f) for f in frames(pcm, vad.frame_bytes))


def test_short_frame_is_padded_and_long_frame_refused() -> None:
    vad = VoiceActivityDetector(8000)
    assert vad.is_speech(bytes(16)) is False  # Asterisk's short last frame of a file
    with pytest.raises(MediaError):
        vad.is_speech(bytes(322))
    with pytest.raises(MediaError):
        vad.is_speech(bytes(15))


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"sample_rate": 11025}, "vad.sample_rate"),
        ({"sample_rate": 8000, "frame_ms": 25}, "vad.frame_ms"),
        ({"sample_rate": 8000, "aggressiveness": 4}, "vad.aggressiveness"),
        ({"sample_rate": 8000, "energy_floor_dbfs": 3.0}, "vad.energy_floor_dbfs"),
    ],
)
def test_bad_settings_name_their_key(kwargs: dict[str, float], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        VoiceActivityDetector(**kwargs)  # type: ignore[arg-type]
    assert caught.value.key == key


def test_frame_dbfs_levels() -> None:
    t = np.arange(8000) / 8000.0
    full_sine = (np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2").tobytes()
    assert frame_dbfs(full_sine) == pytest.approx(-3.01, abs=0.05)
    assert frame_dbfs(bytes(320)) == -120.0
    assert frame_dbfs(b"") == -120.0


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is a system dependency")
def test_a_noise_margin_ends_speech_with_the_words_under_line_hiss() -> None:
    item = next(i for i in corpus() if i.name == "ko_yes+noise")  # -42 dBFS hiss, above the floor
    audio = render(item)

    # the line as heard during the greeting, before the caller speaks
    line = hiss(8000 * 3 // 2, NOISE_DBFS, np.random.default_rng(3))
    before = np.clip(np.round(line), -32768, 32767).astype("<i2").tobytes()

    def last_speech_ms(vad: VoiceActivityDetector) -> float:
        for pcm in corpus_frames(before):
            vad.is_speech(pcm)
        last = 0.0
        for i, pcm in enumerate(corpus_frames(audio.pcm)):
            if vad.is_speech(pcm):
                last = i * 20.0 + 20.0
        return last - audio.speech_end_ms

    assert last_speech_ms(VoiceActivityDetector(8000, 2, 20)) >= 60  # the VAD's hangover
    assert last_speech_ms(VoiceActivityDetector(8000, 2, 20, noise_margin_db=6.0)) <= 20


@pytest.mark.parametrize("lead_frames", [0, 50])
def test_a_noise_margin_does_not_veto_speech_heard_first_or_over_digital_silence(
    speech_pcm: SpeechFactory, lead_frames: int,
) -> None:
    # Asterisk sends nothing while the caller is silent: their first frames are often words.
    chunks = frames(bytes(320 * lead_frames) + speech_pcm("one two three four", 8000), 320)
    plain, margin = (VoiceActivityDetector(8000, 2, 20),
                     VoiceActivityDetector(8000, 2, 20, noise_margin_db=6.0))
    heard = [plain.is_speech(c) for c in chunks]
    with_margin = [margin.is_speech(c) for c in chunks]
    assert sum(with_margin) >= 0.9 * sum(heard) > 0


def test_a_bad_noise_margin_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="vad.noise_margin_db"):
        VoiceActivityDetector(8000, 2, 20, noise_margin_db=-1.0)
