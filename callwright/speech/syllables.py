"""Syllables counted from the sound, for answers the recogniser miscounts.

A Korean digit is one syllable (공 영 일 이 삼 사 오 육 칠 팔 구), so a digit string has as many
syllables as digits whatever the recogniser makes of them. On the telephone band the Korean model
often merges or drops digits ("일 이 삼 사" heard as "이 공 팔", liaison turning 일이 into 이리),
and the count of recognised words is no guide to whether a phone number is complete. The vowels
are what carry a syllable's energy: :class:`SyllableCounter` finds the peaks of the short-time
energy (10 ms hops, smoothed over 30 ms) that rise and fall by ``prominence_db`` and stand
``above_noise_db`` over the line's noise floor, and remembers when each was.

Sans-IO and cheap (a sum of squares per 10 ms): fed every caller frame with its call time, asked
how many syllables were heard since a turn's onset.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from callwright.errors import ConfigError

#: Energy (dB of the mean square of PCM16 samples) below which nothing counts: far under speech
#: (about 70 dB at -20 dBFS), above digital silence and dither.
ABSOLUTE_FLOOR_DB = 45.0


class SyllableCounter:
    """Syllable nuclei in a stream of PCM16 frames, by call time."""

    def __init__(
        self, sample_rate: int, *, hop_ms: int = 10, prominence_db: float = 5.0,
        above_noise_db: float = 9.0, noise_rise_db_per_s: float = 1.0,
        below_loudest_db: float = 12.0, loudest_fall_db_per_s: float = 3.0, memory: int = 256,
    ) -> None:
        if sample_rate <= 0 or hop_ms <= 0:
            raise ConfigError("syllables.hop_ms", "a rate and a hop > 0", (sample_rate, hop_ms))
        if prominence_db <= 0:
            raise ConfigError("syllables.prominence_db", "a level > 0 dB", prominence_db)
        self._hop = sample_rate * hop_ms // 1000
        self._hop_ms = float(hop_ms)
        self._prominence = prominence_db
        self._above_noise = above_noise_db
        self._noise_rise = noise_rise_db_per_s * hop_ms / 1000.0
        self._below_loudest = below_loudest_db
        self._loudest_fall = loudest_fall_db_per_s * hop_ms / 1000.0
        self._peaks: deque[float] = deque(maxlen=memory)
        self._carry = np.zeros(0, dtype=np.float64)
        self.reset()

    def reset(self) -> None:
        self._peaks.clear()
        self._carry = np.zeros(0, dtype=np.float64)
        self._recent: deque[float] = deque(maxlen=3)  # the last hops' levels, for smoothing
        self._noise = math.inf
        self._loudest = -math.inf     # the loudest recent level, falling slowly
        self._low = math.inf          # lowest level since the last peak
        self._candidate: tuple[float, float] | None = None  # (level, time) of a rising peak

    def feed(self, pcm: bytes, t_ms: float) -> None:
        """The frame of PCM16 LE starting at call time ``t_ms``."""
        samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float64)
        data = np.concatenate((self._carry, samples)) if self._carry.size else samples
        start = t_ms - self._carry.size * self._hop_ms / self._hop  # the first sample's time
        whole = data.size // self._hop
        for i in range(whole):
            hop = data[i * self._hop : (i + 1) * self._hop]
            level = 10.0 * math.log10(float(np.dot(hop, hop)) / self._hop + 1.0)
            self._hop_level(level, start + i * self._hop_ms)
        self._carry = data[whole * self._hop :].copy()

    def _hop_level(self, level: float, t_ms: float) -> None:
        self._noise = min(level, self._noise + self._noise_rise)
        self._recent.append(level)
        smooth = sum(self._recent) / len(self._recent)
        self._loudest = max(smooth, self._loudest - self._loudest_fall)
        at = t_ms - self._hop_ms * (len(self._recent) - 1) / 2.0  # the smoothed hop's middle
        floor = max(ABSOLUTE_FLOOR_DB, self._noise + self._above_noise)
        if self._candidate is None:
            if smooth - self._low >= self._prominence and smooth > floor:
                self._candidate = (smooth, at)
            self._low = min(self._low, smooth)
            return
        peak, peak_at = self._candidate
        if smooth > peak:
            self._candidate = (smooth, at)
        elif peak - smooth >= self._prominence:
            if peak >= self._loudest - self._below_loudest:  # not a consonant's burst
                self._peaks.append(peak_at)
            self._candidate = None
            self._low = smooth

    def count_since(self, t_ms: float) -> int:
        """Syllables whose peak was at or after call time ``t_ms`` (fallen since: complete)."""
        return sum(1 for at in self._peaks if at >= t_ms)

    @property
    def peaks_ms(self) -> list[float]:
        return list(self._peaks)
