"""This node's heartbeat in the store (``call_nodes``), and the sweep of lost nodes' calls.

:class:`NodeHeartbeat` registers the node with the PBXs it serves and refreshes its ``seen_at``
every ``beat_s`` seconds; at a clean stop it says so. :class:`LostNodeSweep` is the body of the
``lost-nodes`` job (run on one node at a time, :mod:`callwright.cluster.singleton`): every
``sweep_s`` seconds it closes the calls in progress of each node not seen for ``lost_after_s``
seconds as ``failed``/``node_lost`` (:func:`~callwright.store.recovery.close_node_calls`). If that
node comes back while its callers are still in its PBX, its recovery reopens and resumes their
calls, by the same rules as after a restart (:mod:`ari_app.recovery`).

``lost_after_s`` must be well above ``beat_s`` and above the longest stall a live node may have
(a store locked for a while delays its beats): a node wrongly taken for lost has its calls
closed under it (they go on, and their rows say ``node_lost``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from callwright.errors import CallwrightError
from callwright.store.clock import shift_iso, utc_now_iso
from callwright.store.db import Database
from callwright.store.nodes import NodeRepository
from callwright.store.recovery import close_node_calls

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
    def __init__(self, db: Database, *, lost_after_s: float = LOST_AFTER_S,
                 sweep_s: float = SWEEP_S) -> None:
        self._db = db
        self._nodes = NodeRepository(db)
        self.lost_after_s = lost_after_s
        self.sweep_s = sweep_s

    async def sweep_once(self) -> dict[str, int]:
        """Close the calls of every lost node; {node: calls closed}."""
        cutoff = shift_iso(utc_now_iso(), ms=-int(self.lost_after_s * 1000))
        closed: dict[str, int] = {}
        for node_id in await self._nodes.lost(cutoff):
            closed[node_id] = await close_node_calls(self._db, node_id)
            log.warning("node %s not seen for %g s: closed its %d call(s) in progress",
                        node_id, self.lost_after_s, closed[node_id])
        return closed

    async def run_forever(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except CallwrightError as exc:
                log.error("lost-node sweep failed: %s", exc)
            await asyncio.sleep(self.sweep_s)
