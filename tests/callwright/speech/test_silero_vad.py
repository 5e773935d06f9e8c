"""Silero VAD: the ONNX model of the silero-vad package through onnxruntime, frame by frame."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from bench.turn_corpus import NOISE_DBFS, corpus, frames, hiss, render
from callwright.errors import ConfigError, MediaError
from callwright.speech.silero_vad import (
    SHARED_SILERO,
    SileroModels,
    SileroVad,
    detector,
    model_path,
)
from callwright.speech.vad import VoiceActivityDetector


@pytest.fixture(scope="module")
def models() -> SileroModels:
    models = SileroModels()
    models.load()
    return models


def test_the_model_is_the_one_the_package_ships() -> None:
    path = model_path()
    assert path.name == "silero_vad.onnx" and path.parent.parent.name == "silero_vad"


def test_silence_is_not_speech(models: SileroModels) -> None:
    model = models.loaded()
    assert model is not None
    vad = SileroVad(model, 8000)
    assert not any(vad.is_speech(bytes(320)) for _ in range(50))
    assert vad.runs == 50 * 160 // 256 and vad.probability < 0.1


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng: make system-deps")
@pytest.mark.parametrize("rate", [8000, 16000])
def test_speech_of_the_corpus_is_found_where_it_is(models: SileroModels, rate: int) -> None:
    model = models.loaded()
    assert model is not None
    item = next(i for i in corpus(noise=False) if i.name == "ko_no")
    audio = render(item, rate=rate)
    vad = SileroVad(model, rate)
    verdicts = [vad.is_speech(f) for f in frames(audio.pcm, rate=rate)]
    speech = [i * 20 for i, v in enumerate(verdicts) if v]
    assert speech, "no speech found"
    assert 250 <= speech[0] <= 450  # the word starts at 300 ms
    assert audio.speech_end_ms - 100 <= speech[-1] + 20 <= audio.speech_end_ms + 200


def test_frames_of_the_wrong_size(models: SileroModels) -> None:
    model = models.loaded()
    assert model is not None
    vad = SileroVad(model, 8000)
    assert vad.is_speech(bytes(100)) is False  # a short last frame is padded
    with pytest.raises(MediaError):
        vad.is_speech(bytes(322))
    with pytest.raises(ConfigError):
        SileroVad(model, 48000)
    with pytest.raises(ConfigError):
        SileroVad(model, 8000, threshold=1.5)


def test_a_call_gets_silero_only_when_loaded_at_start_up(models: SileroModels) -> None:
    assert isinstance(detector("silero", 8000, 2, 20, models), SileroVad)
    # Not loaded: never loaded on a call's behalf, the WebRTC VAD instead.
    assert isinstance(detector("silero", 8000, 2, 20, SileroModels()), VoiceActivityDetector)
    assert isinstance(detector("silero", 48000, 2, 20, models), VoiceActivityDetector)
    assert isinstance(detector("webrtc", 8000, 2, 20, models), VoiceActivityDetector)
    with pytest.raises(ConfigError):
        detector("neural", 8000, 2, 20, models)


def test_start_up_loads_the_shared_model() -> None:
    from callwright.speech.warmup import import_native_modules

    took = import_native_modules()
    assert "silero-vad model" in took and SHARED_SILERO.loaded() is not None


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng: make system-deps")
def test_a_noise_margin_ends_silero_speech_with_the_words_under_hiss(
    models: SileroModels,
) -> None:
    model = models.loaded()
    assert model is not None
    audio = render(next(i for i in corpus() if i.name == "ko_no+noise"))  # -42 dBFS hiss
    line = hiss(8000 * 3 // 2, NOISE_DBFS, np.random.default_rng(3))  # heard before the words
    before = np.clip(np.round(line), -32768, 32767).astype("<i2").tobytes()

    def end_lag(vad: SileroVad) -> float:
        for pcm in frames(before):
            vad.is_speech(pcm)
        last = max(i * 20.0 + 20.0 for i, pcm in enumerate(frames(audio.pcm))
                   if vad.is_speech(pcm))
        return last - audio.speech_end_ms

    assert end_lag(SileroVad(model, 8000)) >= 60  # its hangover
    assert end_lag(SileroVad(model, 8000, noise_margin_db=6.0)) <= 20
