"""Queueing the post-call events as the call row starts and ends.

:class:`NotifyingCallRepository` is the call path's :class:`~callwright.store.calls.CallRepository`
with one addition: creating a call queues ``call.started``, and closing it (the first time: a
second close changes nothing) queues ``call.ended``, one ``message.taken`` per message the
flow's ``take_message`` nodes took, and ``recording.ready`` when the call has a recording (the
recording is finished before the row is closed). Every call path (ARI, AudioSocket, recovery)
goes through these two writes, so none can forget an event.

Queueing is a few short store writes; the delivery worker sends them later, off the call's
path. A failure to queue is logged, never raised into the call: the call row matters more.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import Any

from callwright.errors import CallwrightError
from callwright.privacy.call_restrictions import CallRestrictionRepository
from callwright.privacy.restrictions import CallerRestrictionRepository
from callwright.store.assistants import AssistantRepository
from callwright.store.calls import Call, CallOrigin, CallRepository
from callwright.store.clock import format_iso, parse_iso, utc_now_iso
from callwright.store.db import Database
from callwright.store.webhook_deliveries import DeliveryRepository
from callwright.store.webhook_endpoints import Endpoint, EndpointRepository
from callwright.webhooks import events
from callwright.webhooks.backoff import window_end

log = logging.getLogger(__name__)


class PostCallEvents:
    """Builds the events of a call and queues one delivery per subscribed endpoint."""

    def __init__(
        self,
        *,
        calls: CallRepository,
        endpoints: EndpointRepository,
        deliveries: DeliveryRepository,
        restrictions: CallerRestrictionRepository,
        assistants: AssistantRepository,
        public_url: str = "",
        now: Callable[[], str] = utc_now_iso,
        queued: Callable[[], None] = lambda: None,
        call_restrictions: CallRestrictionRepository | None = None,
    ) -> None:
        self._calls = calls
        #: A stored call's own restriction (transcript withheld; no recording.ready).
        self._call_restrictions = call_restrictions
        self._endpoints = endpoints
        self._deliveries = deliveries
        self._restrictions = restrictions
        self._assistants = assistants
        self.public_url = public_url
        self._now = now
        #: Called when a delivery was queued (the worker's wake).
        self.queued = queued

    async def call_started(self, call: Call) -> None:
        await self._guarded(call, self._call_started)

    async def call_ended(self, call_id: int) -> None:
        try:
            call = await self._calls.get(call_id)
        except CallwrightError as exc:
            log.error("call %s: post-call events not queued: %s", call_id, exc)
            return
        await self._guarded(call, self._call_ended)

    async def _guarded(self, call: Call, step: Callable[[Call], Any]) -> None:
        if call.org_id is None:
            return  # a call to an unknown number belongs to no org: nobody to tell
        try:
            await step(call)
        except (CallwrightError, ValueError, sqlite3.Error) as exc:
            log.error("call %s: post-call events not queued: %s", call.uid, exc)

    async def _call_started(self, call: Call) -> None:
        assert call.org_id is not None
        subscribed = await self._endpoints.list(call.org_id)
        if not _wanting(subscribed, "call.started"):
            return
        facts = await self._facts(call, restricted=False)
        await self._queue(call, _wanting(subscribed, "call.started"),
                          events.call_started(facts, self._now()))

    async def _call_ended(self, call: Call) -> None:
        assert call.org_id is not None
        subscribed = await self._endpoints.list(call.org_id)
        if not any(e.enabled for e in subscribed):
            return
        restricted = await self._restrictions.is_processing_restricted(
            call.org_id, call.caller_number
        )
        own = None if self._call_restrictions is None else \
            await self._call_restrictions.for_call(call.org_id, call.id)
        restricted = restricted or (own is not None and own.transcript)
        facts = await self._facts(call, restricted=restricted)
        flow = None
        if call.assistant_id is not None:
            latest = await self._assistants.latest_flow(call.assistant_id, org_id=call.org_id)
            flow = latest[1] if latest is not None else None
        messages = events.messages_taken(flow, call.slots)
        turns = [] if restricted else await self._calls.turns(call.id)
        now = self._now()
        await self._queue(call, _wanting(subscribed, "call.ended"),
                          events.call_ended(facts, turns, messages, now))
        for message in messages:
            await self._queue(call, _wanting(subscribed, "message.taken"),
                              events.message_taken(facts, message, now))
        if call.recording_path is not None and (own is None or not own.recording):
            await self._queue(call, _wanting(subscribed, "recording.ready"),
                              events.recording_ready(facts, now))

    async def _facts(self, call: Call, *, restricted: bool) -> events.CallFacts:
        name = ""
        if call.assistant_id is not None and call.org_id is not None:
            try:
                name = (await self._assistants.get(call.org_id, call.assistant_id)).name
            except CallwrightError:
                name = ""  # deleted since: the event still goes out
        return events.CallFacts(call, name, self.public_url, restricted)

    async def _queue(self, call: Call, endpoints: list[Endpoint], event: dict[str, Any]) -> None:
        if not endpoints or call.org_id is None:
            return
        created = str(event["created_at"])
        added = await self._deliveries.enqueue(
            call.org_id, [e.id for e in endpoints], event_id=str(event["id"]),
            event=str(event["type"]), call_id=call.id, call_uid=call.uid,
            body=events.encode(event), now=created,
            expires_at=format_iso(window_end(parse_iso(created))),
        )
        if added:
            self.queued()


def _wanting(endpoints: list[Endpoint], event: str) -> list[Endpoint]:
    return [e for e in endpoints if e.enabled and event in e.events]


class NotifyingCallRepository(CallRepository):
    """The call path's call repository: starting and closing a call queue its events."""

    def __init__(
        self, db: Database, post_call: PostCallEvents, now: Callable[[], str] = utc_now_iso, *,
        origin: CallOrigin | None = None,
    ) -> None:
        super().__init__(db, now, origin=origin)
        self.post_call = post_call

    async def create_call(
        self,
        org_id: int | None,
        assistant_id: int | None,
        number_id: int | None,
        dialed: str,
        caller_number: str,
        caller_name: str,
        channel_id: str,
        direction: str = "inbound",
        *,
        uid: str | None = None,
    ) -> Call:
        call = await super().create_call(org_id, assistant_id, number_id, dialed, caller_number,
                                         caller_name, channel_id, direction, uid=uid)
        await self.post_call.call_started(call)
        return call

    async def close_call(self, call_id: int, status: str, end_reason: str) -> bool:
        closed = await super().close_call(call_id, status, end_reason)
        if closed:
            await self.post_call.call_ended(call_id)
        return closed
