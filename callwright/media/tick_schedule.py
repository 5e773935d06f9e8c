"""The drift-free 20 ms grid of the :class:`~callwright.media.pacer.PacerClock`, as pure
arithmetic: :class:`TickSchedule` says which tick to run when the clock task wakes up."""

from __future__ import annotations

import math


class TickSchedule:
    """The pure arithmetic of :class:`PacerClock`: which tick to run when woken at ``now``.

    Tick *n* is due at ``t0 + n * period`` and never less than ``min_gap`` after the previous tick:
    after a late tick the schedule slews back to the grid by at most ``period - min_gap`` per tick.
    A wake-up more than ``late_after`` past the :attr:`deadline` (a quarter of a period by default)
    is counted in ``late``; the ticks it skipped, if any, in ``skipped``.
    """

    def __init__(
        self, t0: float, period: float, min_gap_frames: float = 0.95,
        late_after: float | None = None,
    ) -> None:
        self.t0 = t0
        self.period = period
        self.min_gap = period * min_gap_frames
        self.late_after = period / 4 if late_after is None else late_after
        self.next_index = 0
        self.skipped = 0
        self.late = 0
        self._last: float | None = None

    @property
    def deadline(self) -> float:
        """When the next tick may run."""
        due = self.t0 + self.next_index * self.period
        return due if self._last is None else max(due, self._last + self.min_gap)

    def wake(self, now: float) -> int | None:
        """The index of the tick to run now, or None (too early).

        Woken more than a period late, the ticks whose slots have passed are skipped (counted in
        ``skipped``) and the current slot's tick runs: one tick per wake-up, so a stalled loop
        never causes a burst, and a loop that is always late still ticks on every wake-up."""
        deadline = self.deadline
        if now < deadline:
            return None
        if now - deadline > self.late_after:
            self.late += 1
        late = now - (self.t0 + self.next_index * self.period)
        if late > self.period:
            current = math.floor((now - self.t0) / self.period)
            while self.t0 + (current + 1) * self.period <= now:  # float rounding
                current += 1
            self.skipped += current - self.next_index
            self.next_index = current
        index = self.next_index
        self.next_index += 1
        self._last = now
        return index
