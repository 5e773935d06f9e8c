"""What was going on in the store when a live write of :mod:`bench.purge` was slow.

:class:`StoreTrace` wraps one open :class:`~callwright.store.db.Database` (the bench's, never the
service's): every write transaction and every WAL checkpoint is recorded as a span (what, start,
end, in ``time.perf_counter`` seconds, and the task that ran it). :func:`slowest_writes` then
names, for the slowest live writes, the purge transactions and checkpoints that overlapped them,
so a spike is explained by a measurement rather than guessed at.
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
                started = time.perf_counter()
                try:
                    yield conn
                except BaseException:
                    self.note("transaction", started)
                    raise
            self.note("transaction", started)

        async def traced_checkpoint() -> None:
            started = time.perf_counter()
            try:
                await checkpoint()
            finally:
                self.note("checkpoint", started)

        setattr(db, "transaction", traced_transaction)  # noqa: B010  (shadow on the instance)
        setattr(db, "checkpoint", traced_checkpoint)  # noqa: B010

    def note(self, what: str, started: float) -> None:
        task = asyncio.current_task()
        self.spans.append(Span(what, started, time.perf_counter(),
                               task.get_name() if task is not None else ""))


def slowest_writes(trace: StoreTrace, count: int = 5) -> list[dict[str, Any]]:
    """The ``count`` slowest live writes, each with the purge's spans that overlapped it."""
    live = sorted((s for s in trace.spans if s.what == "live_write"), key=lambda s: -s.ms)
    others = [s for s in trace.spans if s.what != "live_write" and s.task != LIVE_TASK]
    found = []
    for write in live[:count]:
        overlapping = [s for s in others if s.start < write.end and s.end > write.start]
        found.append({
            "write_ms": round(write.ms, 1),
            "overlapping": [{"what": s.what, "ms": round(s.ms, 1),
                             "began_ms_before": round((write.start - s.start) * 1000, 1)}
                            for s in overlapping],
        })
    return found


def span_stats(trace: StoreTrace, what: str) -> dict[str, float]:
    """How many spans of ``what`` the purge ran, and the longest (ms)."""
    mine = [s.ms for s in trace.spans if s.what == what and s.task != LIVE_TASK]
    return {"n": len(mine), "max_ms": round(max(mine), 1) if mine else 0.0}
