"""The campaign dialler as a call service runs it, whatever its PBX: a
:class:`~callwright.cluster.singleton.SingletonJob` under the store's ``campaign-dialler`` job
lock, so one node at a time queues the campaigns' calls (each node's own dialer then places the
rows it claims)."""

from __future__ import annotations

from callwright.campaigns.dialler import CAMPAIGN_DIALLER_JOB, CampaignDialler
from callwright.cluster.singleton import SingletonJob
from callwright.outbound.placing import OutboundPlacer, RestrictionsDoNotCall
from callwright.privacy.restrictions import CallerRestrictionRepository
from callwright.store.assistants import AssistantRepository
from callwright.store.campaigns import CampaignRepository
from callwright.store.db import Database
from callwright.store.job_lock import job_lock
from callwright.store.numbers import NumberRepository
from callwright.store.outbound_calls import OutboundCallRepository

#: How often the campaign dialler looks at the campaigns (seconds).
CAMPAIGN_TICK_S = 1.0


class CampaignJob:
    """``dialler`` (one pass at a time) and ``job`` (start/stop, on one node at a time)."""

    def __init__(self, db: Database, restrictions: CallerRestrictionRepository, *, node: str,
                 tick_s: float = CAMPAIGN_TICK_S) -> None:
        outbound = OutboundCallRepository(db)
        placer = OutboundPlacer(AssistantRepository(db), NumberRepository(db), outbound,
                                RestrictionsDoNotCall(restrictions))
        self.dialler = CampaignDialler(CampaignRepository(db), outbound, placer)
        self.job = SingletonJob(CAMPAIGN_DIALLER_JOB, job_lock(db, CAMPAIGN_DIALLER_JOB, node),
                                lambda: self.dialler.run_forever(tick_s))

    def start(self) -> None:
        self.job.start()

    async def stop(self) -> None:
        await self.job.stop()
