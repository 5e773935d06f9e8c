"""A call node's post-call events (issue 12, item 6), whatever its PBX: the call repository whose
start and close queue the events, and the delivery worker that sends them, as one piece the
composition root (ari_app.service, fs_app.service) builds, starts and stops.

The worker is run as the node's ``webhook-deliveries`` singleton job
(:mod:`callwright.cluster.node_jobs`), so one node sends each delivery; it only awaits the store
and HTTP, so it never holds a call up; a delivery still pending at stop stays in the outbox.

**Calls closed by start-up recovery.** The start-up sweep (:mod:`callwright.store.recovery`)
closes every call a previous run left in progress as ``failed/server_restart`` straight in the
store, not through the call path's repository, so :meth:`PostCallService.after_restart` queues
their ``call.ended`` itself, once the adapter's first look at its PBX has said which of them go
on (Asterisk: the first reconciliation; FreeSWITCH: the first recovery sweep): a caller still
there is recovered (or left with a transfer target), its row reopened, and its ``call.ended``
goes out when it really ends (an event's id is the same for one call, so queueing it now would
swallow that later one); every other one gets its ``call.ended`` now, with
``failed``/``server_restart``. If the PBX cannot be reached within :data:`RESTART_EVENTS_WAIT_S`
they all go out then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Sequence

import aiohttp

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

#: How long the ``call.ended`` of calls closed at start-up wait for the adapter's first look at
#: its PBX.
RESTART_EVENTS_WAIT_S = 60.0


async def calls_left_open(db: Database, node_id: str | None = None) -> list[tuple[int, str]]:
    """``(id, channel_id)`` of every call in progress (with ``node_id``: those of that node, or
    of none): read at start-up, before the sweep closes them
    (:func:`callwright.store.recovery.close_abandoned_calls`, given the same ``node_id``)."""
    if node_id is None:
        rows = await db.fetch_all("SELECT id, channel_id FROM calls WHERE status = 'in_progress'")
    else:
        rows = await db.fetch_all("SELECT id, channel_id FROM calls WHERE status = 'in_progress'"
                                  " AND node_id IN (?, '')", (node_id,))
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
        self, closed: Sequence[tuple[int, str]], looked: asyncio.Event,
        picked_up: Callable[[], Collection[str] | None], *,
        wait_s: float = RESTART_EVENTS_WAIT_S,
    ) -> None:
        """Queue the ``call.ended`` of the calls the start-up sweep ``closed`` (``(id,
        channel_id)``, from :func:`calls_left_open`), once ``looked`` is set (the adapter looked
        at its PBX), except those whose channel ids ``picked_up()`` names (None: it could not
        look); see the module docstring."""
        if closed and self._restart is None:
            self._restart = asyncio.get_running_loop().create_task(
                self._restart_closed(list(closed), looked, picked_up, wait_s),
                name="restart-call-ended",
            )

    async def _restart_closed(
        self, closed: list[tuple[int, str]], looked: asyncio.Event,
        picked_up: Callable[[], Collection[str] | None], wait_s: float,
    ) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(looked.wait(), wait_s)
        going_on = picked_up()
        if going_on is None:
            log.warning("the PBX was not reached in %.0f s: the call.ended of %d call(s) closed"
                        " at start-up go out now", wait_s, len(closed))
        for call_id, channel_id in closed:
            if going_on is None or channel_id not in going_on:
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
