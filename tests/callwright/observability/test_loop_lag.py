"""LoopLagSampler: how late the loop wakes a sleeping task."""

from __future__ import annotations

import asyncio
import time

import pytest

from callwright.observability.loop_lag import LoopLagSampler


class Stop(Exception):
    pass


async def test_lag_is_the_wake_up_delay_beyond_the_interval() -> None:
    now = [0.0]
    late = iter([0.0, 0.004, 0.25])
    seen: list[float] = []

    async def sleep(delay: float) -> None:
        try:
            now[0] += delay + next(late)
        except StopIteration:
            raise Stop from None

    sampler = LoopLagSampler(seen.append, interval_s=0.5, clock=lambda: now[0], sleep=sleep)
    with pytest.raises(Stop):
        await sampler.run()
    assert seen == pytest.approx([0.0, 0.004, 0.25])
    assert sampler.samples == 3 and sampler.worst_s == pytest.approx(0.25)


async def test_a_blocked_loop_shows_up_as_lag() -> None:
    seen: list[float] = []
    sampler = LoopLagSampler(seen.append, interval_s=0.02)
    sampler.start()
    sampler.start()  # no second task
    await asyncio.sleep(0.1)
    time.sleep(0.15)  # noqa: ASYNC251 - block the loop on purpose (under the watchdog's 300 ms)
    await asyncio.sleep(0.05)
    await sampler.stop()
    assert not sampler.running
    assert max(seen) >= 0.1
    assert min(seen) < 0.02


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        LoopLagSampler(lambda _: None, interval_s=0)
