"""Syllables counted from the sound: synthetic bursts (exact), and the turn-taking corpus's Korean
espeak-ng speech (bench/turn_corpus.py), where each digit, and each Hangul character, is one."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from bench.turn_corpus import CorpusItem, corpus, frames, grouped_digits, render
from callwright.errors import ConfigError
from callwright.speech.syllables import SyllableCounter

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is a system dependency (make system-deps)")
RATE = 8000


def vowels(count: int, *, on_ms: int = 160, off_ms: int = 60, level: float = 6000.0,
           noise_dbfs: float | None = None) -> bytes:
    """``count`` vowel-like bursts (a 220 Hz buzz with a smooth rise and fall), ``off_ms`` apart,
    300 ms of silence around them, with steady noise under it all when asked."""
    on = RATE * on_ms // 1000
    t = np.arange(on) / RATE
    burst = level * np.sin(np.pi * t / t[-1]) * np.sign(np.sin(2 * np.pi * 220 * t))
    gap = np.zeros(RATE * off_ms // 1000)
    edge = np.zeros(RATE * 300 // 1000)
    signal = np.concatenate([edge, *([burst, gap] * count), edge])
    if noise_dbfs is not None:
        rng = np.random.default_rng(7)
        signal = signal + rng.standard_normal(signal.size) * 32768 * 10 ** (noise_dbfs / 20)
    return bytes(np.clip(signal, -32768, 32767).astype("<i2").tobytes())


def count(pcm: bytes, counter: SyllableCounter | None = None) -> SyllableCounter:
    counter = counter or SyllableCounter(RATE)
    for i, frame in enumerate(frames(pcm)):
        counter.feed(frame, i * 20.0)
    return counter


@pytest.mark.parametrize("n", [1, 3, 4, 11])
def test_each_burst_is_one_syllable(n: int) -> None:
    assert len(count(vowels(n)).peaks_ms) == n


@pytest.mark.parametrize("n", [2, 4])
def test_steady_noise_adds_none(n: int) -> None:
    assert len(count(vowels(n, noise_dbfs=-42.0)).peaks_ms) == n
    assert count(vowels(0, noise_dbfs=-30.0)).peaks_ms == []


def test_silence_and_faint_sound_are_no_syllables() -> None:
    assert count(vowels(0)).peaks_ms == []
    assert count(vowels(3, level=40.0)).peaks_ms == []  # under the absolute floor


def test_counted_since_a_time() -> None:
    counter = count(vowels(4))  # bursts every 220 ms from 300 ms: peaks near 380, 600, 820, 1040
    peaks = counter.peaks_ms
    assert counter.count_since(0.0) == 4
    assert counter.count_since(peaks[2]) == 2
    assert counter.count_since(peaks[-1] + 1) == 0


def test_frames_of_any_size_give_the_same_peaks() -> None:
    pcm = vowels(5)
    whole = count(pcm).peaks_ms
    odd = SyllableCounter(RATE)
    size = 2 * 130  # 16.25 ms frames: hops straddle them
    for i in range(0, len(pcm), size):
        odd.feed(pcm[i : i + size], i / 2 * 1000.0 / RATE)
    assert odd.peaks_ms == whole


def test_reset_forgets() -> None:
    counter = count(vowels(2))
    counter.reset()
    assert counter.count_since(0.0) == 0


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError):
        SyllableCounter(0)
    with pytest.raises(ConfigError):
        SyllableCounter(RATE, prominence_db=0.0)


def syllables_of(item: CorpusItem) -> int:
    return sum(len(part.replace(" ", "")) for part in item.parts)


KO = [i for i in corpus() if i.language == "ko"] + grouped_digits()


@needs_espeak
@pytest.mark.parametrize("item", KO, ids=[i.name for i in KO])
def test_korean_speech_is_counted_within_one_syllable(item: CorpusItem) -> None:
    counted = len(count(render(item).pcm).peaks_ms)
    assert abs(counted - syllables_of(item)) <= 1, counted


@needs_espeak
def test_most_korean_digit_strings_are_counted_exactly() -> None:
    digits = [i for i in KO if i.answer == "digits"]
    exact = [i.name for i in digits if len(count(render(i).pcm).peaks_ms) == syllables_of(i)]
    assert len(exact) >= 0.6 * len(digits), exact
