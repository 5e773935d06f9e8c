"""The call service's post-call events (issue 12, item 6): the call repository whose start and
close queue the events, and the delivery worker that sends them, as one piece the composition
root builds, starts and stops.

The worker is one task on the service's loop: it only awaits the store and HTTP, so it never
holds a call up; a delivery still pending at stop stays in the outbox for the next start.

**Calls closed by start-up recovery.** The start-up sweep (:mod:`callwright.store.recovery`)
closes every call a previous run left in progress as ``failed/server_restart`` straight in the
store, not through the call path's repository, so :meth:`PostCallService.after_restart` queues
their ``call.ended`` itself, once the first reconciliation with Asterisk has said which of them
go on: a caller still there is recovered (or left with a transfer target), its row reopened, and
its ``call.ended`` goes out when it really ends (an event's id is the same for one call, so
queueing it now would swallow that later one); every other one gets its ``call.ended`` now, with
``failed``/``server_restart``. If Asterisk cannot be reached within :data:`RESTART_EVENTS_WAIT_S`
they all go out then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

import aiohttp

from ari_app.reconcile import ReconcilePlan
from callwright.privacy.call_restrictions import CallRestrictionRepository
from callwright.privacy.restrictions import CallerRestrictionRepository
from callwright.privacy.secrets import MasterKey
from callwright.store.assistants import AssistantRepository
from callwright.store.calls import CallRepository
from callwright.store.credentials import CredentialRepository
from callwright.store.db import Database
from callwright.store.webhook_deliveries import DeliveryRepository
from callwright.store.webhook_endpoints import EndpointRepository
from callwright.webhooks.lifecycle import NotifyingCallRepository, PostCallEvents
from callwright.webhooks.worker import DeliveryWorker

log = logging.getLogger(__name__)

#: How long the ``call.ended`` of calls closed at start-up wait for the first reconciliation.
RESTART_EVENTS_WAIT_S = 60.0


async def calls_left_open(db: Database) -> list[tuple[int, str]]:
    """``(id, channel_id)`` of every call in progress: read at start-up, before the sweep closes
    them (:func:`callwright.store.recovery.close_abandoned_calls`)."""
    rows = await db.fetch_all("SELECT id, channel_id FROM calls WHERE status = 'in_progress'")
    return [(int(row["id"]), str(row["channel_id"] or "")) for row in rows]


class PostCallService:
    def __init__(
        self, db: Database, master_key: MasterKey, http: aiohttp.ClientSession, public_url: str
    ) -> None:
        endpoints = EndpointRepository(db, master_key)
        deliveries = DeliveryRepository(db)
        self.worker = DeliveryWorker(
            deliveries, endpoints, CredentialRepository(db, master_key), http
        )
        self.events = PostCallEvents(
            calls=CallRepository(db), endpoints=endpoints, deliveries=deliveries,
            restrictions=CallerRestrictionRepository(db, master_key),
            assistants=AssistantRepository(db), public_url=public_url, queued=self.worker.wake,
            call_restrictions=CallRestrictionRepository(db),
        )
        #: The call path's call repository (SessionServices.calls).
        self.calls = NotifyingCallRepository(db, self.events)
        self._task: asyncio.Task[None] | None = None
        self._restart: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self.worker.run_forever(), name="webhook-deliveries"
            )

    def after_restart(
        self, closed: Sequence[tuple[int, str]], reconciled: asyncio.Event,
        plan: Callable[[], ReconcilePlan | None], *, wait_s: float = RESTART_EVENTS_WAIT_S,
    ) -> None:
        """Queue the ``call.ended`` of the calls the start-up sweep ``closed`` (``(id,
        channel_id)``, from :func:`calls_left_open`), once ``reconciled`` is set (the first
        reconciliation ran), except those its ``plan()`` picks up again; see the module
        docstring."""
        if closed and self._restart is None:
            self._restart = asyncio.get_running_loop().create_task(
                self._restart_closed(list(closed), reconciled, plan, wait_s),
                name="restart-call-ended",
            )

    async def _restart_closed(
        self, closed: list[tuple[int, str]], reconciled: asyncio.Event,
        latest: Callable[[], ReconcilePlan | None], wait_s: float,
    ) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reconciled.wait(), wait_s)
        plan = latest()
        if plan is None:
            log.warning("no reconciliation with Asterisk in %.0f s: the call.ended of %d "
                        "call(s) closed at start-up go out now", wait_s, len(closed))
        picked_up = set() if plan is None else (
            {o.channel.id for o in plan.recover} | {k.caller.id for k in plan.keep})
        for call_id, channel_id in closed:
            if channel_id not in picked_up:
                await self.events.call_ended(call_id)

    async def stop(self) -> None:
        if self._restart is not None:
            self._restart.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._restart
            self._restart = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
