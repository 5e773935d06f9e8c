"""The queue of outbound calls as a call service sees it, whatever its PBX.

Whoever asks for a call (``callwright call place``, ``POST /api/v1/calls``, the admin's Call
button, the campaign dialler) queues a row in the store; every call service polls for them
(:meth:`QueueDialer.poll_once`, every ``poll_s``), claims at most as many as it has room for
(``max_concurrent`` calls placed by this process at a time) and hands each to its adapter's
``place`` (an ARI or an ESL attempt), which returns once the call is over. A claim is one
conditional UPDATE per row, so two services sharing a store never place the same call. At
start-up the rows this node left ``dialing`` or ``answered`` are ended ``failed``/``interrupted``:
never placed twice (the callee may have been called already).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from callwright.errors import CallwrightError
from callwright.store.outbound_calls import OutboundCall, OutboundCallRepository

log = logging.getLogger(__name__)

#: Places one claimed row and returns when the call is over.
PlaceCall = Callable[[OutboundCall], Awaitable[None]]


class QueueDialer:
    def __init__(
        self,
        repo: OutboundCallRepository,
        place: PlaceCall,
        *,
        node: str,
        max_concurrent: int = 20,
        poll_s: float = 0.5,
        ready: Callable[[], bool] = lambda: True,
    ) -> None:
        self._repo = repo
        self._place = place
        self.node = node
        self.max_concurrent = max_concurrent
        self.poll_s = poll_s
        #: False while the PBX link calls go out through is down: the calls wait queued.
        self._ready = ready
        #: Ids of the rows being placed now.
        self.placing: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None

    async def start(self) -> None:
        left = await self._repo.interrupt_left_over(self.node)
        if left:
            log.warning("%d outbound call(s) left dialing by a previous run: ended, not redialled",
                        left)
        self._loop = asyncio.get_running_loop().create_task(self._run(), name="outbound-dialer")

    async def stop(self, wait_s: float = 5.0) -> None:
        await self.stop_claiming()
        await self.wait(wait_s)

    async def stop_claiming(self) -> None:
        """No more rows claimed; the calls being placed go on."""
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None

    async def wait(self, wait_s: float) -> None:
        """Until the calls being placed are over, at most ``wait_s``."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=wait_s)

    async def cancel_rest(self) -> None:
        """Cancel the placings still going (each ends its rows as it is cancelled)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except CallwrightError as exc:
                log.warning("outbound calls: could not poll the queue: %s", exc)
            await asyncio.sleep(self.poll_s)

    async def poll_once(self) -> int:
        """Claim and place what there is room for (nothing while not ready); the number
        placed."""
        if not self._ready():
            return 0
        room = self.max_concurrent - len(self.placing)
        if room <= 0:
            return 0
        rows = await self._repo.claim(self.node, room)
        for row in rows:
            self.placing.add(row.id)
            task = asyncio.get_running_loop().create_task(self._one(row))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(rows)

    async def _one(self, row: OutboundCall) -> None:
        try:
            await self._place(row)
        finally:
            self.placing.discard(row.id)
