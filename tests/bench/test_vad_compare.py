"""The VAD comparison's synthetic line sounds (bench/turn_corpus.py) are what they say, and its
measures count what they say: onsets, false starts, missed onsets, in audio time."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from bench.turn_corpus import RATE, corpus, cough, hiss, office_noise
from bench.vad_compare import Clip, measure, noise_clips, pcm_of, run_clip, speech_clips
from callwright.speech.silero_vad import detector


def dbfs(signal: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(signal**2)) / 32768.0))


def test_noises_have_their_level_and_are_seeded() -> None:
    rng = np.random.default_rng(1)
    assert dbfs(hiss(RATE, -42.0, rng)) == pytest.approx(-42.0, abs=0.01)
    assert dbfs(office_noise(RATE, -30.0, rng)) == pytest.approx(-30.0, abs=0.01)
    one = hiss(400, -40.0, np.random.default_rng(5))
    assert np.array_equal(one, hiss(400, -40.0, np.random.default_rng(5)))


def test_a_cough_is_a_short_loud_burst() -> None:
    for seed in range(10):
        burst = cough(np.random.default_rng(seed))
        assert 0.18 * RATE <= burst.size <= 0.9 * RATE
        peak = 20 * np.log10(np.max(np.abs(burst)) / 32768.0)
        assert -14.01 <= peak <= -7.99
        loud = np.flatnonzero(np.abs(burst) > 0.5 * np.max(np.abs(burst)))
        assert loud[0] < 0.05 * RATE  # a sharp attack



def test_noise_only_clips_count_false_starts_not_onsets() -> None:
    clips = noise_clips()
    assert {len(c) for c in clips.values()} == {6, 16}
    figures = measure(lambda: detector("webrtc", RATE, 2, 20), clips["coughs"])
    assert set(figures) >= {"false_starts", "false_turns", "cpu_ms_per_audio_s"}
    assert "onset_ms" not in figures
    silent = Clip("silence", pcm_of(np.zeros(RATE)))
    assert run_clip(lambda: detector("webrtc", RATE, 2, 20), silent).starts == []


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is a system dependency")
def test_speech_onsets_are_measured_from_the_first_word() -> None:
    items = [i for i in corpus(noise=False) if i.name in ("ko_yes", "en_phone")]
    figures = measure(lambda: detector("webrtc", RATE, 2, 20), speech_clips(items, "clean"))
    assert figures["missed_onsets"] == 0 and figures["false_starts"] == 0
    assert 40 <= figures["onset_ms"]["p50"] <= 120  # 60 ms of speech confirm an onset
    early = speech_clips(items[:1], "clean")[0]
    early.onset_ms = 1000.0  # said to start later than it does: its onset is a false start
    late = measure(lambda: detector("webrtc", RATE, 2, 20), [early])
    assert late["false_starts"] == 1 and late["missed_onsets"] == 1
