"""This node's heartbeat in the store (``call_nodes``), and the sweep of lost nodes' calls.

:class:`NodeHeartbeat` registers the node with the PBXs it serves and refreshes its ``seen_at``
every ``beat_s`` seconds; at a clean stop it says so. :class:`LostNodeSweep` is the body of the
``lost-nodes`` job (run on one node at a time, :mod:`callwright.cluster.singleton`): every
``sweep_s`` seconds it closes the calls in progress of each node not seen for ``lost_after_s``
seconds as ``failed``/``node_lost`` (:func:`~callwright.store.recovery.close_node_calls`). If that
node comes back while its callers are still in its PBX, its recovery reopens and resumes their
calls, by the same rules as after a restart (:mod:`ari_app.recovery`).

**Their ``call.ended``.** The sweep closes the calls in the store, not through a call path's
repository, so it queues their post-call events itself (``call_ended``: the composition root's
:meth:`~callwright.webhooks.lifecycle.PostCallEvents.call_ended`; the outbox is in the store, so
the node holding the ``webhook-deliveries`` job sends them). As after a restart, it waits first:
a node that comes back while its caller is still in its PBX reopens the call, whose
``call.ended`` then goes out when it really ends (an event's id is the same for one call, so
queueing it now would swallow that later one). ``ended_after_s`` (``lost_after_s`` by default)
after the close, each call still closed ``node_lost`` gets its ``call.ended`` (a node coming back
later and resuming it sends no second one for its real end). The calls waiting are held by the
sweeping node: if it dies too within that time, theirs are not sent.

``lost_after_s`` must be well above ``beat_s`` and above the longest stall a live node may have
(a store locked for a while delays its beats): a node wrongly taken for lost has its calls
closed under it (they go on, and their rows say ``node_lost``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from callwright.errors import CallwrightError, NotFound
from callwright.store.calls import CallRepository
from callwright.store.clock import shift_iso, utc_now_iso
from callwright.store.db import Database
from callwright.store.nodes import NodeRepository
from callwright.store.recovery import NODE_LOST, close_node_calls

log = logging.getLogger(__name__)

BEAT_S = 5.0
LOST_AFTER_S = 30.0
SWEEP_S = 10.0
#: The name of the lost-nodes job's lock.
LOST_NODES_JOB = "lost-nodes"


class NodeHeartbeat:
    def __init__(self, nodes: NodeRepository, node_id: str, pbxes: Sequence[str],
                 beat_s: float = BEAT_S) -> None:
        self._nodes = nodes
        self.node_id = node_id
        self.pbxes = tuple(pbxes)
        self.beat_s = beat_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._nodes.register(self.node_id, self.pbxes)
        self._task = asyncio.get_running_loop().create_task(self._beat(), name="node-heartbeat")

    async def stop(self, *, mark_stopped: bool = True) -> None:
        """Stop beating and mark the node stopped (its calls are closed by then);
        ``mark_stopped`` False: go silent, as a node that died would. Nothing when not beating
        (never started, or stopped already)."""
        if self._task is None:
            return
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
        if not mark_stopped:
            return
        try:
            await self._nodes.stopped(self.node_id)
        except CallwrightError as exc:
            log.warning("could not mark node %s stopped: %s", self.node_id, exc)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.beat_s)
            try:
                if not await self._nodes.beat(self.node_id):
                    await self._nodes.register(self.node_id, self.pbxes)
            except CallwrightError as exc:
                log.warning("node %s heartbeat not written: %s", self.node_id, exc)


class LostNodeSweep:
    def __init__(
        self, db: Database, *, lost_after_s: float = LOST_AFTER_S, sweep_s: float = SWEEP_S,
        call_ended: Callable[[int], Awaitable[None]] | None = None,
        ended_after_s: float | None = None, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._nodes = NodeRepository(db)
        self._calls = CallRepository(db)
        self.lost_after_s = lost_after_s
        self.sweep_s = sweep_s
        self._call_ended = call_ended
        self.ended_after_s = lost_after_s if ended_after_s is None else ended_after_s
        self._clock = clock
        #: Calls closed ``node_lost`` whose ``call.ended`` is not queued yet: id -> when it is due.
        self._ending: dict[int, float] = {}

    @property
    def ending(self) -> list[int]:
        """The calls closed ``node_lost`` whose ``call.ended`` waits (see the module docstring)."""
        return list(self._ending)

    async def sweep_once(self) -> dict[str, int]:
        """Close the calls of every lost node, then queue the ``call.ended`` now due; {node:
        calls closed}."""
        cutoff = shift_iso(utc_now_iso(), ms=-int(self.lost_after_s * 1000))
        closed: dict[str, int] = {}
        for node_id in await self._nodes.lost(cutoff):
            ids = await close_node_calls(self._db, node_id)
            closed[node_id] = len(ids)
            log.warning("node %s not seen for %g s: closed its %d call(s) in progress",
                        node_id, self.lost_after_s, len(ids))
            if self._call_ended is not None:
                due = self._clock() + self.ended_after_s
                self._ending.update((call_id, due) for call_id in ids)
        await self.send_due()
        return closed

    async def send_due(self) -> list[int]:
        """Queue the ``call.ended`` of each waiting call now due and still closed ``node_lost``
        (not reopened by its node since); the ids queued."""
        if self._call_ended is None:
            return []
        now = self._clock()
        sent: list[int] = []
        for call_id in [c for c, due in self._ending.items() if due <= now]:
            try:
                call = await self._calls.get(call_id)  # another store error: tried next sweep
            except NotFound:
                del self._ending[call_id]  # deleted since (retention, an erasure)
                continue
            del self._ending[call_id]
            if (call.status, call.end_reason) == ("failed", NODE_LOST):
                await self._call_ended(call_id)
                sent.append(call_id)
        return sent

    async def run_forever(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except CallwrightError as exc:
                log.error("lost-node sweep failed: %s", exc)
            await asyncio.sleep(self.sweep_s)
