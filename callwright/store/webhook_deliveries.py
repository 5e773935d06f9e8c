"""The post-call events' outbox and delivery log (table ``webhook_deliveries``, migration 0014).

:meth:`DeliveryRepository.enqueue` writes one row per subscribed endpoint when an event happens;
the call service's delivery worker takes the due rows (:meth:`due`) and writes each attempt's
result back (:meth:`delivered`, :meth:`attempt_failed`). Rows live in the store, so a restart
loses nothing: the worker picks up what was pending. Times are the store's ISO text, given by the
caller (the worker's clock), so tests move time without sleeping.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from callwright.errors import NotFound, StoreError
from callwright.store.db import Database
from callwright.store.engine import Row

STATUSES = ("pending", "delivered", "failed")
_COLUMNS = (
    "d.id, d.org_id, d.endpoint_id, w.name AS endpoint_name, w.target, d.event_id, d.event,"
    " d.call_uid, d.body, d.status, d.attempts, d.created_at, d.next_at, d.expires_at,"
    " d.last_attempt_at, d.response_code, d.last_error"
)
_FROM = "webhook_deliveries d JOIN webhooks w ON w.id = d.endpoint_id"
MAX_ERROR = 500


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    org_id: int
    endpoint_id: int
    endpoint_name: str
    target: str
    event_id: str
    event: str
    call_uid: str
    body: str
    status: str
    attempts: int
    created_at: str
    next_at: str
    expires_at: str
    last_attempt_at: str | None
    response_code: int | None
    last_error: str


def _from_row(row: Row) -> Delivery:
    code = row["response_code"]
    return Delivery(
        id=int(row["id"]), org_id=int(row["org_id"]), endpoint_id=int(row["endpoint_id"]),
        endpoint_name=str(row["endpoint_name"]), target=str(row["target"]),
        event_id=str(row["event_id"]), event=str(row["event"]), call_uid=str(row["call_uid"]),
        body=str(row["body"]), status=str(row["status"]), attempts=int(row["attempts"]),
        created_at=str(row["created_at"]), next_at=str(row["next_at"]),
        expires_at=str(row["expires_at"]), last_attempt_at=row["last_attempt_at"],
        response_code=None if code is None else int(code), last_error=str(row["last_error"]),
    )


class DeliveryRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def enqueue(
        self, org_id: int, endpoint_ids: Sequence[int], *, event_id: str, event: str,
        call_uid: str, body: str, now: str, expires_at: str, call_id: int | None = None,
    ) -> int:
        """One pending row per endpoint, due ``now``; an event already queued for an endpoint is
        not queued twice (same ``event_id``). Returns how many rows were added. ``call_id``: the
        call the body copies from (its deletion or erasure deletes the row)."""
        if not endpoint_ids:
            return 0
        added = 0
        try:
            async with self._db.transaction() as conn:
                for endpoint_id in endpoint_ids:
                    cur = await conn.execute(
                        "INSERT OR IGNORE INTO webhook_deliveries (org_id, endpoint_id, event_id,"
                        " event, call_id, call_uid, body, created_at, next_at, expires_at)"
                        " SELECT ?, id, ?, ?, ?, ?, ?, ?, ?, ? FROM webhooks"
                        " WHERE id = ? AND org_id = ?",
                        (org_id, event_id, event, call_id, call_uid, body, now, now,
                         expires_at, endpoint_id, org_id),
                    )
                    added += cur.rowcount
                    await cur.close()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot queue event {event}: {exc}") from exc
        return added

    async def due(self, now: str, limit: int = 20) -> list[Delivery]:
        """Pending rows whose time has come, oldest first (any org: the worker's view)."""
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM {_FROM} WHERE d.status = 'pending' AND d.next_at <= ?"
            " ORDER BY d.next_at, d.id LIMIT ?",
            (now, max(1, limit)),
        )
        return [_from_row(row) for row in rows]

    async def next_due_at(self) -> str | None:
        """When the next pending row is due (None: nothing pending)."""
        value = await self._db.fetch_value(
            "SELECT MIN(next_at) FROM webhook_deliveries WHERE status = 'pending'"
        )
        return None if value is None else str(value)

    async def delivered(self, delivery_id: int, *, at: str, response_code: int) -> None:
        await self._db.execute(
            "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1,"
            " last_attempt_at = ?, response_code = ?, last_error = '' WHERE id = ?",
            (at, response_code, delivery_id),
        )

    async def attempt_failed(
        self, delivery_id: int, *, at: str, response_code: int | None, error: str,
        next_at: str | None,
    ) -> None:
        """Note a failed attempt: retried at ``next_at``, or ``failed`` for good when None."""
        await self._db.execute(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = ?,"
            " response_code = ?, last_error = ?, status = ?, next_at = COALESCE(?, next_at)"
            " WHERE id = ?",
            (at, response_code, error[:MAX_ERROR], "pending" if next_at else "failed", next_at,
             delivery_id),
        )

    async def redeliver(
        self, org_id: int, delivery_id: int, *, now: str, expires_at: str
    ) -> Delivery:
        """Put a delivery back in the queue, due now, with a new retry window (the same body and
        event id, so a receiver can tell it is the same event). Raises NotFound."""
        changed = await self._db.execute_rowcount(
            "UPDATE webhook_deliveries SET status = 'pending', next_at = ?, expires_at = ?"
            " WHERE org_id = ? AND id = ?",
            (now, expires_at, org_id, delivery_id),
        )
        if changed == 0:
            raise NotFound(f"delivery {delivery_id} not found")
        return await self.get(org_id, delivery_id)

    async def get(self, org_id: int, delivery_id: int) -> Delivery:
        row = await self._db.fetch_one(
            f"SELECT {_COLUMNS} FROM {_FROM} WHERE d.org_id = ? AND d.id = ?",
            (org_id, delivery_id),
        )
        if row is None:
            raise NotFound(f"delivery {delivery_id} not found")
        return _from_row(row)

    async def list(
        self, org_id: int, *, status: str | None = None, endpoint_id: int | None = None,
        limit: int = 100,
    ) -> list[Delivery]:
        """The org's deliveries, newest first."""
        sql = f"SELECT {_COLUMNS} FROM {_FROM} WHERE d.org_id = ?"
        params: list[object] = [org_id]
        if status is not None:
            if status not in STATUSES:
                raise ValueError(f"a delivery status is one of {', '.join(STATUSES)}")
            sql += " AND d.status = ?"
            params.append(status)
        if endpoint_id is not None:
            sql += " AND d.endpoint_id = ?"
            params.append(endpoint_id)
        rows = await self._db.fetch_all(
            sql + " ORDER BY d.id DESC LIMIT ?", (*params, max(1, min(limit, 1000)))
        )
        return [_from_row(row) for row in rows]
