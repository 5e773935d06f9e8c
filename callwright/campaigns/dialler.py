"""The campaign dialler: one pass (:meth:`CampaignDialler.tick`) over the active campaigns.

For each campaign it first settles the contacts being called from their ``outbound_calls``
rows (an attempt that ended: done, failed, or pending again with a backoff, per
:func:`callwright.campaigns.rules.after_attempt`; a claimed contact whose call was never queued
is unclaimed), then, while the campaign runs, queues new calls for the due contacts whose local
call window is open, within ``max_concurrent`` calls in progress and ``calls_per_minute``
(:class:`~callwright.campaigns.rules.PaceBucket`). A contact outside its window waits for its next
opening; one on the do-not-call list is skipped. When nothing is pending or calling, the
campaign is completed. Everything is in the store, so a restarted dialler carries on without
calling anyone twice. It runs on one node at a time (a :class:`~callwright.cluster.singleton.
SingletonJob` in the call service) or once from ``callwright campaign dial``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from callwright.campaigns.rules import PaceBucket, after_attempt, room
from callwright.campaigns.windows import contact_zone
from callwright.errors import CallwrightError, NotFound
from callwright.outbound.placing import OutboundPlacer
from callwright.outbound.request import RequestError
from callwright.store.campaigns import Campaign, CampaignContact, CampaignRepository
from callwright.store.clock import format_iso, utc_now
from callwright.store.outbound_calls import OutboundCallRepository

log = logging.getLogger(__name__)

CAMPAIGN_DIALLER_JOB = "campaign-dialler"


@dataclass
class TickReport:
    queued: int = 0
    settled: int = 0
    skipped: int = 0
    completed: list[int] = field(default_factory=list)


class CampaignDialler:
    def __init__(
        self,
        campaigns: CampaignRepository,
        outbound: OutboundCallRepository,
        placer: OutboundPlacer,
        *,
        now: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._campaigns = campaigns
        self._outbound = outbound
        self._placer = placer
        self._now = now
        self._monotonic = monotonic
        self._buckets: dict[int, PaceBucket] = {}

    async def run_forever(self, interval_s: float = 1.0) -> None:
        while True:
            try:
                await self.tick()
            except CallwrightError as exc:
                log.warning("campaign dialler: %s", exc)
            await asyncio.sleep(interval_s)

    async def tick(self) -> TickReport:
        report = TickReport()
        for campaign in await self._campaigns.active():
            await self._campaign(campaign, report)
        return report

    async def _campaign(self, c: Campaign, report: TickReport) -> None:
        now = self._now()
        calling = 0
        for contact in await self._campaigns.contacts(c.id, status="calling"):
            if await self._settle(c, contact, now):
                report.settled += 1
            else:
                calling += 1
        if c.status == "running":
            bucket = self._bucket(c)
            free = room(c.max_concurrent, calling, bucket.available(self._monotonic()))
            if free > 0:
                report.queued += await self._queue(c, free, now, bucket, report)
        if await self._campaigns.complete(c.id):
            self._buckets.pop(c.id, None)
            report.completed.append(c.id)
            log.info("campaign %s (%s) completed", c.id, c.name)

    def _bucket(self, c: Campaign) -> PaceBucket:
        bucket = self._buckets.get(c.id)
        if bucket is None or bucket.per_minute != c.calls_per_minute:
            bucket = self._buckets[c.id] = PaceBucket(c.calls_per_minute, self._monotonic())
        return bucket

    async def _settle(self, c: Campaign, contact: CampaignContact, now: datetime) -> bool:
        """Settle a calling contact whose attempt ended; False while it is still going."""
        attempts = await self._outbound.for_contact(contact.id)
        if len(attempts) < contact.attempts:  # claimed, but its call was never queued
            await self._campaigns.unclaim(contact.id)
            return True
        last = attempts[-1]
        if last.status != "ended":
            return False
        step = after_attempt(last.outcome, last.cause_text, contact.attempts, c.max_attempts,
                             c.retry_minutes, now)
        cause = f"{last.cause} {last.cause_text}" if last.cause is not None else last.cause_text
        await self._campaigns.settle(
            contact.id, step.status, last.outcome, cause.strip(),
            format_iso(step.next_attempt_at) if step.next_attempt_at else None)
        return True

    async def _queue(self, c: Campaign, free: int, now: datetime, bucket: PaceBucket,
                     report: TickReport) -> int:
        window = c.window
        queued = 0
        for contact in await self._campaigns.due(c.id, format_iso(now), free * 4 + 8):
            if queued >= free:
                break
            zone = contact_zone(contact.timezone, c.timezone, contact.number)
            if not window.is_open(now, zone):
                opens = window.next_open(now, zone)
                await self._campaigns.settle(contact.id, "pending", contact.last_outcome,
                                             contact.last_cause, format_iso(opens))
                continue
            if not await self._campaigns.claim(contact.id):
                continue
            try:
                await self._placer.queue(
                    c.org_id, c.assistant_id, contact.number,
                    from_number=c.from_number or None, endpoint=c.endpoint or None,
                    variables=contact.variables, campaign_id=c.id, contact_id=contact.id)
            except (RequestError, NotFound) as exc:
                skipped = "do-not-call" in str(exc)
                await self._campaigns.settle(
                    contact.id, "skipped" if skipped else "failed",
                    "do_not_call" if skipped else "invalid", str(exc)[:200], None)
                report.skipped += 1
                continue
            bucket.take(self._monotonic())
            queued += 1
        return queued
