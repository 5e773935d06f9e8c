"""Voice activity detection: is this 20 ms frame of caller audio speech?

Wraps the WebRTC VAD (``webrtcvad``: 8/16/32/48 kHz, frames of 10/20/30 ms, aggressiveness 0-3)
and adds an energy floor: a frame quieter than ``energy_floor_dbfs`` (RMS relative to full scale)
is never speech. WebRTC's VAD adapts to the level it hears and happily calls steady low-level line
noise speech; the floor stops that. ``energy_floor_dbfs=None`` disables it.

With ``noise_margin_db``, a frame must also be that much louder than the line's own noise, followed
frame by frame (down at once, up by ``NOISE_RISE_DB_PER_S`` on non-speech frames): under steady
hiss above the floor the
WebRTC VAD goes on calling the noise after the words speech for ~100 ms, and every end-of-turn
silence would be counted from there.

One detector per call (the WebRTC VAD keeps per-stream state). It is cheap (a few microseconds per
frame) and runs on the event loop.
"""

from __future__ import annotations

import math

import numpy as np
import webrtcvad

from callwright.errors import ConfigError, MediaError

SAMPLE_RATES = (8000, 16000, 32000, 48000)
FRAME_MS = (10, 20, 30)
DEFAULT_ENERGY_FLOOR_DBFS = -50.0
#: The line's noise level starts at ``NOISE_START_DBFS`` (no veto above the usual floor: a caller's
#: first frames are often their words, Asterisk sending nothing before), follows any frame down at
#: once, and rises by at most this much per second of frames the WebRTC VAD calls silence (never
#: on speech, however long the caller talks): it reaches a -42 dBFS hiss within ~0.4 s of it.
NOISE_RISE_DB_PER_S = 20.0
NOISE_START_DBFS = -50.0
SILENCE_DBFS = -120.0


def frame_dbfs(pcm: bytes) -> float:
    """RMS level of PCM16 LE audio in dB relative to full scale (-120.0 for digital silence)."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    if samples.size == 0:
        return SILENCE_DBFS
    rms = math.sqrt(float(np.dot(samples, samples)) / samples.size)
    if rms <= 0.0:
        return SILENCE_DBFS
    return max(SILENCE_DBFS, 20.0 * math.log10(rms / 32768.0))


class NoiseMargin:
    """The line's noise level, followed frame by frame (see ``NOISE_RISE_DB_PER_S``), and whether
    a frame a detector calls speech stands ``margin_db`` above it."""

    def __init__(self, margin_db: float, frame_ms: int) -> None:
        if not 0.0 <= margin_db <= 30.0:
            raise ConfigError("vad.noise_margin_db", "a margin from 0 to 30 dB or none", margin_db)
        self._margin = 10.0 ** (margin_db / 10.0)
        self._rise = 10.0 ** (NOISE_RISE_DB_PER_S * frame_ms / 1000.0 / 10.0)
        self._noise = (32768.0 * 10.0 ** (NOISE_START_DBFS / 20.0)) ** 2  # mean square

    def passes(self, pcm_frame: bytes, speech: bool) -> bool:
        """Follow the noise with this frame; False when ``speech`` but not above the margin."""
        samples = np.frombuffer(pcm_frame, dtype="<i2").astype(np.float64)
        power = float(np.dot(samples, samples)) / samples.size if samples.size else 0.0
        self._noise = min(max(power, 1.0), self._noise if speech else self._noise * self._rise)
        return not speech or power >= self._noise * self._margin


class VoiceActivityDetector:
    """Classifies frames of ``frame_ms`` of PCM16 LE mono at ``sample_rate``."""

    def __init__(
        self,
        sample_rate: int,
        aggressiveness: int = 2,
        frame_ms: int = 20,
        *,
        energy_floor_dbfs: float | None = DEFAULT_ENERGY_FLOOR_DBFS,
        noise_margin_db: float | None = None,
    ) -> None:
        if sample_rate not in SAMPLE_RATES:
            raise ConfigError("vad.sample_rate", f"one of {SAMPLE_RATES}", sample_rate)
        if frame_ms not in FRAME_MS:
            raise ConfigError("vad.frame_ms", f"one of {FRAME_MS}", frame_ms)
        if aggressiveness not in (0, 1, 2, 3):
            raise ConfigError("vad.aggressiveness", "an integer from 0 to 3", aggressiveness)
        if energy_floor_dbfs is not None and not -120.0 <= energy_floor_dbfs <= 0.0:
            raise ConfigError("vad.energy_floor_dbfs", "a level from -120 to 0 dBFS or none",
                              energy_floor_dbfs)
        self.sample_rate = sample_rate
        self.frame_ms = frame_ms
        self.aggressiveness = aggressiveness
        self.energy_floor_dbfs = energy_floor_dbfs
        self.noise_margin_db = noise_margin_db
        self._margin = None if noise_margin_db is None else NoiseMargin(noise_margin_db, frame_ms)
        self.frame_bytes = sample_rate * frame_ms // 1000 * 2
        self._vad = webrtcvad.Vad(aggressiveness)
        # RMS floor as a mean square in sample units, so is_speech needs no logarithm.
        self._floor_ms: float | None = (
            None
            if energy_floor_dbfs is None
            else (32768.0 * 10.0 ** (energy_floor_dbfs / 20.0)) ** 2
        )

    def is_speech(self, pcm_frame: bytes) -> bool:
        """True if the frame holds speech. A short frame (the last one of a played file) is padded
        with silence; a longer one raises :class:`MediaError`."""
        size = len(pcm_frame)
        if size != self.frame_bytes:
            if size > self.frame_bytes or size % 2:
                raise MediaError(
                    f"VAD expects {self.frame_bytes}-byte frames, got {size} bytes"
                )
            pcm_frame = bytes(pcm_frame) + bytes(self.frame_bytes - size)
        try:
            # Always run the WebRTC VAD, even below the floor, so its adaptive state is the same as
            # without a floor: the floor only vetoes, it never changes what the VAD learns.
            speech = bool(self._vad.is_speech(pcm_frame, self.sample_rate))
        except Exception as exc:  # webrtcvad raises a bare Error type of its own
            raise MediaError(f"VAD failed on a {size}-byte frame: {exc}") from exc
        if self._margin is not None and not self._margin.passes(pcm_frame, speech):
            return False  # no louder than the line's own noise: its tail, not words
        if speech and self._floor_ms is not None:
            samples = np.frombuffer(pcm_frame, dtype="<i2").astype(np.float64)
            speech = float(np.dot(samples, samples)) / samples.size >= self._floor_ms
        return speech
