"""The call service's outbound work, wired by the composition root (ari_app.service):

* the :class:`~ari_app.outbound_dialer.OutboundDialer` of this process, which places the queued
  outbound calls (every node runs one; a row is claimed by one node only);
* the campaign dialler (:class:`~callwright.campaigns.dialler.CampaignDialler`), a
  :class:`~callwright.cluster.singleton.SingletonJob`: one node at a time queues the campaigns'
  calls, under the store's ``campaign-dialler`` job lock.
"""

from __future__ import annotations

from ari_app.outbound_call import OutboundOptions
from ari_app.outbound_dialer import OutboundDialer, OutboundRouting
from ari_app.services import SessionServices
from callwright.campaigns.dialler import CAMPAIGN_DIALLER_JOB, CampaignDialler
from callwright.cluster.singleton import SingletonJob
from callwright.outbound.placing import OutboundPlacer, RestrictionsDoNotCall
from callwright.store.assistants import AssistantRepository
from callwright.store.campaigns import CampaignRepository
from callwright.store.db import Database
from callwright.store.job_lock import job_lock
from callwright.store.numbers import NumberRepository
from callwright.store.outbound_calls import OutboundCallRepository

#: How often the campaign dialler looks at the campaigns (seconds).
CAMPAIGN_TICK_S = 1.0


class OutboundJobs:
    def __init__(
        self,
        services: SessionServices,
        db: Database,
        routing: OutboundRouting,
        *,
        node: str,
        options: OutboundOptions | None = None,
        max_concurrent: int = 20,
        campaign_tick_s: float = CAMPAIGN_TICK_S,
    ) -> None:
        outbound = OutboundCallRepository(db)
        assistants = AssistantRepository(db)
        self.dialer = OutboundDialer(services, outbound, assistants, routing, node=node,
                                     options=options, max_concurrent=max_concurrent)
        placer = OutboundPlacer(assistants, NumberRepository(db), outbound,
                                RestrictionsDoNotCall(services.restrictions))
        self.campaign_dialler = CampaignDialler(CampaignRepository(db), outbound, placer)
        self.campaigns = SingletonJob(
            CAMPAIGN_DIALLER_JOB, job_lock(db, CAMPAIGN_DIALLER_JOB, node),
            lambda: self.campaign_dialler.run_forever(campaign_tick_s),
        )

    async def start(self) -> None:
        await self.dialer.start()
        self.campaigns.start()

    async def stop(self) -> None:
        await self.campaigns.stop()
        await self.dialer.stop()
