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


async def close_abandoned_calls(db: Database, now: Callable[[], str] = utc_now_iso) -> int:
    """Close every in-progress call as failed with reason ``server_restart``; return how many.

    Run once at start-up, before the ARI application accepts calls: any call still in progress
    then belongs to a previous run. Each call gets ``ended_at`` (now), its ``duration_ms`` and a
    ``server_restart`` event on its timeline. The whole sweep is one transaction.
    """
    ended_at = now()
    try:
        async with db.transaction() as conn:
            async with conn.execute(
                "SELECT id, started_at FROM calls WHERE status = 'in_progress'"
            ) as cur:
                rows = list(await cur.fetchall())
            for row in rows:
                duration = max(0, ms_between(str(row["started_at"]), ended_at))
                await conn.execute(
                    "UPDATE calls SET status = 'failed', end_reason = ?, ended_at = ?,"
                    " duration_ms = ? WHERE id = ? AND status = 'in_progress'",
                    (END_REASON, ended_at, duration, row["id"]),
                )
                await conn.execute(
                    "INSERT INTO call_events (call_id, at, kind, detail) VALUES (?, ?, ?, ?)",
                    (row["id"], ended_at, END_REASON,
                     json.dumps({"closed_by": "recovery", "status": "failed"})),
                )
    except sqlite3.Error as exc:
        raise StoreError(f"cannot close abandoned calls: {exc}") from exc
    if rows:
        log.warning("closed %d call(s) left in progress by a previous run", len(rows))
    return len(rows)
