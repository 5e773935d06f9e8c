"""What was going on in the store when a live write of :mod:`bench.purge` was slow.

:class:`StoreTrace` wraps one open :class:`~callwright.store.db.Database` (the bench's, never the
service's): every write transaction and every WAL checkpoint is recorded as a span (what, start,
end, in ``time.perf_counter`` seconds, and the task that ran it). :func:`slowest_writes` then
names, for the slowest live writes, the purge transactions and checkpoints that overlapped them,
so a spike is explained by a measurement rather than guessed at. Each span also has the
process's CPU time over it (``time.process_time``, every thread): a purge transaction that took
long with little CPU waited (for the machine's CPUs or its disk), one with as much CPU as wall
time was SQLite working (an index merge, say).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from callwright.store.db import Database

LIVE_TASK = "live-call"


@dataclass(frozen=True, slots=True)
class Span:
    what: str          # "transaction", "checkpoint", "live_write"
    start: float
    end: float
    task: str
    cpu_ms: float = 0.0  # the process's CPU time over the span (all threads)

    @property
    def ms(self) -> float:
        return (self.end - self.start) * 1000


@dataclass
class StoreTrace:
    spans: list[Span] = field(default_factory=list)

    def attach(self, db: Database) -> None:
        """Record ``db``'s write transactions and checkpoints from now on (instance attributes
        shadow the methods; the bench's own store only)."""
        transaction: Callable[[], AbstractAsyncContextManager[Any]] = db.transaction
        checkpoint: Callable[[], Awaitable[None]] = db.checkpoint

        @asynccontextmanager
        async def traced_transaction() -> AsyncIterator[Any]:
            # From the writer taken to the commit done: how long it held every other write.
            async with transaction() as conn:
                started, cpu = time.perf_counter(), time.process_time()
                try:
                    yield conn
                except BaseException:
                    self.note("transaction", started, cpu)
                    raise
            self.note("transaction", started, cpu)

        async def traced_checkpoint() -> None:
            started, cpu = time.perf_counter(), time.process_time()
            try:
                await checkpoint()
            finally:
                self.note("checkpoint", started, cpu)

        setattr(db, "transaction", traced_transaction)  # noqa: B010  (shadow on the instance)
        setattr(db, "checkpoint", traced_checkpoint)  # noqa: B010

    def note(self, what: str, started: float, cpu_started: float | None = None) -> None:
        task = asyncio.current_task()
        cpu = 0.0 if cpu_started is None else (time.process_time() - cpu_started) * 1000
        self.spans.append(Span(what, started, time.perf_counter(),
                               task.get_name() if task is not None else "", cpu))


def slowest_writes(trace: StoreTrace, count: int = 5) -> list[dict[str, Any]]:
    """The ``count`` slowest live writes, each with the purge's spans that overlapped it."""
    live = sorted((s for s in trace.spans if s.what == "live_write"), key=lambda s: -s.ms)
    others = [s for s in trace.spans if s.what != "live_write" and s.task != LIVE_TASK]
    found = []
    for write in live[:count]:
        overlapping = [s for s in others if s.start < write.end and s.end > write.start]
        found.append({
            "write_ms": round(write.ms, 1),
            "overlapping": [{"what": s.what, "ms": round(s.ms, 1), "cpu_ms": round(s.cpu_ms, 1),
                             "began_ms_before": round((write.start - s.start) * 1000, 1)}
                            for s in overlapping],
        })
    return found


def span_stats(trace: StoreTrace, what: str) -> dict[str, float]:
    """How many spans of ``what`` the purge ran, the longest (ms), and the most process CPU
    time any of them took (ms)."""
    mine = [s for s in trace.spans if s.what == what and s.task != LIVE_TASK]
    return {"n": len(mine), "max_ms": round(max(s.ms for s in mine), 1) if mine else 0.0,
            "max_cpu_ms": round(max(s.cpu_ms for s in mine), 1) if mine else 0.0}
