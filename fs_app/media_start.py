"""A call's media started once, whoever asks first.

The session starts the media as soon as the call is answered, so the module's socket connects
while the dialog and the recording are being made ready; the pipeline (or an outbound call's
screening) then awaits the same start, and gets its error if it failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class StartOnce(Generic[T]):
    def __init__(self, start: Callable[[], Awaitable[T]]) -> None:
        self._start = start
        self._task: asyncio.Future[T] | None = None

    def begin(self) -> None:
        """Start now, without waiting (an error is kept for whoever awaits)."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._start())
            self._task.add_done_callback(_seen)

    async def __call__(self) -> T:
        self.begin()
        assert self._task is not None
        return await asyncio.shield(self._task)

    def cancel(self) -> None:
        """The call is over: a start still running is abandoned."""
        if self._task is not None and not self._task.done():
            self._task.cancel()


def _seen(task: asyncio.Future[Any]) -> None:
    """Nobody may await a start the call no longer needed: its error is not "never retrieved"."""
    if not task.cancelled():
        task.exception()
