"""The tune at the end of a turn: synthetic voiced sound with a known pitch glide, and espeak-ng's
clauses (a comma: its voice rises) and statements (a full stop: it falls), clean and under the
corpus's line noise, at 8 and 16 kHz."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.turn_corpus import NOISE_DBFS, synthesize
from callwright.errors import ConfigError
from callwright.speech.intonation import Contour, PitchTracker, semitones

FRAME_MS = 20


def voiced(f0: np.ndarray, rate: int, level: float = 6000.0) -> np.ndarray:
    """A voice-like buzz: harmonics of the per-sample ``f0`` (Hz), falling 6 dB an octave."""
    phase = 2 * np.pi * np.cumsum(f0) / rate
    return sum((level / k) * np.sin(k * phase) for k in range(1, 8))  # type: ignore[return-value]


def feed(tracker: PitchTracker, signal: np.ndarray, rate: int, t0: float = 0.0) -> float:
    pcm = np.clip(np.round(signal), -32768, 32767).astype("<i2").tobytes()
    size = rate * FRAME_MS // 1000 * 2
    t = t0
    for i in range(0, len(pcm) - size + 1, size):
        tracker.feed(pcm[i : i + size], t)
        t += FRAME_MS
    return t


def glide(start_hz: float, end_hz: float, rate: int, steady_ms: int = 600,
          glide_ms: int = 200) -> np.ndarray:
    steady = np.full(rate * steady_ms // 1000, start_hz)
    moving = np.geomspace(start_hz, end_hz, rate * glide_ms // 1000)
    return np.concatenate((steady, moving))


@pytest.mark.parametrize("rate", [8000, 16000])
@pytest.mark.parametrize(("start", "end", "contour"), [
    (120.0, 145.0, Contour.RISING),    # +3.3 semitones at the end: a clause that goes on
    (120.0, 100.0, Contour.FALLING),   # -3.2: a statement's end
    (120.0, 121.0, Contour.FALLING),   # level at the bottom of the turn's range
])
def test_the_end_of_a_glide_is_told(rate: int, start: float, end: float,
                                    contour: Contour) -> None:
    tracker = PitchTracker(rate)
    feed(tracker, voiced(glide(start, end, rate), rate), rate)
    assert tracker.contour(0) is contour


def test_a_level_end_above_the_turns_low_is_level() -> None:
    rate = 8000
    f0 = np.concatenate((glide(100.0, 140.0, rate, 300, 300), np.full(rate * 300 // 1000, 140.0)))
    tracker = PitchTracker(rate)
    feed(tracker, voiced(f0, rate), rate)
    assert tracker.contour(0) is Contour.LEVEL


@pytest.mark.parametrize("hz", [85.0, 150.0, 240.0])
def test_a_steady_pitch_is_estimated_within_two_percent(hz: float) -> None:
    rate = 8000
    tracker = PitchTracker(rate, min_voiced=2)
    feed(tracker, voiced(np.full(rate // 2, hz), rate), rate)
    assert tracker.voiced_since(0) >= 20
    for _, pitch in tracker.pitches():
        assert abs(pitch - semitones(hz)) < 0.35  # 2 % is 0.34 semitones


def test_noise_and_silence_are_not_voiced() -> None:
    rate = 8000
    rng = np.random.default_rng(3)
    tracker = PitchTracker(rate)
    end = feed(tracker, rng.standard_normal(rate) * 32768 * 10 ** (NOISE_DBFS / 20) * 4, rate)
    feed(tracker, np.zeros(rate // 2), rate, end)
    assert tracker.voiced_since(0) == 0
    assert tracker.contour(0) is Contour.UNKNOWN


def test_only_the_turn_since_its_onset_counts_and_a_new_frame_is_judged_again() -> None:
    rate = 8000
    tracker = PitchTracker(rate)
    end = feed(tracker, voiced(glide(120.0, 100.0, rate), rate), rate)
    assert tracker.contour(0) is Contour.FALLING
    end = feed(tracker, np.zeros(rate // 2), rate, end)
    assert tracker.contour(end) is Contour.UNKNOWN  # nothing voiced since
    feed(tracker, voiced(glide(120.0, 150.0, rate), rate), rate, end)
    assert tracker.contour(0) is Contour.RISING  # the last words' tune, not the cached verdict
    tracker.reset()
    assert tracker.contour(0) is Contour.UNKNOWN


def test_torn_and_empty_frames_are_taken_without_error() -> None:
    tracker = PitchTracker(8000)
    for t, pcm in enumerate((b"", b"\x01", bytes(321), b"\x00\x10" * 7)):
        tracker.feed(pcm, t * 20.0)
    assert tracker.contour(0) is Contour.UNKNOWN


@given(st.lists(st.binary(max_size=700), max_size=30), st.sampled_from([8000, 16000]))
def test_any_bytes_are_taken_and_judged(chunks: list[bytes], rate: int) -> None:
    tracker = PitchTracker(rate)
    for t, pcm in enumerate(chunks):
        tracker.feed(pcm, t * 20.0)
    assert isinstance(tracker.contour(0), Contour)


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        PitchTracker(11025)
    with pytest.raises(ConfigError):
        PitchTracker(8000, fmin_hz=300, fmax_hz=200)
    with pytest.raises(ConfigError):
        PitchTracker(8000, rise_st=0)


@pytest.mark.skipif(shutil.which("espeak-ng") is None,
                    reason="espeak-ng is a system dependency (make system-deps)")
@pytest.mark.parametrize("rate", [8000, 16000])
@pytest.mark.parametrize("noise", [False, True], ids=["clean", "noise"])
@pytest.mark.parametrize(("language", "text", "contour"), [
    ("ko", "저는,", Contour.RISING),
    ("ko", "내일 오후 세 시에,", Contour.RISING),
    ("ko", "음,", Contour.RISING),
    ("ko", "저는.", Contour.FALLING),
    ("ko", "내일 오후 세 시에.", Contour.FALLING),
    ("ko", "두 명 예약하고 싶어요", Contour.FALLING),
    ("en", "I'd like to,", Contour.RISING),
    ("en", "I would like a table for two,", Contour.RISING),
    ("en", "I would like a table for two.", Contour.FALLING),
    ("en", "tomorrow at seven", Contour.FALLING),
])
def test_espeaks_clauses_rise_and_its_statements_fall(
    language: str, text: str, contour: Contour, noise: bool, rate: int,
) -> None:
    speech = synthesize(text, language, rate).astype(np.float64)
    signal = np.concatenate((np.zeros(rate // 5), speech, np.zeros(rate // 2)))
    if noise:
        rng = np.random.default_rng(16)
        signal += rng.standard_normal(signal.size) * 32768 * 10 ** (NOISE_DBFS / 20)
    tracker = PitchTracker(rate)
    feed(tracker, signal, rate)
    assert tracker.contour(0) is contour
