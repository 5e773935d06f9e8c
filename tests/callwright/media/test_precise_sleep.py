"""TimerFdSleep and its use by PacerClock. No timing-precision asserts here (that is the pacing
benchmark's job): only "never early", "returns", and the lifecycle."""

from __future__ import annotations

import asyncio
import ctypes
import errno
import logging
import os
import select
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

import callwright.media.pacer as pacer_mod
import callwright.media.precise_sleep as ps_mod
from callwright.media.pacer import Pacer, PacerClock
from callwright.media.precise_sleep import TimerFdSleep, precise_sleep

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="platform: timerfd is Linux"
)

FB = 320


def readable(fd: int) -> bool:
    return bool(select.select([fd], [], [], 0)[0])


def timer_armed(fd: int) -> bool:
    """Whether the timerfd has a pending expiration time (timerfd_gettime)."""
    if sys.version_info >= (3, 13) and hasattr(os, "timerfd_gettime_ns"):
        return os.timerfd_gettime_ns(fd)[0] != 0
    spec = ps_mod._Itimerspec()
    assert ctypes.CDLL(None, use_errno=True).timerfd_gettime(fd, ctypes.byref(spec)) == 0
    return bool(spec.it_value.tv_sec or spec.it_value.tv_nsec)


def block_loop(seconds: float) -> None:
    time.sleep(seconds)  # deliberately blocks the event loop (well under the watchdog's limit)


@pytest.fixture
async def sleeper() -> AsyncIterator[TimerFdSleep]:
    s = TimerFdSleep()
    yield s
    s.close()


@linux_only
async def test_never_wakes_before_the_deadline(sleeper: TimerFdSleep) -> None:
    for delay in [0.0001, 0.0004, 0.001, 0.0017, 0.003, 0.0049] * 5:
        start = time.monotonic()
        await sleeper(delay)
        assert time.monotonic() >= start + delay
        assert not readable(sleeper.fileno())  # the callback read the expiration count
    t0 = time.monotonic()  # on a grid, as PacerClock uses it
    for i in range(1, 21):
        deadline = t0 + i * 0.005
        await sleeper(max(0.0, deadline - time.monotonic()))
        assert time.monotonic() >= deadline


@linux_only
async def test_zero_and_negative_delays_return_after_yielding_once(sleeper: TimerFdSleep) -> None:
    for delay in (0.0, -1.0, -1e-9):
        ran: list[bool] = []
        asyncio.get_running_loop().call_soon(ran.append, True)
        await asyncio.wait_for(sleeper(delay), 1)
        assert ran == [True]


@linux_only
async def test_cancelled_sleep_disarms_and_the_sleeper_stays_usable(sleeper: TimerFdSleep) -> None:
    task = asyncio.create_task(sleeper(0.5))
    await asyncio.sleep(0.005)
    assert timer_armed(sleeper.fileno())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not timer_armed(sleeper.fileno())

    start = time.monotonic()
    await asyncio.wait_for(sleeper(0.003), 1)
    assert time.monotonic() >= start + 0.003


@linux_only
async def test_cancel_after_expiry_leaves_no_stale_wakeup(sleeper: TimerFdSleep) -> None:
    task = asyncio.create_task(sleeper(0.001))
    await asyncio.sleep(0)  # the timer is armed
    block_loop(0.005)  # it expires while the loop is blocked: the fd is readable, unread
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    start = time.monotonic()
    await asyncio.wait_for(sleeper(0.01), 1)
    assert time.monotonic() >= start + 0.01  # not woken by the old expiration


@linux_only
async def test_a_second_concurrent_sleep_is_refused(sleeper: TimerFdSleep) -> None:
    first = asyncio.create_task(sleeper(0.01))
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="one sleeping task"):
        await sleeper(0.001)
    await asyncio.wait_for(first, 1)  # the first sleep is unaffected
    await sleeper(0.001)


@linux_only
def test_bound_to_the_first_loop() -> None:
    s = TimerFdSleep()
    try:
        asyncio.run(s(0.001))
        with pytest.raises(RuntimeError, match="another event loop"):
            asyncio.run(s(0.001))
    finally:
        s.close()


@linux_only
async def test_close_is_idempotent_and_closes_the_fd() -> None:
    s = TimerFdSleep()
    await s(0.001)
    fd = s.fileno()
    s.close()
    assert s.closed
    assert not asyncio.get_running_loop().remove_reader(fd)  # the reader is gone
    with pytest.raises(OSError):
        os.fstat(fd)
    s.close()
    with pytest.raises(RuntimeError, match="closed"):
        await s(0.001)


@linux_only
async def test_close_while_sleeping_wakes_the_sleeper_with_an_error() -> None:
    s = TimerFdSleep()
    task = asyncio.create_task(s(10))
    await asyncio.sleep(0)
    s.close()
    with pytest.raises(RuntimeError, match="closed while sleeping"):
        await asyncio.wait_for(task, 1)


@linux_only
async def test_factory_gives_a_timerfd_sleeper_on_linux() -> None:
    s = precise_sleep()
    assert isinstance(s, TimerFdSleep)
    await s(0.001)
    s.close()


async def test_factory_falls_back_to_asyncio_sleep_and_logs_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def unavailable() -> int:
        raise OSError(errno.ENOSYS, "timerfd_create: Function not implemented")

    monkeypatch.setattr(ps_mod, "_timerfd_create", unavailable)
    monkeypatch.setattr(ps_mod, "_announced", None)
    caplog.set_level(logging.INFO, logger=ps_mod.__name__)
    assert precise_sleep() is asyncio.sleep
    assert precise_sleep() is asyncio.sleep
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(infos) == 1 and "asyncio.sleep" in infos[0]

    clock = PacerClock()  # still ticks, with asyncio.sleep
    clock.start()
    await asyncio.sleep(0.1)
    await clock.stop()
    assert clock.ticks >= 2


# -- PacerClock --------------------------------------------------------------------------------


@linux_only
async def test_pacer_clock_without_sleep_ticks_and_closes_its_sleeper(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[Callable[[float], Awaitable[None]]] = []

    def recording_factory() -> Callable[[float], Awaitable[None]]:
        made.append(precise_sleep())
        return made[-1]

    monkeypatch.setattr(pacer_mod, "precise_sleep", recording_factory)
    clock = PacerClock()
    frames: list[bytes] = []
    clock.register(Pacer(FB, frames.append))
    assert made == []  # created when the clock runs, not before
    elapsed = 0.0
    for run in (1, 2):  # a restart creates a fresh sleeper
        clock.start()
        started = time.monotonic()
        await asyncio.sleep(0.2)
        await clock.stop()
        elapsed += time.monotonic() - started
        assert len(made) == run
        sleeper = made[-1]
        assert isinstance(sleeper, TimerFdSleep)
        assert sleeper.closed
    assert 2 * 5 <= clock.ticks <= elapsed / 0.02 + 2 * 2  # about 10 per 0.2 s run
    assert len(frames) == clock.ticks


@linux_only
async def test_pacer_clock_does_not_close_an_injected_sleeper(sleeper: TimerFdSleep) -> None:
    clock = PacerClock(sleep=sleeper)
    clock.start()
    await asyncio.sleep(0.06)
    await clock.stop()
    assert clock.ticks >= 1
    assert not sleeper.closed
    await sleeper(0.001)
