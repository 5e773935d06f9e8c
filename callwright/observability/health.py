"""Readiness: is the call service able to take a call now?

A :class:`Readiness` runs named probes, each an ``async () -> str | None`` that answers ``None``
when its part is ready and otherwise says, in a few words, what is not. The call service's probes
(ARI connected, store writable, models loaded) are wired by its composition root; others can be
added with :meth:`Readiness.add`.

Every probe runs at most once at a time and is never cancelled: a probe that has not answered
within ``timeout_s`` counts as not ready ("no answer within ...") and the next check waits for
the same run instead of starting another one. (Cancelling a store probe between its ``BEGIN`` and
its ``ROLLBACK`` would leave a transaction open on the shared writer connection.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

#: A readiness probe: None when ready, else why not.
Probe = Callable[[], Awaitable[str | None]]

TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ready: bool
    detail: str  # "ok" or what is not ready


@dataclass(frozen=True, slots=True)
class ReadinessReport:
    checks: tuple[CheckResult, ...]

    @property
    def ready(self) -> bool:
        return all(check.ready for check in self.checks)

    @property
    def not_ready(self) -> list[str]:
        return [check.name for check in self.checks if not check.ready]

    def as_json(self) -> dict[str, Any]:
        """``{"ready": bool, "not_ready": [names], "checks": {name: {"ready", "detail"}}}``."""
        return {
            "ready": self.ready,
            "not_ready": self.not_ready,
            "checks": {c.name: {"ready": c.ready, "detail": c.detail} for c in self.checks},
        }


class Readiness:
    """Runs the probes concurrently; see the module docstring."""

    def __init__(
        self, probes: Mapping[str, Probe] | None = None, *, timeout_s: float = TIMEOUT_S
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self._probes: dict[str, Probe] = dict(probes or {})
        self.timeout_s = timeout_s
        self._running: dict[str, asyncio.Task[str | None]] = {}

    @property
    def names(self) -> list[str]:
        return list(self._probes)

    def add(self, name: str, probe: Probe) -> None:
        if name in self._probes:
            raise ValueError(f"a readiness probe named {name!r} exists already")
        self._probes[name] = probe

    async def check(self) -> ReadinessReport:
        loop = asyncio.get_running_loop()
        for name, probe in self._probes.items():
            if name not in self._running:
                self._running[name] = loop.create_task(_call(probe), name=f"readiness-{name}")
        tasks = {name: self._running[name] for name in self._probes}
        if tasks:
            await asyncio.wait(tasks.values(), timeout=self.timeout_s)
        results = []
        for name, task in tasks.items():
            if not task.done():
                results.append(CheckResult(name, False, f"no answer within {self.timeout_s:g} s"))
                continue
            del self._running[name]
            problem = _outcome(name, task)
            results.append(CheckResult(name, problem is None, problem or "ok"))
        return ReadinessReport(tuple(results))

    async def close(self, timeout_s: float = 10.0) -> None:
        """Wait for the probes still running (bounded), then cancel what is left."""
        running = list(self._running.values())
        self._running.clear()
        if not running:
            return
        _, pending = await asyncio.wait(running, timeout=timeout_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


async def _call(probe: Probe) -> str | None:
    return await probe()


def _outcome(name: str, task: asyncio.Task[str | None]) -> str | None:
    if task.cancelled():
        return "check cancelled"
    error = task.exception()
    if error is not None:
        log.warning("readiness probe %s failed: %r", name, error)
        return f"check failed: {type(error).__name__}: {error}"
    return task.result()
