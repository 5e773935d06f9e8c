"""The call service's outbound work, wired by the composition root (ari_app.service):

* the :class:`~ari_app.outbound_dialer.OutboundDialer` of this process, which places the queued
  outbound calls (every node runs one; a row is claimed by one node only);
* the campaign dialler (:class:`~callwright.campaigns.job.CampaignJob`): one node at a time
  queues the campaigns' calls, under the store's ``campaign-dialler`` job lock;
* the AMI connection (``[ami]``, optional; :class:`~ari_app.ami.client.AmiClient`), used to
  originate when ``[outbound] via = "ami"`` and for the live PBX status. A first connection
  that fails is tried again every ``AMI_RETRY_S``; panoramisk reconnects a dropped one.

Settings: ``[outbound] via, amd, max_concurrent, ring_timeout_s`` and ``[ami]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ari_app.ami.client import AmiClient, AmiError, AmiSettings
from ari_app.ami.status import PbxLiveStatus
from ari_app.outbound_call import OutboundOptions
from ari_app.outbound_dialer import OutboundDialer, OutboundRouting
from ari_app.services import SessionServices
from callwright.campaigns.job import CAMPAIGN_TICK_S, CampaignJob
from callwright.config import Settings
from callwright.store.assistants import AssistantRepository
from callwright.store.db import Database
from callwright.store.outbound_calls import OutboundCallRepository

log = logging.getLogger(__name__)

#: How often a first AMI connection that failed is tried again (seconds).
AMI_RETRY_S = 10.0


def outbound_options(settings: Settings) -> OutboundOptions:
    out = settings.outbound
    return OutboundOptions(app=settings.ari.app, ring_timeout_s=out.ring_timeout_s,
                           amd=out.amd, via=out.via)


class OutboundJobs:
    def __init__(
        self,
        services: SessionServices,
        db: Database,
        routing: OutboundRouting,
        *,
        node: str,
        settings: Settings,
        campaign_tick_s: float = CAMPAIGN_TICK_S,
    ) -> None:
        outbound = OutboundCallRepository(db)
        assistants = AssistantRepository(db)
        ami = settings.ami
        self.ami: AmiClient | None = None
        self.live: PbxLiveStatus | None = None
        if ami.enabled:
            self.ami = AmiClient(AmiSettings(ami.host, ami.port, ami.username, ami.secret))
            self.live = PbxLiveStatus(self.ami)
        self._ami_task: asyncio.Task[None] | None = None
        self.dialer = OutboundDialer(services, outbound, assistants, routing, node=node,
                                     options=outbound_options(settings),
                                     max_concurrent=settings.outbound.max_concurrent,
                                     ami=self.live)
        self.campaigns = CampaignJob(db, services.restrictions, node=node,
                                     tick_s=campaign_tick_s)

    async def start(self) -> None:
        if self.ami is not None:
            self._ami_task = asyncio.get_running_loop().create_task(self._connect_ami())
        await self.dialer.start()
        self.campaigns.start()

    async def _connect_ami(self) -> None:
        assert self.ami is not None
        while True:
            try:
                await self.ami.connect()
                return
            except AmiError as exc:
                log.error("AMI: %s; trying again in %g s", exc, AMI_RETRY_S)
            await asyncio.sleep(AMI_RETRY_S)

    async def stop(self) -> None:
        await self.campaigns.stop()
        await self.dialer.stop()
        if self._ami_task is not None:
            self._ami_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ami_task
        if self.ami is not None:
            self.ami.close()
