"""Call-progress tones as PCM16 LE (pure): the ringback a caller hears while a transfer rings.

Cadences follow ITU-T E.180 as used by each region: North America 440+480 Hz, 2 s on / 4 s off;
Europe (and the default) 425 Hz, 1 s on / 4 s off; Korea 440+480 Hz, 1 s on / 2 s off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Cadence:
    frequencies: tuple[float, ...]
    on_ms: int
    off_ms: int


RINGBACK: dict[str, Cadence] = {
    "us": Cadence((440.0, 480.0), 2000, 4000),
    "eu": Cadence((425.0,), 1000, 4000),
    "kr": Cadence((440.0, 480.0), 1000, 2000),
}


def ringback(sample_rate: int, duration_ms: int, region: str = "eu", level: float = 0.12) -> bytes:
    """``duration_ms`` of ringback (whole cadence cycles repeated, cut at the end)."""
    cadence = RINGBACK.get(region, RINGBACK["eu"])
    total = sample_rate * duration_ms // 1000
    t = np.arange(total) / sample_rate
    tone = sum(np.sin(2 * np.pi * f * t) for f in cadence.frequencies) / len(cadence.frequencies)
    cycle = (cadence.on_ms + cadence.off_ms) / 1000
    on = (t % cycle) < cadence.on_ms / 1000
    samples = np.where(on, tone * level * 32767, 0.0)
    return samples.astype("<i2").tobytes()
