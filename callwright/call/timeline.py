"""A call's own time: milliseconds since it started (what the listener and the clock hooks use),
the wall-clock stamps the turn log stores, and where a frame goes in the recording."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime


class CallTimeline:
    """Starts now. ``samples_per_frame`` at ``sample_rate``: the call's frames (20 ms)."""

    def __init__(
        self,
        sample_rate: int,
        samples_per_frame: int,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._monotonic = monotonic
        self._spf = samples_per_frame
        self._frames_per_ms = sample_rate / 1000.0 / samples_per_frame
        self.t0 = monotonic()

    def now_ms(self) -> float:
        return (self._monotonic() - self.t0) * 1000.0

    def monotonic_at(self, t_ms: float) -> float:
        """The monotonic time of call time ``t_ms``."""
        return self.t0 + t_ms / 1000.0

    def iso_at_ms(self, t_ms: float) -> str:
        return self.iso_at(self.monotonic_at(t_ms))

    def iso_at(self, at: float) -> str:
        """The UTC wall-clock stamp (milliseconds) of monotonic time ``at``."""
        wall = time.time() - (self._monotonic() - at)
        stamp = datetime.fromtimestamp(wall, tz=UTC)
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"

    def slot(self, t_ms: float) -> int:
        """The recording position of a frame handled at ``t_ms``: the nearest frame boundary."""
        return int(t_ms * self._frames_per_ms + 0.5) * self._spf
