"""Sub-millisecond asyncio sleep on Linux, for the 20 ms pacer clock (``PacerClock``).

Why: asyncio's selector loop hands its timeout to ``epoll_wait``, which takes whole milliseconds,
so ``EpollSelector.select`` rounds every timeout *up* (``math.ceil(timeout * 1e3) * 1e-3``). Every
``asyncio.sleep`` therefore wakes 0-1 ms late at random, which eats most of a 2 ms jitter budget.

:class:`TimerFdSleep` waits on a ``timerfd`` (``CLOCK_MONOTONIC``, the clock of ``time.monotonic``)
registered once with ``loop.add_reader``. Each sleep arms it one-shot at an *absolute* deadline
(``TFD_TIMER_ABSTIME``, integer ns rounded up), so it never wakes early and is woken by the fd
becoming readable rather than by the epoll timeout. One waiter at a time, one loop per sleeper.
:func:`precise_sleep` returns one, or ``asyncio.sleep`` where timerfd is unavailable.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import math
import os
import sys
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

_CLOCK_MONOTONIC = 1
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


_libc: ctypes.CDLL | None = None


def _get_libc() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        # The process's own symbols (libc included): unlike ctypes.util.find_library, this
        # does not spawn ldconfig, so it is safe to call on the event loop.
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _timerfd_create() -> int:
    """A non-blocking, close-on-exec timerfd on CLOCK_MONOTONIC; OSError if impossible."""
    if sys.version_info >= (3, 13) and hasattr(os, "timerfd_create"):
        return os.timerfd_create(_CLOCK_MONOTONIC, flags=os.TFD_NONBLOCK | os.TFD_CLOEXEC)
    try:
        create = _get_libc().timerfd_create
    except AttributeError as exc:
        raise OSError("libc has no timerfd_create") from exc
    fd = int(create(ctypes.c_int(_CLOCK_MONOTONIC), ctypes.c_int(os.O_NONBLOCK | os.O_CLOEXEC)))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"timerfd_create: {os.strerror(err)}")
    return fd


def _timerfd_set_abs_ns(fd: int, deadline_ns: int) -> None:
    """Arm ``fd`` one-shot at the absolute CLOCK_MONOTONIC time ``deadline_ns`` (0 disarms)."""
    if sys.version_info >= (3, 13) and hasattr(os, "timerfd_settime_ns"):
        os.timerfd_settime_ns(fd, flags=_TFD_TIMER_ABSTIME, initial=deadline_ns)
        return
    spec = _Itimerspec()
    spec.it_value.tv_sec, spec.it_value.tv_nsec = divmod(deadline_ns, 1_000_000_000)
    flags = _TFD_TIMER_ABSTIME if deadline_ns else 0
    if _get_libc().timerfd_settime(fd, flags, ctypes.byref(spec), None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"timerfd_settime: {os.strerror(err)}")


class TimerFdSleep:
    """``await sleeper(delay)``: like ``asyncio.sleep(delay)`` but precise to tens of µs.

    Never returns before ``time.monotonic()`` at the call plus ``delay``; ``delay <= 0`` still
    yields to the loop once. Cancelling the sleeping task disarms the timer; the sleeper stays
    usable. Call :meth:`close` when done (idempotent).
    """

    def __init__(self) -> None:
        self._fd = _timerfd_create()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._deadline_ns = 0

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def fileno(self) -> int:
        return self._fd

    async def __call__(self, delay: float) -> None:
        if self._fd < 0:
            raise RuntimeError("TimerFdSleep is closed")
        loop = asyncio.get_running_loop()
        if self._loop is None:
            loop.add_reader(self._fd, self._on_readable)
            self._loop = loop
        elif loop is not self._loop:
            raise RuntimeError("TimerFdSleep is bound to another event loop")
        if self._waiter is not None:
            raise RuntimeError("TimerFdSleep allows one sleeping task at a time")
        now_ns = time.monotonic_ns()
        self._deadline_ns = now_ns + max(0, math.ceil(delay * 1e9))
        waiter = self._waiter = loop.create_future()
        try:
            _timerfd_set_abs_ns(self._fd, self._deadline_ns)
            await waiter
        except BaseException:
            if self._fd >= 0:
                _timerfd_set_abs_ns(self._fd, 0)  # disarm; also clears a pending expiration
            raise
        finally:
            self._waiter = None

    def _on_readable(self) -> None:
        try:
            os.read(self._fd, 8)  # the expiration count; reading clears readiness
        except BlockingIOError:
            return  # stale readiness: the timer was re-armed or disarmed meanwhile
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if time.monotonic_ns() < self._deadline_ns:  # cannot happen with the kernel's guarantee
            _timerfd_set_abs_ns(self._fd, self._deadline_ns)
            return
        waiter.set_result(None)

    def close(self) -> None:
        """Remove the reader and close the fd; a task still sleeping gets RuntimeError."""
        fd, self._fd = self._fd, -1
        if fd < 0:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(fd)
        os.close(fd)
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(RuntimeError("TimerFdSleep was closed while sleeping"))


_announced: str | None = None


def _announce(which: str, reason: str = "") -> None:
    global _announced
    if _announced != which:
        _announced = which
        log.info("pacer sleep: using %s%s", which, reason)


def precise_sleep() -> Sleep:
    """A :class:`TimerFdSleep`, or ``asyncio.sleep`` where timerfd is unavailable (non-Linux, or
    creating one fails). Logs once at INFO which one is used. Close a TimerFdSleep when done."""
    if not sys.platform.startswith("linux"):
        _announce("asyncio.sleep", f" (no timerfd on {sys.platform})")
        return asyncio.sleep
    try:
        sleeper = TimerFdSleep()
    except OSError as exc:
        _announce("asyncio.sleep", f" (timerfd unavailable: {exc})")
        return asyncio.sleep
    _announce("timerfd (sub-millisecond wake-ups)")
    return sleeper
