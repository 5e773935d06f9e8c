"""Start-up recovery: no call stays "in progress" across a crash or restart (DESIGN §2 step 9)."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable

from callwright.errors import StoreError
from callwright.store.clock import ms_between, utc_now_iso
from callwright.store.db import Database

log = logging.getLogger(__name__)

END_REASON = "server_restart"
#: The end reason of a call whose node stopped answering (another node closed it).
NODE_LOST = "node_lost"


async def close_abandoned_calls(
    db: Database, now: Callable[[], str] = utc_now_iso, *, node_id: str | None = None
) -> int:
    """Close every in-progress call as failed with reason ``server_restart``; return how many.

    Run once at start-up, before the ARI application accepts calls: any call still in progress
    then belongs to a previous run. With ``node_id`` (several nodes share the store), only that
    node's calls and calls from before issue 13 (no node) are closed: the other nodes' calls are
    theirs. Each call gets ``ended_at`` (now), its ``duration_ms`` and a ``server_restart``
    event on its timeline. The whole sweep is one transaction.
    """
    where, params = "status = 'in_progress'", tuple[str, ...]()
    if node_id is not None:
        where, params = "status = 'in_progress' AND node_id IN (?, '')", (node_id,)
    closed = await close_calls_where(db, where, params, END_REASON, "recovery", now)
    if closed:
        log.warning("closed %d call(s) left in progress by a previous run", closed)
    return closed


async def close_node_calls(
    db: Database, node_id: str, now: Callable[[], str] = utc_now_iso
) -> list[int]:
    """Close the calls in progress of a lost node (another node's sweep, see
    :mod:`callwright.cluster.heartbeat`) as failed with reason ``node_lost``; their ids. If the
    node comes back and finds a caller still in its PBX, it reopens the call (recovery)."""
    return await close_calls_where_ids(db, "status = 'in_progress' AND node_id = ?", (node_id,),
                                       NODE_LOST, "lost_node_sweep", now)


async def close_calls_where(
    db: Database, where: str, params: tuple[str, ...], reason: str, closed_by: str,
    now: Callable[[], str] = utc_now_iso,
) -> int:
    """Close the in-progress calls matching ``where`` as failed with ``reason``, each with an
    event of that kind, in one transaction; how many."""
    return len(await close_calls_where_ids(db, where, params, reason, closed_by, now))


async def close_calls_where_ids(
    db: Database, where: str, params: tuple[str, ...], reason: str, closed_by: str,
    now: Callable[[], str] = utc_now_iso,
) -> list[int]:
    """:func:`close_calls_where`, returning the ids of the calls closed."""
    ended_at = now()
    try:
        async with db.transaction() as conn:
            async with conn.execute(f"SELECT id, started_at FROM calls WHERE {where}",
                                    params) as cur:
                rows = list(await cur.fetchall())
            for row in rows:
                duration = max(0, ms_between(str(row["started_at"]), ended_at))
                await conn.execute(
                    "UPDATE calls SET status = 'failed', end_reason = ?, ended_at = ?,"
                    " duration_ms = ? WHERE id = ? AND status = 'in_progress'",
                    (reason, ended_at, duration, row["id"]),
                )
                await conn.execute(
                    "INSERT INTO call_events (call_id, at, kind, detail) VALUES (?, ?, ?, ?)",
                    (row["id"], ended_at, reason,
                     json.dumps({"closed_by": closed_by, "status": "failed"})),
                )
    except sqlite3.Error as exc:
        raise StoreError(f"cannot close calls ({reason}): {exc}") from exc
    return [int(row["id"]) for row in rows]
