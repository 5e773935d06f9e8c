import numpy as np

from callwright.media.tones import ringback


def spectrum_peak(pcm: bytes, rate: int) -> float:
    samples = np.frombuffer(pcm, "<i2").astype(float)
    freqs = np.fft.rfftfreq(samples.size, 1 / rate)
    return float(freqs[np.argmax(np.abs(np.fft.rfft(samples)))])


def test_european_ringback_is_425_hz_one_second_on_four_off() -> None:
    pcm = ringback(8000, 5000, "eu")
    samples = np.frombuffer(pcm, "<i2")
    assert samples.size == 40000
    on, off = samples[:8000], samples[8000:]
    assert np.abs(on).max() > 3000 and not off.any()
    assert abs(spectrum_peak(on.tobytes(), 8000) - 425) < 2


def test_us_ringback_mixes_440_and_480_hz_at_16k() -> None:
    pcm = ringback(16000, 2000, "us")
    samples = np.frombuffer(pcm, "<i2").astype(float)
    mags = np.abs(np.fft.rfft(samples))
    freqs = np.fft.rfftfreq(samples.size, 1 / 16000)
    top = sorted(freqs[np.argsort(mags)[-2:]])
    assert abs(top[0] - 440) < 2 and abs(top[1] - 480) < 2
