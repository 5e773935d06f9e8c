"""The FreeSWITCH call service's outbound work, wired by its composition root (fs_app.service)
when it has an inbound ESL (``[freeswitch] esl_host``):

* the engine's :class:`~callwright.outbound.dialer.QueueDialer`, which claims this node's share
  of the queued outbound calls (only while the inbound ESL is logged in: the calls wait queued
  meanwhile) and places each with an :class:`~fs_app.outbound_call.FsOutboundAttempt`;
* the campaign dialler (:class:`~callwright.campaigns.job.CampaignJob`): one node at a time,
  FreeSWITCH or Asterisk, queues the campaigns' calls.

Settings: ``[outbound] max_concurrent, ring_timeout_s, amd`` (``audio`` or ``dialplan``: our
own detector, FreeSWITCH having no AMD() here) and ``[freeswitch] outbound_extension,
outbound_context``.
"""

from __future__ import annotations

import logging

from callwright.campaigns.job import CAMPAIGN_TICK_S, CampaignJob
from callwright.errors import CallwrightError
from callwright.outbound.dial_result import DialResult
from callwright.outbound.dialer import QueueDialer
from callwright.store.assistants import AssistantRepository
from callwright.store.db import Database
from callwright.store.outbound_calls import OutboundCall, OutboundCallRepository
from fs_app.outbound_call import FsOutboundAttempt
from fs_app.services import FsServices

log = logging.getLogger(__name__)


class FsOutboundJobs:
    def __init__(self, services: FsServices, db: Database, *, node: str,
                 campaign_tick_s: float = CAMPAIGN_TICK_S) -> None:
        self._svc = services
        self._repo = OutboundCallRepository(db)
        self._assistants = AssistantRepository(db)
        out = services.settings.outbound
        self.ring_timeout_s = out.ring_timeout_s
        #: Our own answering-machine detection (FreeSWITCH runs no AMD() for us).
        self.screen = out.amd != "off"
        self.dialer = QueueDialer(self._repo, self._place, node=node,
                                  max_concurrent=out.max_concurrent, ready=self._ready)
        self.campaigns = CampaignJob(db, services.restrictions, node=node,
                                     tick_s=campaign_tick_s)
        #: The attempts in progress, by outbound row id.
        self.active: dict[int, FsOutboundAttempt] = {}

    def _ready(self) -> bool:
        esl = self._svc.esl
        return esl is not None and esl.connected

    async def start(self) -> None:
        await self.dialer.start()
        self.campaigns.start()

    async def stop_placing(self) -> None:
        """No new calls queued or placed; those in progress go on."""
        await self.campaigns.stop()
        await self.dialer.stop_claiming()

    async def wait(self, wait_s: float = 5.0) -> None:
        """Until the calls in progress are over (their sessions were ended), at most
        ``wait_s``; then those still placing are cancelled (their rows ended
        ``failed/server_shutdown``)."""
        await self.dialer.wait(wait_s)
        await self.dialer.cancel_rest()

    async def _place(self, row: OutboundCall) -> None:
        try:
            assistant = await self._assistants.get(row.org_id, row.assistant_id)
        except CallwrightError as exc:
            log.error("outbound call %s: no assistant: %s", row.uid, exc)
            await self._repo.finish(row.id, DialResult("failed", None, "no assistant", None))
            return
        attempt = FsOutboundAttempt(self._svc, self._repo, row, assistant,
                                    ring_timeout_s=self.ring_timeout_s, screen=self.screen)
        self.active[row.id] = attempt
        try:
            await attempt.run()
        finally:
            self.active.pop(row.id, None)
