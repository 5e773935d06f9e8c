"""The call service's post-call events (issue 12, item 6): the call repository whose start and
close queue the events, and the delivery worker that sends them, as one piece the composition
root builds, starts and stops.

The worker is one task on the service's loop: it only awaits the store and HTTP, so it never
holds a call up; a delivery still pending at stop stays in the outbox for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp

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


class PostCallService:
    def __init__(
        self, db: Database, master_key: MasterKey, http: aiohttp.ClientSession, public_url: str
    ) -> None:
        endpoints = EndpointRepository(db, master_key)
        deliveries = DeliveryRepository(db)
        self.worker = DeliveryWorker(
            deliveries, endpoints, CredentialRepository(db, master_key), http
        )
        events = PostCallEvents(
            calls=CallRepository(db), endpoints=endpoints, deliveries=deliveries,
            restrictions=CallerRestrictionRepository(db, master_key),
            assistants=AssistantRepository(db), public_url=public_url, queued=self.worker.wake,
        )
        #: The call path's call repository (SessionServices.calls).
        self.calls = NotifyingCallRepository(db, events)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self.worker.run_forever(), name="webhook-deliveries"
            )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
