"""A store with one org, its endpoints, the lifecycle hook and a delivery worker on a clock the
test moves (no sleeping)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp

from callwright.privacy.call_restrictions import CallRestrictionRepository
from callwright.privacy.restrictions import CallerRestrictionRepository
from callwright.privacy.secrets import MasterKey
from callwright.store.assistants import Assistant, AssistantRepository
from callwright.store.calls import CallRepository
from callwright.store.clock import format_iso
from callwright.store.credentials import CredentialRepository
from callwright.store.db import Database
from callwright.store.orgs import Org, OrgRepository
from callwright.store.webhook_deliveries import DeliveryRepository
from callwright.store.webhook_endpoints import EVENT_TYPES, Endpoint, EndpointRepository
from callwright.webhooks.lifecycle import NotifyingCallRepository, PostCallEvents
from callwright.webhooks.worker import DeliveryWorker

START = datetime(2027, 3, 1, 12, 0, 0, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, at: float = START) -> None:
        self.t = at

    def __call__(self) -> float:
        return self.t

    def iso(self) -> str:
        return format_iso(datetime.fromtimestamp(self.t, UTC))

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class Outbox:
    db: Database
    key: MasterKey
    org: Org
    assistant: Assistant
    clock: Clock
    credentials: CredentialRepository
    endpoints: EndpointRepository
    deliveries: DeliveryRepository
    restrictions: CallerRestrictionRepository
    post_call: PostCallEvents
    calls: NotifyingCallRepository
    http: aiohttp.ClientSession

    def worker(self) -> DeliveryWorker:
        return DeliveryWorker(self.deliveries, self.endpoints, self.credentials, self.http,
                              clock=self.clock, timeout_s=5.0)

    async def endpoint(
        self, url: str, *, name: str = "crm", target: str = "webhook",
        events: tuple[str, ...] = EVENT_TYPES,
    ) -> tuple[Endpoint, str]:
        await self.credentials.put(self.org.id, "webhook_url", f"{name}-url", url)
        return await self.endpoints.create(self.org.id, name, target=target,
                                           credential_name=f"{name}-url", events=events)


async def open_outbox(
    db: Database, http: aiohttp.ClientSession, *, public_url: str = "https://cw.example"
) -> Outbox:
    key = MasterKey.generate()
    clock = Clock()
    org = await OrgRepository(db).create("Acme", "acme")
    assistants = AssistantRepository(db)
    assistant = await assistants.create(org.id, "Front desk")
    credentials = CredentialRepository(db, key)
    endpoints = EndpointRepository(db, key)
    deliveries = DeliveryRepository(db)
    restrictions = CallerRestrictionRepository(db, key)
    post_call = PostCallEvents(
        calls=CallRepository(db), endpoints=endpoints, deliveries=deliveries,
        restrictions=restrictions, assistants=assistants, public_url=public_url, now=clock.iso,
        call_restrictions=CallRestrictionRepository(db),
    )
    calls = NotifyingCallRepository(db, post_call, now=clock.iso)
    return Outbox(db, key, org, assistant, clock, credentials, endpoints, deliveries,
                  restrictions, post_call, calls, http)
