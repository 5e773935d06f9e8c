"""The audit log: appended to, read by owners, never changed (triggers in 0001 refuse it).

``detail`` is JSON and never holds a secret: callers pass names, ids and changed field names, and
:func:`scrub` drops any key that looks like a secret before the row is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from callwright.store.clock import utc_now_iso
from callwright.store.db import Database
from callwright.store.engine import Row

_SECRET_WORDS = ("password", "secret", "token", "key", "code")


def scrub(detail: dict[str, Any]) -> dict[str, Any]:
    """``detail`` without values whose key names a secret (nested dicts included)."""
    clean: dict[str, Any] = {}
    for key, value in detail.items():
        lowered = key.lower()
        if lowered.endswith("_id") or lowered in ("fields", "changed"):
            clean[key] = value
        elif any(word in lowered for word in _SECRET_WORDS):
            clean[key] = "[redacted]"
        else:
            clean[key] = scrub(value) if isinstance(value, dict) else value
    return clean


@dataclass(frozen=True)
class AuditEntry:
    id: int
    org_id: int | None
    user_id: int | None
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
    ip: str
    at: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _entry(row: Row) -> AuditEntry:
    try:
        detail = json.loads(row["detail"])
    except ValueError:
        detail = {"unparsed": row["detail"]}
    return AuditEntry(
        id=row["id"],
        org_id=row["org_id"],
        user_id=row["user_id"],
        actor=row["actor"],
        action=row["action"],
        target=row["target"],
        detail=detail,
        ip=row["ip"],
        at=row["at"],
    )


class AuditRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def append(
        self,
        *,
        org_id: int | None,
        user_id: int | None,
        actor: str,
        action: str,
        target: str = "",
        detail: dict[str, Any] | None = None,
        ip: str = "",
    ) -> int:
        return await self._db.execute(
            "INSERT INTO audit_log (org_id, user_id, actor, action, target, detail, ip, at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                org_id,
                user_id,
                actor,
                action,
                target,
                json.dumps(scrub(detail or {}), sort_keys=True, default=str),
                ip,
                utc_now_iso(),
            ),
        )

    async def has_entry(self, org_id: int, action: str, target: str) -> bool:
        """Whether ``org_id``'s log holds an entry of ``action`` on ``target``."""
        value = await self._db.fetch_value(
            "SELECT 1 FROM audit_log WHERE org_id = ? AND action = ? AND target = ? LIMIT 1",
            (org_id, action, target))
        return value is not None

    async def page(
        self, org_id: int, before_id: int | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        """Newest first, ``limit`` entries older than ``before_id`` (keyset by id)."""
        limit = max(1, min(limit, 500))
        if before_id is None:
            rows = await self._db.fetch_all(
                "SELECT * FROM audit_log WHERE org_id = ? ORDER BY id DESC LIMIT ?",
                (org_id, limit),
            )
        else:
            rows = await self._db.fetch_all(
                "SELECT * FROM audit_log WHERE org_id = ? AND id < ? ORDER BY id DESC LIMIT ?",
                (org_id, before_id, limit),
            )
        return [_entry(row) for row in rows]
