"""The call path's writes to the store, in the order they were made, by one task, and retried for
as long as the database is busy or locked.

SQLite gives a writer ``busy_timeout`` (5 s) to get the database's write lock; past that the write
fails with "database is locked" (a backup, a long admin transaction, another process holding it).
A call must not lose its row, its turns or its end for that, and must not wait for it either: the
call path submits each write here (:meth:`WriteQueue.submit` returns at once) and whoever needs
the result (the new call's id, say) awaits the future it gets. The queue applies one write at a
time in submission order, so a call's turns land before its end; a write refused because the
store is busy or locked (:func:`is_busy`) stays at the head of the queue and is tried again,
backing off from ``retry_s`` to ``max_retry_s``, until it goes through. Any other failure is
final: that write's future gets the error (logged), and the queue moves on.

:meth:`WriteQueue.close` gives what is queued a bounded time to be written, then gives up on the
rest (logged, each future failed), so a service can stop even when the store stays locked.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from callwright.errors import StoreError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: SQLite's primary result codes for a write that could not get the lock.
BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
#: Log a write still refused at most this often (seconds).
WARN_EVERY_S = 10.0


def is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` (or the SQLite error behind it) is "database is busy/locked": the write
    could not get the lock in time, and may go through later. On PostgreSQL: the error is
    transient (the connection lost or refused, the server restarting: ``PostgresError``)."""
    seen: BaseException | None = exc
    while seen is not None:
        transient = getattr(seen, "transient", None)  # PostgreSQL: postgres_db.PostgresError
        if isinstance(transient, bool):
            return transient
        if isinstance(seen, sqlite3.Error):
            code = getattr(seen, "sqlite_errorcode", None)
            if isinstance(code, int):
                return code & 0xFF in BUSY_CODES
            return "locked" in str(seen) or "busy" in str(seen)
        seen = seen.__cause__
    return False


def _retrieve(future: asyncio.Future[Any]) -> None:
    # A write nobody awaits (a journal's turn) may fail: its error is logged by the queue.
    if not future.cancelled():
        future.exception()


@dataclass(slots=True)
class _Write:
    what: str
    write: Callable[[], Awaitable[Any]]
    future: asyncio.Future[Any]


class WriteQueue:
    """Ordered writes, retried while the store is busy. Use from one event loop."""

    def __init__(self, *, retry_s: float = 0.1, max_retry_s: float = 1.0) -> None:
        self._retry_s = retry_s
        self._max_retry_s = max_retry_s
        self._items: deque[_Write] = deque()
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._closed = False
        #: Attempts refused because the store was busy or locked, and writes that failed for good.
        self.busy_retries = 0
        self.failed = 0

    def applying(self) -> bool:
        """True inside a write the queue is applying (its own writes must not queue behind it)."""
        return self._worker is not None and asyncio.current_task() is self._worker

    @property
    def depth(self) -> int:
        """Writes submitted and not done yet."""
        return len(self._items)

    def submit(self, what: str, write: Callable[[], Awaitable[T]]) -> asyncio.Future[T]:
        """Queue ``write`` (called once per attempt; ``what`` names it in the log). Returns at
        once; the future is its result, or the error that ended it for good. Raises StoreError
        once the queue is closed."""
        if self._closed:
            raise StoreError(f"the store's write queue is closed: {what} not written")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)
        self._items.append(_Write(what, write, future))
        self._wake.set()
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(
                self._run(), name="store-write-queue"
            )
        return future

    async def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until what was submitted so far is done (written or failed for good); False
        when ``timeout_s`` ran out first."""
        if not self._items:
            return True
        last = self._items[-1].future
        try:
            await asyncio.wait_for(asyncio.shield(last), timeout_s)
        except TimeoutError:
            return False
        except Exception:  # noqa: S110 - that write's error was logged by the queue
            pass
        return True

    async def close(self, timeout_s: float) -> int:
        """Refuse new writes, give the queued ones ``timeout_s`` to be written, then give up on
        the rest. Returns how many writes were given up (each logged)."""
        self._closed = True
        await self.flush(timeout_s)
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
        lost = len(self._items)
        while self._items:
            item = self._items.popleft()
            log.error("store still busy at shutdown: %s not written", item.what)
            if not item.future.done():
                item.future.set_exception(StoreError(f"{item.what}: not written (shutdown)"))
        return lost

    async def _run(self) -> None:
        while True:
            if not self._items:
                self._wake.clear()
                await self._wake.wait()
                continue
            item = self._items[0]
            await self._apply(item)
            self._items.popleft()

    async def _apply(self, item: _Write) -> None:
        delay = self._retry_s
        refused_since: float | None = None
        warned_at = 0.0
        while True:
            try:
                result = await item.write()
            except Exception as exc:  # the store's errors, and whatever the write raised
                if not is_busy(exc):
                    self.failed += 1
                    log.error("store write failed for good: %s: %s", item.what, exc)
                    if not item.future.done():
                        item.future.set_exception(exc)
                    return
                self.busy_retries += 1
                now = time.monotonic()
                refused_since = refused_since or now
                if now - warned_at >= WARN_EVERY_S:
                    warned_at = now
                    log.warning("store busy for %.1f s, %d write(s) waiting (%s): %s",
                                now - refused_since, len(self._items), item.what, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_retry_s)
                continue
            if refused_since is not None:
                log.warning("store writable again after %.1f s: %s written",
                            time.monotonic() - refused_since, item.what)
            if not item.future.done():
                item.future.set_result(result)
            return
