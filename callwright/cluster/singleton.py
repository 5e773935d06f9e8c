"""A job that runs on one node at a time: retention, webhook deliveries, the lost-nodes sweep.

:class:`SingletonJob` runs the job's long-lived body (its ``run_forever``) only while this node
holds the job's lock, and checks the lock every ``check_s`` seconds: a node that takes it starts
the body, a node that finds it lost (the store said no, or could not be reached) cancels the body
at once. Every node runs a :class:`SingletonJob` for each such job; the one holding the lock does
the work and the others wait their turn. When the holder dies, its lock is freed (on PostgreSQL an
advisory lock goes with the holder's session; on SQLite a lease row expires: see
:mod:`callwright.store.job_lock`), and the next check of another node takes the job over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from callwright.errors import CallwrightError
from callwright.store.job_lock import JobLock

log = logging.getLogger(__name__)

#: How often a node checks (renews or tries) a job's lock.
CHECK_S = 5.0


class SingletonJob:
    """See the module docstring. ``body`` makes the job's coroutine (run until cancelled)."""

    def __init__(
        self,
        name: str,
        lock: JobLock,
        body: Callable[[], Coroutine[Any, Any, None]],
        *,
        check_s: float = CHECK_S,
    ) -> None:
        self.name = name
        self._lock = lock
        self._body = body
        self.check_s = check_s
        self._running: asyncio.Task[None] | None = None
        self._loop: asyncio.Task[None] | None = None
        #: How many times this node took the job (for logs and tests).
        self.taken = 0

    @property
    def running(self) -> bool:
        """Whether this node runs the job now."""
        return self._running is not None and not self._running.done()

    def start(self) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop().create_task(self._watch(),
                                                                name=f"job-{self.name}")

    async def stop(self, *, release: bool = True) -> None:
        """Stop the body and the checks, and give the lock up for the next node (``release``
        False: keep it until it expires, as a node that died would). Stopping a job that is not
        running (never started, or stopped already) does nothing."""
        if self._loop is None and self._running is None:
            return
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
        await self._stop_body()
        if not release:
            return
        try:
            await self._lock.release()
        except CallwrightError as exc:  # it expires on its own
            log.warning("job %s: could not release its lock: %s", self.name, exc)

    async def check(self) -> bool:
        """One check of the lock: the body started when taken, stopped when lost."""
        try:
            held = await self._lock.acquire()
        except CallwrightError as exc:
            log.warning("job %s: cannot check its lock (%s): stopping it here", self.name, exc)
            held = False
        if self._running is not None and self._running.done():
            await self._stop_body()  # it ended on its own (a failure, logged): again if held
        if held and self._running is None:
            self.taken += 1
            log.info("job %s: this node holds its lock and runs it", self.name)
            self._running = asyncio.get_running_loop().create_task(self._body(),
                                                                   name=self.name)
        elif not held and self._running is not None:
            log.warning("job %s: lock lost, stopping it on this node", self.name)
            await self._stop_body()
        return held

    async def _watch(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(self.check_s)

    async def _stop_body(self) -> None:
        task, self._running = self._running, None
        if task is None:
            return
        task.cancel()
        (outcome,) = await asyncio.gather(task, return_exceptions=True)
        if isinstance(outcome, Exception):
            log.error("job %s failed: %r", self.name, outcome)
