"""Campaigns and their contacts (tables ``campaigns`` and ``campaign_contacts``, migration 0031).

Every state a campaign is in lives here, so a restarted dialler carries on where it was: a
contact is claimed (``pending`` -> ``calling``, attempts + 1) by one conditional UPDATE before
its call is queued, and the call's ``outbound_calls`` row carries the contact's id, so what
became of an attempt is found again after a restart (:mod:`callwright.campaigns.dialler`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from callwright.campaigns.contacts_csv import Contact, valid_timezone
from callwright.campaigns.windows import CallWindow
from callwright.errors import NotFound
from callwright.store.clock import utc_now_iso
from callwright.store.db import Database, Row

STATUSES = ("draft", "running", "paused", "cancelled", "completed")
CONTACT_STATUSES = ("pending", "calling", "done", "failed", "skipped")
#: Allowed status changes, by action.
ACTIONS = {
    "start": (("draft",), "running"),
    "pause": (("running",), "paused"),
    "resume": (("paused",), "running"),
    "cancel": (("draft", "running", "paused"), "cancelled"),
}
MAX_NAME = 120
_CAMPAIGN = (
    "id, org_id, name, assistant_id, from_number, endpoint, status, max_concurrent,"
    " calls_per_minute, max_attempts, retry_minutes, window_start, window_end, window_days,"
    " timezone, created_at, updated_at"
)
_CONTACT = (
    "id, campaign_id, line, number, variables, timezone, status, attempts, next_attempt_at,"
    " last_outcome, last_cause, updated_at"
)


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    org_id: int
    name: str
    assistant_id: int
    from_number: str = ""
    endpoint: str = ""
    status: str = "draft"
    max_concurrent: int = 5
    calls_per_minute: int = 10
    max_attempts: int = 3
    retry_minutes: int = 30
    window_start: str = "09:00"
    window_end: str = "20:00"
    window_days: str = "1,2,3,4,5"
    timezone: str = ""
    created_at: str = ""
    updated_at: str = ""

    @property
    def window(self) -> CallWindow:
        return CallWindow.parse(self.window_start, self.window_end, self.window_days)

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class CampaignContact:
    id: int
    campaign_id: int
    line: int
    number: str
    variables: dict[str, str]
    timezone: str
    status: str
    attempts: int
    next_attempt_at: str | None
    last_outcome: str
    last_cause: str
    updated_at: str

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def check_settings(c: Campaign) -> Campaign:
    """The campaign's settings checked; ValueError naming the first bad one."""
    name = " ".join(c.name.split())
    if not name or len(name) > MAX_NAME:
        raise ValueError(f"name: 1 to {MAX_NAME} characters")
    for label, value, lo, hi in (("max_concurrent", c.max_concurrent, 1, 500),
                                 ("calls_per_minute", c.calls_per_minute, 1, 6000),
                                 ("max_attempts", c.max_attempts, 1, 20),
                                 ("retry_minutes", c.retry_minutes, 1, 7 * 24 * 60)):
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ValueError(f"{label}: a whole number from {lo} to {hi}")
    try:
        c.window  # noqa: B018 - parses, raising ValueError on a bad window
    except ValueError as exc:
        raise ValueError(f"window: {exc}") from None
    if c.timezone and not valid_timezone(c.timezone):
        raise ValueError(f"timezone: {c.timezone!r} is not an IANA time zone (Europe/Paris)")
    return replace(c, name=name)


def _campaign(row: Row) -> Campaign:
    return Campaign(
        id=int(row["id"]), org_id=int(row["org_id"]), name=str(row["name"]),
        assistant_id=int(row["assistant_id"]), from_number=str(row["from_number"]),
        endpoint=str(row["endpoint"]), status=str(row["status"]),
        max_concurrent=int(row["max_concurrent"]),
        calls_per_minute=int(row["calls_per_minute"]), max_attempts=int(row["max_attempts"]),
        retry_minutes=int(row["retry_minutes"]), window_start=str(row["window_start"]),
        window_end=str(row["window_end"]), window_days=str(row["window_days"]),
        timezone=str(row["timezone"]), created_at=str(row["created_at"]),
        updated_at=str(row["updated_at"]),
    )


def _contact(row: Row) -> CampaignContact:
    variables = json.loads(str(row["variables"]) or "{}")
    return CampaignContact(
        id=int(row["id"]), campaign_id=int(row["campaign_id"]), line=int(row["line"]),
        number=str(row["number"]),
        variables={str(k): str(v) for k, v in variables.items()},
        timezone=str(row["timezone"]), status=str(row["status"]),
        attempts=int(row["attempts"]),
        next_attempt_at=None if row["next_attempt_at"] is None else str(row["next_attempt_at"]),
        last_outcome=str(row["last_outcome"]), last_cause=str(row["last_cause"]),
        updated_at=str(row["updated_at"]),
    )


class CampaignRepository:
    def __init__(self, db: Database, now: Callable[[], str] = utc_now_iso) -> None:
        self._db = db
        self._now = now

    # -- campaigns -------------------------------------------------------------------------------

    async def create(self, settings: Campaign, contacts: Sequence[Contact]) -> Campaign:
        """A draft campaign with its contacts, in one transaction. ValueError on bad settings."""
        c = check_settings(settings)
        now = self._now()
        async with self._db.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO campaigns (org_id, name, assistant_id, from_number, endpoint,"
                " status, max_concurrent, calls_per_minute, max_attempts, retry_minutes,"
                " window_start, window_end, window_days, timezone, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, 'draft', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (c.org_id, c.name, c.assistant_id, c.from_number, c.endpoint, c.max_concurrent,
                 c.calls_per_minute, c.max_attempts, c.retry_minutes, c.window_start,
                 c.window_end, c.window_days, c.timezone, now, now))
            row = await cur.fetchone()
            await cur.close()
            assert row is not None
            campaign_id = int(row[0])
            await conn.executemany(
                "INSERT INTO campaign_contacts (campaign_id, line, number, variables, timezone,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                [(campaign_id, x.line, x.number, json.dumps(x.variables), x.timezone, now)
                 for x in contacts])
        return await self.get(campaign_id)

    async def get(self, campaign_id: int, *, org_id: int | None = None) -> Campaign:
        sql = f"SELECT {_CAMPAIGN} FROM campaigns WHERE id = ?"
        params: tuple[Any, ...] = (campaign_id,)
        if org_id is not None:
            sql, params = sql + " AND org_id = ?", (campaign_id, org_id)
        row = await self._db.fetch_one(sql, params)
        if row is None:
            raise NotFound(f"campaign {campaign_id} not found")
        return _campaign(row)

    async def list_for_org(self, org_id: int) -> list[Campaign]:
        rows = await self._db.fetch_all(
            f"SELECT {_CAMPAIGN} FROM campaigns WHERE org_id = ? ORDER BY id DESC", (org_id,))
        return [_campaign(r) for r in rows]

    async def active(self) -> list[Campaign]:
        """Campaigns the dialler looks at: running, and paused or cancelled ones with calls
        still in progress (their outcomes are still recorded)."""
        rows = await self._db.fetch_all(
            f"SELECT {_CAMPAIGN} FROM campaigns WHERE status = 'running' OR (status IN"
            " ('paused', 'cancelled') AND id IN (SELECT campaign_id FROM campaign_contacts"
            " WHERE status = 'calling')) ORDER BY id")
        return [_campaign(r) for r in rows]

    async def change(self, org_id: int, campaign_id: int, action: str) -> Campaign:
        """start / pause / resume / cancel; ValueError when the status does not allow it."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}: {', '.join(ACTIONS)}")
        allowed, to = ACTIONS[action]
        current = await self.get(campaign_id, org_id=org_id)
        marks = ", ".join("?" * len(allowed))
        changed = await self._db.execute_rowcount(
            f"UPDATE campaigns SET status = ?, updated_at = ? WHERE id = ? AND org_id = ?"
            f" AND status IN ({marks})", (to, self._now(), campaign_id, org_id, *allowed))
        if not changed:
            raise ValueError(f"cannot {action} a campaign that is {current.status}")
        if action == "cancel":
            await self._db.execute_rowcount(
                "UPDATE campaign_contacts SET status = 'skipped', last_outcome = 'cancelled',"
                " updated_at = ? WHERE campaign_id = ? AND status = 'pending'",
                (self._now(), campaign_id))
        return await self.get(campaign_id)

    async def complete(self, campaign_id: int) -> bool:
        """Running with nothing pending or calling: completed (a cancelled one stays so)."""
        return await self._db.execute_rowcount(
            "UPDATE campaigns SET status = 'completed', updated_at = ? WHERE id = ?"
            " AND status = 'running' AND NOT EXISTS (SELECT 1 FROM"
            " campaign_contacts WHERE campaign_id = ? AND status IN ('pending', 'calling'))",
            (self._now(), campaign_id, campaign_id)) > 0

    # -- contacts --------------------------------------------------------------------------------

    async def contacts(self, campaign_id: int, *, status: str | None = None,
                       limit: int = 100_000) -> list[CampaignContact]:
        sql = f"SELECT {_CONTACT} FROM campaign_contacts WHERE campaign_id = ?"
        params: tuple[Any, ...] = (campaign_id,)
        if status is not None:
            sql, params = sql + " AND status = ?", (campaign_id, status)
        rows = await self._db.fetch_all(sql + " ORDER BY line LIMIT ?", (*params, limit))
        return [_contact(r) for r in rows]

    async def due(self, campaign_id: int, now: str, limit: int) -> list[CampaignContact]:
        """Pending contacts whose next attempt is due, oldest first (retries by their time)."""
        rows = await self._db.fetch_all(
            f"SELECT {_CONTACT} FROM campaign_contacts WHERE campaign_id = ? AND status ="
            " 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
            " ORDER BY next_attempt_at, line LIMIT ?", (campaign_id, now, limit))
        return [_contact(r) for r in rows]

    async def claim(self, contact_id: int) -> bool:
        """pending -> calling, attempts + 1; False if someone else did it first."""
        return await self._db.execute_rowcount(
            "UPDATE campaign_contacts SET status = 'calling', attempts = attempts + 1,"
            " updated_at = ? WHERE id = ? AND status = 'pending'",
            (self._now(), contact_id)) > 0

    async def settle(self, contact_id: int, status: str, outcome: str, cause: str,
                     next_attempt_at: str | None) -> None:
        if status not in CONTACT_STATUSES:
            raise ValueError(f"contact status {status!r}")
        await self._db.execute_rowcount(
            "UPDATE campaign_contacts SET status = ?, last_outcome = ?, last_cause = ?,"
            " next_attempt_at = ?, updated_at = ? WHERE id = ?",
            (status, outcome, cause, next_attempt_at, self._now(), contact_id))

    async def unclaim(self, contact_id: int) -> None:
        """A claimed contact whose call was never queued: pending again, the attempt undone."""
        await self._db.execute_rowcount(
            "UPDATE campaign_contacts SET status = 'pending', attempts = attempts - 1,"
            " updated_at = ? WHERE id = ? AND status = 'calling'", (self._now(), contact_id))

    async def counts(self, campaign_id: int) -> dict[str, int]:
        """Contacts by status, and finished attempts by outcome (``outcome:busy``...)."""
        out = {s: 0 for s in CONTACT_STATUSES}
        for row in await self._db.fetch_all(
                "SELECT status, COUNT(*) AS n FROM campaign_contacts WHERE campaign_id = ?"
                " GROUP BY status", (campaign_id,)):
            out[str(row["status"])] = int(row["n"])
        for row in await self._db.fetch_all(
                "SELECT last_outcome, COUNT(*) AS n FROM campaign_contacts WHERE campaign_id = ?"
                " AND last_outcome != '' GROUP BY last_outcome", (campaign_id,)):
            out[f"outcome:{row['last_outcome']}"] = int(row["n"])
        return out
