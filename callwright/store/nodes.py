"""The call nodes sharing the store (table ``call_nodes``, migration 0029; issue 13).

Each node registers at start-up (:meth:`NodeRepository.register`), refreshes ``seen_at`` every few
seconds while it runs (:meth:`NodeRepository.beat`, see :mod:`callwright.cluster.heartbeat`) and
says it stopped when it stops cleanly. A node not seen for longer than the lost-node delay, and
not stopped, is lost: :meth:`NodeRepository.lost` lists those that still have calls in progress,
for the sweep that closes them (:mod:`callwright.cluster.lost_nodes`). Times are ISO-8601 text made
in Python (:mod:`callwright.store.clock`), compared as text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from callwright.store.clock import utc_now_iso
from callwright.store.db import Database


@dataclass(frozen=True, slots=True)
class Node:
    node_id: str
    pbxes: tuple[str, ...]
    started_at: str
    seen_at: str
    stopped_at: str | None
    #: Its calls in progress in the store.
    calls_in_progress: int = 0


class NodeRepository:
    def __init__(self, db: Database, now: Callable[[], str] = utc_now_iso) -> None:
        self._db = db
        self._now = now

    async def register(self, node_id: str, pbxes: Sequence[str]) -> None:
        """This node starts: its row made or refreshed (started now, not stopped)."""
        now = self._now()
        await self._db.execute(
            "INSERT INTO call_nodes (node_id, pbxes, started_at, seen_at, stopped_at)"
            " VALUES (?, ?, ?, ?, NULL) ON CONFLICT (node_id) DO UPDATE SET"
            " pbxes = excluded.pbxes, started_at = excluded.started_at,"
            " seen_at = excluded.seen_at, stopped_at = NULL",
            (node_id, ",".join(pbxes), now, now),
        )

    async def beat(self, node_id: str) -> bool:
        """This node is alive now; False if it has no row (register first)."""
        changed = await self._db.execute_rowcount(
            "UPDATE call_nodes SET seen_at = ? WHERE node_id = ?", (self._now(), node_id)
        )
        return changed > 0

    async def stopped(self, node_id: str) -> None:
        now = self._now()
        await self._db.execute(
            "UPDATE call_nodes SET seen_at = ?, stopped_at = ? WHERE node_id = ?",
            (now, now, node_id),
        )

    async def list_nodes(self) -> list[Node]:
        """Every node that ever used the store, with its calls in progress, by name."""
        rows = await self._db.fetch_all(
            "SELECT n.node_id, n.pbxes, n.started_at, n.seen_at, n.stopped_at,"
            " (SELECT count(*) FROM calls c WHERE c.status = 'in_progress'"
            "  AND c.node_id = n.node_id) AS live"
            " FROM call_nodes n ORDER BY n.node_id"
        )
        return [
            Node(str(r["node_id"]), tuple(p for p in str(r["pbxes"]).split(",") if p),
                 str(r["started_at"]), str(r["seen_at"]), r["stopped_at"], int(r["live"]))
            for r in rows
        ]

    async def lost(self, seen_before: str) -> list[str]:
        """The nodes with calls in progress that were last seen before ``seen_before``: calls
        nobody serves any more. Calls of a node that never wrote a heartbeat (an adapter that
        does not run one) are not counted: nothing says whether that node is alive."""
        rows = await self._db.fetch_all(
            "SELECT DISTINCT c.node_id FROM calls c JOIN call_nodes n"
            " ON n.node_id = c.node_id WHERE c.status = 'in_progress' AND c.node_id != ''"
            " AND n.seen_at < ? ORDER BY c.node_id",
            (seen_before,),
        )
        return [str(r["node_id"]) for r in rows]
