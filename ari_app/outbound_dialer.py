"""The call service's side of outbound calls through ARI: it places the queued ``outbound_calls``
rows that the engine's :class:`~callwright.outbound.dialer.QueueDialer` claims for this node,
each with an :class:`~ari_app.outbound_call.OutboundAttempt` (through the AMI only while it is
connected: the calls wait in the queue meanwhile).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from ari_app.ami.status import PbxLiveStatus
from ari_app.outbound_call import OutboundAttempt, OutboundOptions
from ari_app.services import SessionServices
from ari_app.session import CallSession
from callwright.errors import CallwrightError
from callwright.outbound.dial_result import DialResult
from callwright.outbound.dialer import QueueDialer
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
        self._on_attempt = on_attempt
        self.ami = ami
        self.active: dict[int, OutboundAttempt] = {}
        self.queue = QueueDialer(repo, self._attempt, node=node, max_concurrent=max_concurrent,
                                 poll_s=poll_s, ready=self._ready)
        self.placed = 0

    def _ready(self) -> bool:
        return self.options.via != "ami" or (self.ami is not None and self.ami.ami.connected)

    async def start(self) -> None:
        await self.queue.start()

    async def stop(self) -> None:
        await self.queue.stop()

    async def poll_once(self) -> int:
        """Claim and place what there is room for; the number placed."""
        return await self.queue.poll_once()

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
