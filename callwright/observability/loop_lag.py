"""Event-loop lag, sampled: how late the loop wakes a task that asked to sleep ``interval_s``.

A callback that blocks the loop (a native call, a big synchronous computation) delays every
timer behind it, the pacer clock's included; this sampler sees that delay from the outside. The
baseline is not zero: asyncio rounds its wake-ups to whole milliseconds (epoll), so a healthy loop
shows 0 to 1 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

#: Sampling period. Each sample costs one timer wake-up, nothing when the loop is idle otherwise.
INTERVAL_S = 0.25


class LoopLagSampler:
    """Calls ``observe(lag_seconds)`` after every sleep of ``interval_s`` on the running loop.

    ``clock`` and ``sleep`` are injectable for tests."""

    def __init__(
        self,
        observe: Callable[[float], None],
        *,
        interval_s: float = INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self._observe = observe
        self.interval_s = interval_s
        self._clock = clock
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None
        self.samples = 0
        self.worst_s = 0.0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start sampling on the running loop (no-op if running)."""
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="loop-lag")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self) -> None:
        """Sample forever (until cancelled)."""
        while True:
            asked = self._clock()
            await self._sleep(self.interval_s)
            lag = max(0.0, self._clock() - asked - self.interval_s)
            self.samples += 1
            self.worst_s = max(self.worst_s, lag)
            self._observe(lag)
