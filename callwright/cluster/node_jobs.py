"""What a call node does for the other nodes sharing its store (issue 13), whatever its PBX:
every call service (Asterisk's ari_app.service, FreeSWITCH's fs_app.service) starts the same set
with :func:`start_node_jobs`.

* Its heartbeat (:class:`~callwright.cluster.heartbeat.NodeHeartbeat`): registered with the PBXs
  it serves, refreshed every ``[server] node_lost_s`` / 6 seconds.
* The jobs that must run on one node at a time, each a
  :class:`~callwright.cluster.singleton.SingletonJob` every node runs and only the holder of the
  job's lock works on: ``retention`` (:class:`~callwright.privacy.retention_job.RetentionJob`,
  hourly), ``webhook-deliveries`` (the post-call events' delivery worker, so one node sends each
  delivery; a delivery queued on another node is sent at the holder's next look at the outbox,
  within its ``idle_s``) and ``lost-nodes`` (:class:`~callwright.cluster.heartbeat.LostNodeSweep`:
  a node silent for ``node_lost_s`` has its calls in progress closed, and their ``call.ended``
  queued ``node_lost_s`` later unless the node came back and picked its caller up).

A single node takes every lock at once, so it runs as before. (The campaign dialler is the
outbound jobs' own singleton, started with them.)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from callwright.cluster.heartbeat import LOST_NODES_JOB, LostNodeSweep, NodeHeartbeat
from callwright.cluster.singleton import SingletonJob
from callwright.config import Settings
from callwright.privacy.retention_job import RetentionJob
from callwright.store.db import Database
from callwright.store.job_lock import JobLock, job_lock
from callwright.store.nodes import NodeRepository
from callwright.webhooks.post_call import PostCallService

log = logging.getLogger(__name__)

RETENTION_JOB = "retention"
WEBHOOKS_JOB = "webhook-deliveries"
#: How often the retention job sweeps the store (and once when a node takes it over).
RETENTION_INTERVAL_S = 3600.0

Body = Callable[[], Coroutine[Any, Any, None]]


class NodeJobs:
    def __init__(
        self,
        db: Database,
        node_id: str,
        pbxes: Sequence[str],
        *,
        deliveries: Body | None,
        node_lost_s: float,
        retention_interval_s: float = RETENTION_INTERVAL_S,
        call_ended: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        self.node_id = node_id
        self.heartbeat = NodeHeartbeat(NodeRepository(db), node_id, pbxes,
                                       beat_s=node_lost_s / 6)
        # A lease (SQLite) well within the time a node is taken for lost, checked as often as it
        # beats; on PostgreSQL an advisory lock, freed as soon as its holder's session ends.
        lease_s = max(2.0, node_lost_s / 2)
        check_s = node_lost_s / 6
        def lock(job: str) -> JobLock:
            return job_lock(db, job, node_id, lease_s)

        def retention() -> Coroutine[Any, Any, None]:
            return RetentionJob(db).run_forever(retention_interval_s)

        #: The lost-nodes job's body (its calls' call.ended: ``call_ended``, the post-call events').
        self.sweep = LostNodeSweep(db, lost_after_s=node_lost_s, sweep_s=check_s,
                                   call_ended=call_ended)
        sweep = self.sweep
        bodies: list[tuple[str, Body]] = [(RETENTION_JOB, retention),
                                          (LOST_NODES_JOB, sweep.run_forever)]
        if deliveries is not None:
            bodies.append((WEBHOOKS_JOB, deliveries))
        self.jobs = {name: SingletonJob(name, lock(name), body, check_s=check_s)
                     for name, body in bodies}

    async def start(self) -> None:
        """Register the node and start its heartbeat, then the jobs' checks."""
        await self.heartbeat.start()
        for job in self.jobs.values():
            job.start()

    def running(self) -> list[str]:
        """The jobs this node runs now."""
        return [name for name, job in self.jobs.items() if job.running]

    async def stop_jobs(self) -> None:
        """Stop the jobs, their locks released for the next node."""
        for job in self.jobs.values():
            await job.stop()

    async def stopped(self) -> None:
        """Stop the heartbeat and mark the node stopped (once its calls are closed)."""
        await self.heartbeat.stop()


async def start_node_jobs(db: Database, settings: Settings, pbxes: Sequence[str],
                          post_call: PostCallService) -> NodeJobs:
    """Register this node (``[server] node_id``) with the PBXs it serves, start its heartbeat and
    the singleton jobs: retention, the delivery of ``post_call``'s webhooks, and the lost-nodes
    sweep (whose closed calls' ``call.ended`` ``post_call`` queues)."""
    jobs = NodeJobs(db, settings.node_id, pbxes, deliveries=post_call.worker.run_forever,
                    node_lost_s=settings.server.node_lost_s,
                    call_ended=post_call.events.call_ended)
    await jobs.start()
    return jobs
