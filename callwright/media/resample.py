"""Sample-rate conversion of PCM16 LE mono audio with libsoxr (python-soxr).

Samples are converted to float32 for soxr and rounded (and clipped) back to int16, so results are
deterministic (soxr's own int16 output adds dither).

:class:`Resampler` is a stream: one instance per call and direction, fed in order, keeping the
filter state between chunks so that chunk boundaries leave no clicks. :func:`resample_once` is for
whole utterances (a TTS result).

Latency: soxr's default streaming engine works in blocks of about 100 ms, so 20 ms chunks in
would come out as nothing, nothing, ..., then ~100 ms at once. ``low_latency=True`` (the default)
uses soxr's variable-rate engine at a fixed ratio instead, which returns audio for every chunk
after the first with the same anti-aliasing (measured: a tone above the new Nyquist frequency is
attenuated by about 85 dB with either engine at HQ). Concatenated over a stream (``last=True``
flushing the tail), the default engine's output equals :func:`resample_once` of the whole signal
within a few LSB. The low-latency engine's output has the same length and the same magnitude
response, but its filter's phase differs slightly (a delay of a sample or two when
downsampling), so it is the same audio, not the same samples.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import soxr

from callwright.errors import MediaError

QUALITIES = ("QQ", "LQ", "MQ", "HQ", "VHQ")
_LE_INT16 = np.dtype("<i2")
_SCALE = np.float32(32768.0)


def _to_float(pcm: bytes) -> npt.NDArray[np.float32]:
    if len(pcm) % 2:
        raise MediaError(f"PCM16 audio must have an even number of bytes, got {len(pcm)}")
    return np.frombuffer(pcm, dtype=_LE_INT16).astype(np.float32) / _SCALE


def _to_pcm(samples: npt.NDArray[np.float32]) -> bytes:
    scaled = np.rint(np.asarray(samples, dtype=np.float32) * _SCALE)
    clipped: npt.NDArray[np.float32] = np.clip(scaled, -32768, 32767)
    return clipped.astype(_LE_INT16).tobytes()


def _check_rates(in_rate: int, out_rate: int) -> None:
    if in_rate <= 0 or out_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {in_rate} -> {out_rate}")


class Resampler:
    """Streaming int16 mono resampler from ``in_rate`` to ``out_rate``. Passthrough when equal."""

    def __init__(
        self,
        in_rate: int,
        out_rate: int,
        quality: str = "HQ",
        *,
        low_latency: bool = True,
    ) -> None:
        _check_rates(in_rate, out_rate)
        if quality not in QUALITIES:
            raise ValueError(f"quality must be one of {QUALITIES}, got {quality!r}")
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.quality = quality
        self._stream: soxr.ResampleStream | None = None
        if in_rate != out_rate:
            self._stream = soxr.ResampleStream(
                in_rate, out_rate, 1, dtype="float32", quality=quality, vr=low_latency
            )

    @property
    def passthrough(self) -> bool:
        return self._stream is None

    def process(self, pcm: bytes, last: bool = False) -> bytes:
        """Resample the next chunk. ``last=True`` flushes the filter's tail; after it the stream
        starts afresh (as for a new utterance)."""
        samples = _to_float(pcm)
        if self._stream is None:
            return bytes(pcm)
        out = self._stream.resample_chunk(samples, last=last)
        if last:
            self._stream.clear()
        return _to_pcm(out)

    def reset(self) -> None:
        """Drop buffered input and filter state (e.g. after a barge-in flush)."""
        if self._stream is not None:
            self._stream.clear()


def resample_once(pcm: bytes, in_rate: int, out_rate: int, quality: str = "HQ") -> bytes:
    """Resample a whole utterance of PCM16 LE mono. The output is aligned with the input
    (no filter delay) and ``round(len * out_rate / in_rate)`` samples long."""
    _check_rates(in_rate, out_rate)
    if quality not in QUALITIES:
        raise ValueError(f"quality must be one of {QUALITIES}, got {quality!r}")
    samples = _to_float(pcm)
    if in_rate == out_rate or samples.size == 0:
        return bytes(pcm)
    return _to_pcm(soxr.resample(samples, in_rate, out_rate, quality=quality))
