from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from callwright.errors import MediaError
from callwright.media.resample import Resampler, resample_once

Tone = Callable[..., bytes]


@pytest.fixture
def tone() -> Tone:
    def make(freq: float, rate: int, seconds: float = 1.0, amplitude: float = 12000.0) -> bytes:
        t = np.arange(int(rate * seconds)) / rate
        return (amplitude * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()

    return make


def samples(pcm: bytes) -> npt.NDArray[np.float64]:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


def peak_frequency(pcm: bytes, rate: int) -> float:
    x = samples(pcm)
    x = x[len(x) // 8 : -len(x) // 8]  # skip the filter's edges
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


def rms(pcm: bytes) -> float:
    x = samples(pcm)
    x = x[len(x) // 8 : -len(x) // 8]
    return float(np.sqrt(np.mean(x**2)))


def stream(resampler: Resampler, pcm: bytes, chunk_bytes: int) -> bytes:
    out = [resampler.process(pcm[i : i + chunk_bytes]) for i in range(0, len(pcm), chunk_bytes)]
    out.append(resampler.process(b"", last=True))
    return b"".join(out)


@pytest.mark.parametrize(("in_rate", "out_rate"), [(8000, 16000), (16000, 8000)])
@pytest.mark.parametrize("use_stream", [True, False])
def test_tone_keeps_its_frequency(
    tone: Tone, in_rate: int, out_rate: int, use_stream: bool
) -> None:
    pcm = tone(1000, in_rate)
    if use_stream:
        out = stream(Resampler(in_rate, out_rate), pcm, in_rate // 50 * 2)
    else:
        out = resample_once(pcm, in_rate, out_rate)
    assert len(out) == len(pcm) * out_rate // in_rate
    assert peak_frequency(out, out_rate) == pytest.approx(1000, abs=2)
    assert rms(out) == pytest.approx(rms(pcm), rel=0.02)


@pytest.mark.parametrize("low_latency", [True, False])
def test_tone_above_nyquist_is_removed_not_aliased(tone: Tone, low_latency: bool) -> None:
    pcm = tone(6000, 16000)
    for out in (
        stream(Resampler(16000, 8000, low_latency=low_latency), pcm, 640),
        resample_once(pcm, 16000, 8000),
    ):
        attenuation_db = 20 * np.log10(max(rms(out), 1e-3) / rms(pcm))
        assert attenuation_db < -40
    # Naive decimation (every other sample) would fold the tone to 2 kHz at full level.
    naive = samples(pcm)[::2].astype("<i2").tobytes()
    assert rms(naive) > 0.5 * rms(pcm)
    assert peak_frequency(naive, 8000) == pytest.approx(2000, abs=2)


def test_default_streaming_matches_one_shot(tone: Tone) -> None:
    pcm = tone(440, 8000) + tone(1700, 8000, amplitude=5000)
    for in_rate, out_rate in ((8000, 16000), (16000, 8000)):
        streamed = stream(Resampler(in_rate, out_rate, low_latency=False), pcm, in_rate // 50 * 2)
        once = resample_once(pcm, in_rate, out_rate)
        assert len(streamed) == len(once)
        assert np.max(np.abs(samples(streamed) - samples(once))) <= 2


@pytest.mark.parametrize(("in_rate", "out_rate"), [(8000, 16000), (16000, 8000), (22050, 8000)])
def test_low_latency_streaming_is_the_same_audio_slightly_delayed(
    in_rate: int, out_rate: int
) -> None:
    rng = np.random.default_rng(5)
    # Band-limited noise (below both Nyquist frequencies) so that nothing is filtered away.
    noise = resample_once(
        (rng.standard_normal(in_rate) * 6000).astype("<i2").tobytes(), in_rate, 6000
    )
    pcm = resample_once(noise, 6000, in_rate)
    streamed = samples(stream(Resampler(in_rate, out_rate), pcm, in_rate // 50 * 2))
    once = samples(resample_once(pcm, in_rate, out_rate))
    assert abs(len(streamed) - len(once)) <= 2
    n = min(len(streamed), len(once))
    streamed, once = streamed[:n], once[:n]
    # The same spectrum, band by band (the variable-rate engine's filter has the same magnitude
    # response, not the same phase, so the samples are not identical).
    freqs = np.fft.rfftfreq(n) * out_rate
    power_streamed = np.abs(np.fft.rfft(streamed)) ** 2
    power_once = np.abs(np.fft.rfft(once)) ** 2
    for low in range(100, 2800, 300):
        band = (freqs >= low) & (freqs < low + 300)
        ratio_db = 10 * np.log10(power_streamed[band].sum() / power_once[band].sum())
        assert abs(ratio_db) < 0.2, f"{low}-{low + 300} Hz differs by {ratio_db:.2f} dB"
    # And aligned in time: the cross-correlation peaks within 1 ms.
    lags = range(-8, 9)
    core = once[100:-100]
    corr = [float(np.dot(streamed[100 + lag : n - 100 + lag], core)) for lag in lags]
    best = int(np.argmax(corr))
    assert abs(lags[best]) <= 8
    assert corr[best] / float(np.dot(core, core)) > 0.9


def test_low_latency_stream_returns_audio_for_every_chunk(tone: Tone) -> None:
    pcm = tone(440, 8000, seconds=0.5)
    resampler = Resampler(8000, 16000)
    sizes = [len(resampler.process(pcm[i : i + 320])) for i in range(0, len(pcm), 320)]
    assert all(size > 0 for size in sizes[2:])
    assert max(sizes[2:]) - min(sizes[2:]) <= 4


def test_equal_rates_pass_through(tone: Tone) -> None:
    pcm = tone(440, 8000, seconds=0.1)
    resampler = Resampler(8000, 8000)
    assert resampler.passthrough
    assert resampler.process(pcm) == pcm
    assert resample_once(pcm, 16000, 16000) == pcm


def test_stream_can_restart_after_last(tone: Tone) -> None:
    pcm = tone(440, 8000, seconds=0.2)
    resampler = Resampler(8000, 16000, low_latency=False)
    first = stream(resampler, pcm, 320)
    second = stream(resampler, pcm, 320)
    assert first == second


def test_loud_input_is_clipped_not_wrapped() -> None:
    square = np.tile(np.array([32767] * 8 + [-32768] * 8, dtype="<i2"), 200).tobytes()
    out = samples(resample_once(square, 8000, 16000))
    assert out.max() <= 32767 and out.min() >= -32768
    assert out.max() > 30000  # overshoot is clipped at full scale, not wrapped negative


def test_bad_input() -> None:
    with pytest.raises(MediaError):
        Resampler(8000, 16000).process(b"\x00")
    with pytest.raises(MediaError):
        resample_once(b"\x00\x00\x00", 8000, 16000)
    with pytest.raises(ValueError):
        Resampler(0, 8000)
    with pytest.raises(ValueError):
        Resampler(8000, 16000, quality="best")
