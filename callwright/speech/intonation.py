"""The tune at the end of what a caller said: does their voice fall, as at the end of a statement,
or rise, as before a pause in a sentence that goes on?

Speakers signal that they are done with their pitch as much as with their words: a statement ends
low and falling to the bottom of the speaker's range ("final lowering"), while a phrase that goes
on ends level or rising ("저는, ..." / "I'd like to, ..."). For free speech this is what tells a
pause inside a sentence from its end when the recogniser's words cannot (Vosk's Korean on the
telephone band gets the verb endings wrong more often than right).

:class:`PitchTracker` is sans-IO: fed each caller frame with its call time, it estimates the
fundamental frequency of voiced frames (YIN: the cumulative mean normalised difference of a 40 ms
window, on audio at 8 kHz) and remembers it with the frame's time. :meth:`PitchTracker.contour`
judges the last voiced stretch before a time: :attr:`Contour.RISING` when it ends ``rise_st``
semitones above its low point, :attr:`Contour.FALLING` when it ends ``fall_st`` under its high
point or level at the bottom of the turn's range, :attr:`Contour.LEVEL` otherwise, and
:attr:`Contour.UNKNOWN` with too few voiced frames to tell. Cost: one correlation of 320 by 206
samples per voiced frame (~30 µs); unvoiced and quiet frames cost a sum of squares.
"""

from __future__ import annotations

import enum
import math
from collections import deque

import numpy as np

from callwright.errors import ConfigError

#: The rate the pitch is estimated at: 16 kHz audio is halved (a voice's pitch is under 400 Hz).
RATE = 8000
#: A frame this quiet (RMS of PCM16 samples, about -50 dBFS) is not looked at.
QUIET_RMS = 100.0


class Contour(enum.Enum):
    FALLING = "falling"   # ends falling or low: a statement's end
    RISING = "rising"     # ends rising: the sentence goes on (or a question)
    LEVEL = "level"       # neither
    UNKNOWN = "unknown"   # too few voiced frames to tell


def semitones(hz: float) -> float:
    """``hz`` on a semitone scale (12 per octave, 0 at 100 Hz)."""
    return 12.0 * math.log2(hz / 100.0)


class PitchTracker:
    """F0 of the voiced frames of a stream of PCM16 frames, by call time."""

    def __init__(
        self, sample_rate: int, *, fmin_hz: float = 70.0, fmax_hz: float = 400.0,
        threshold: float = 0.25, tail_ms: float = 200.0, rise_st: float = 1.0,
        fall_st: float = 1.0, floor_st: float = 1.0, min_voiced: int = 4, memory: int = 512,
    ) -> None:
        if sample_rate not in (8000, 16000):
            raise ConfigError("intonation.sample_rate", "8000 or 16000", sample_rate)
        if not 0.0 < fmin_hz < fmax_hz <= 1000.0:
            raise ConfigError("intonation.fmin_hz", "0 < fmin < fmax ≤ 1000 Hz", (fmin_hz, fmax_hz))
        if rise_st <= 0 or fall_st <= 0 or floor_st < 0 or tail_ms <= 0 or min_voiced < 2:
            raise ConfigError("intonation", "positive steps and tail, 2 voiced frames or more",
                              (rise_st, fall_st, floor_st, tail_ms, min_voiced))
        self._decimate = sample_rate // RATE
        self._lag_min = int(RATE // fmax_hz)
        self._lag_max = int(math.ceil(RATE / fmin_hz))
        self._threshold = threshold
        self._tail_ms = tail_ms
        self._rise = rise_st
        self._fall = fall_st
        self._floor = floor_st
        self._min_voiced = min_voiced
        self._track: deque[tuple[float, float]] = deque(maxlen=memory)  # (time ms, semitones)
        self._last = np.zeros(0, dtype=np.float64)
        self._judged: tuple[float, int, Contour] | None = None  # (since, voiced, verdict)
        self._voiced = 0  # voiced frames ever fed

    def reset(self) -> None:
        self._track.clear()
        self._last = np.zeros(0, dtype=np.float64)
        self._judged = None

    def feed(self, pcm: bytes, t_ms: float) -> None:
        """The frame starting at ``t_ms``: its pitch is remembered when it is voiced."""
        usable_bytes = len(pcm) - len(pcm) % 2  # a torn frame's odd byte is left out
        samples = np.frombuffer(pcm[:usable_bytes], dtype="<i2").astype(np.float64)
        if self._decimate > 1:
            usable = samples.size - samples.size % self._decimate
            samples = samples[:usable].reshape(-1, self._decimate).mean(axis=1)
        window = np.concatenate((self._last, samples))
        self._last = samples
        if window.size <= 2 * self._lag_max or samples.size == 0:
            return
        if float(np.sqrt(np.mean(samples * samples))) < QUIET_RMS:
            return
        hz = self._pitch(window - window.mean())
        if hz is not None:
            self._track.append((t_ms, semitones(hz)))
            self._voiced += 1

    def _pitch(self, x: np.ndarray) -> float | None:
        """YIN's estimate for the window ``x``, None when it is not clearly periodic."""
        lag_max = self._lag_max
        width = x.size - lag_max
        head = x[:width]
        cross = np.correlate(x, head, mode="valid")[: lag_max + 1]  # r(τ), τ = 0..lag_max
        squares = np.concatenate(([0.0], np.cumsum(x * x)))
        lags = np.arange(lag_max + 1)
        shifted = squares[lags + width] - squares[lags]  # Σ x[j+τ]² over the window's width
        diff = cross[0] + shifted - 2.0 * cross
        total = np.cumsum(diff[1:])
        cmnd = np.ones(lag_max + 1)
        cmnd[1:] = diff[1:] * lags[1:] / np.maximum(total, 1e-9)
        below = np.flatnonzero(cmnd[self._lag_min :] < self._threshold)
        if below.size == 0:
            return None
        lag = int(below[0]) + self._lag_min
        while lag + 1 <= lag_max and cmnd[lag + 1] < cmnd[lag]:
            lag += 1
        if 0 < lag < lag_max:  # parabolic interpolation between the lags
            a, b, c = cmnd[lag - 1], cmnd[lag], cmnd[lag + 1]
            bend = a - 2.0 * b + c
            shift = 0.5 * (a - c) / bend if bend > 0 else 0.0
            return RATE / (lag + shift)
        return RATE / lag

    def pitches(self) -> list[tuple[float, float]]:
        """The voiced frames remembered: (call time in ms, pitch in semitones)."""
        return list(self._track)

    def voiced_since(self, since_ms: float) -> int:
        return sum(1 for t, _ in self._track if t >= since_ms)

    def contour(self, since_ms: float) -> Contour:
        """The tune at the end of the voiced sound since ``since_ms`` (a turn's onset); judged
        again only when a voiced frame came since the last time it was asked."""
        judged = self._judged
        if judged is not None and judged[0] == since_ms and judged[1] == self._voiced:
            return judged[2]
        contour = self._judge(since_ms)
        self._judged = (since_ms, self._voiced, contour)
        return contour

    def _judge(self, since_ms: float) -> Contour:
        turn = [st for t, st in self._track if t >= since_ms]
        if len(turn) < self._min_voiced:
            return Contour.UNKNOWN
        end_ms = self._track[-1][0]
        tail = [st for t, st in self._track if t >= max(since_ms, end_ms - self._tail_ms)]
        if len(tail) < self._min_voiced:
            return Contour.UNKNOWN
        smooth = _median3(tail)
        turn_median = float(np.median(turn))
        # Octave slips (a period of 2× or ½×) are far from the turn's voice: left out.
        smooth = [st for st in smooth if abs(st - turn_median) < 7.0] or smooth
        end = smooth[-1]
        low, high = min(smooth), max(smooth)
        floor = float(np.percentile(turn, 10))
        if end - low >= self._rise and high - end < self._rise / 2:
            return Contour.RISING
        if high - end >= self._fall or (end <= floor + self._floor and end - low < self._rise / 2):
            return Contour.FALLING
        return Contour.LEVEL


def _median3(values: list[float]) -> list[float]:
    """A running median of three (the ends kept): one frame's wrong estimate does not count."""
    if len(values) < 3:
        return list(values)
    out = [values[0]]
    out += [sorted(values[i - 1 : i + 2])[1] for i in range(1, len(values) - 1)]
    return [*out, values[-1]]
