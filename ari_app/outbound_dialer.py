"""The call service's side of outbound calls: it places the queued ``outbound_calls`` rows.

Whoever asks for a call (``callwright call place``, ``POST /api/v1/calls``, the admin's Call
button, the campaign dialler) queues a row in the store; every call service polls for them
(:meth:`OutboundDialer.poll_once`, every ``poll_s``), claims at most as many as it has room for
(``max_concurrent`` calls placed by this process at a time) and places each with an
:class:`~ari_app.outbound_call.OutboundAttempt`. A claim is one conditional UPDATE per row, so
two services sharing a store never place the same call. At start-up the rows this node left
``dialing`` or ``answered`` are ended ``failed``/``interrupted``: never placed twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

from ari_app.ami.status import PbxLiveStatus
from ari_app.outbound_call import OutboundAttempt, OutboundOptions
from ari_app.services import SessionServices
from ari_app.session import CallSession
from callwright.errors import CallwrightError
from callwright.outbound.dial_result import DialResult
from callwright.store.assistants import AssistantRepository
from callwright.store.outbound_calls import OutboundCall, OutboundCallRepository

log = logging.getLogger(__name__)


class OutboundRouting(Protocol):
    """What the dialer needs of the Stasis application (AriApplication)."""

    def expect_outbound(self, channel_id: str, watcher: OutboundAttempt) -> None: ...

    def forget_outbound(self, channel_id: str) -> None: ...

    def start_session(self, session: CallSession) -> asyncio.Task[None]: ...


class OutboundDialer:
    def __init__(
        self,
        svc: SessionServices,
        repo: OutboundCallRepository,
        assistants: AssistantRepository,
        routing: OutboundRouting,
        *,
        node: str,
        options: OutboundOptions | None = None,
        max_concurrent: int = 20,
        poll_s: float = 0.5,
        on_attempt: Callable[[OutboundAttempt], None] | None = None,
        ami: PbxLiveStatus | None = None,
    ) -> None:
        self._svc = svc
        self._repo = repo
        self._assistants = assistants
        self._routing = routing
        self.node = node
        self.options = options or OutboundOptions()
        self.max_concurrent = max_concurrent
        self.poll_s = poll_s
        self._on_attempt = on_attempt
        self.ami = ami
        self.active: dict[int, OutboundAttempt] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None
        self.placed = 0

    async def start(self) -> None:
        left = await self._repo.interrupt_left_over(self.node)
        if left:
            log.warning("%d outbound call(s) left dialing by a previous run: ended, not redialled",
                        left)
        self._loop = asyncio.get_running_loop().create_task(self._run(), name="outbound-dialer")

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5.0)

    async def _run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except CallwrightError as exc:
                log.warning("outbound calls: could not poll the queue: %s", exc)
            await asyncio.sleep(self.poll_s)

    async def poll_once(self) -> int:
        """Claim and place what there is room for; the number placed. Through the AMI, only
        while it is connected (the calls wait in the queue meanwhile)."""
        if self.options.via == "ami" and (self.ami is None or not self.ami.ami.connected):
            return 0
        room = self.max_concurrent - len(self.active)
        rows = await self._repo.claim(self.node, room)
        for row in rows:
            self._place(row)
        return len(rows)

    def _place(self, row: OutboundCall) -> None:
        task = asyncio.get_running_loop().create_task(self._attempt(row))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _attempt(self, row: OutboundCall) -> None:
        try:
            assistant = await self._assistants.get(row.org_id, row.assistant_id)
        except CallwrightError as exc:
            log.error("outbound call %s: no assistant: %s", row.uid, exc)
            await self._repo.finish(row.id, DialResult("failed", None, "no assistant", None))
            return
        attempt = OutboundAttempt(self._svc, self._repo, row, assistant, self.options,
                                  self._routing.start_session, ami=self.ami)
        self.active[row.id] = attempt
        self._routing.expect_outbound(attempt.channel_id, attempt)
        if self._on_attempt is not None:
            self._on_attempt(attempt)
        try:
            await attempt.place()
            self.placed += 1
            await attempt.done.wait()
        finally:
            self._routing.forget_outbound(attempt.channel_id)
            self.active.pop(row.id, None)
