"""Retention policy rows: how long to keep call metadata, transcripts, recordings, notes and
webhook deliveries (the last two optional: None, they go with the call).

An org has a default policy and may override it per assistant. Without any row the built-in
defaults apply (365 days of metadata and transcripts, 90 days of recordings). The job that deletes
expired data reads :meth:`RetentionRepository.effective`; it lives elsewhere.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from callwright.errors import NotFound, StoreError
from callwright.store.clock import utc_now_iso
from callwright.store.db import Database
from callwright.store.engine import Row

DEFAULT_METADATA_DAYS = 365
DEFAULT_TRANSCRIPT_DAYS = 365
DEFAULT_RECORDING_DAYS = 90
MAX_DAYS = 36500
_COLUMNS = ("org_id, assistant_id, metadata_days, transcript_days, recording_days, notes_days,"
            " webhook_log_days, updated_at")


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    org_id: int
    assistant_id: int | None  # None: the org default
    metadata_days: int
    transcript_days: int
    recording_days: int
    updated_at: str | None  # None: built-in defaults, no row stored
    source: str  # "assistant", "org" or "default": where the values came from
    notes_days: int | None = None  # None: notes go with the call
    webhook_log_days: int | None = None  # None: finished webhook deliveries go with the call


def _policy_from_row(row: Row) -> RetentionPolicy:
    assistant_id = None if row["assistant_id"] is None else int(row["assistant_id"])
    return RetentionPolicy(
        org_id=int(row["org_id"]), assistant_id=assistant_id,
        metadata_days=int(row["metadata_days"]), transcript_days=int(row["transcript_days"]),
        recording_days=int(row["recording_days"]), updated_at=str(row["updated_at"]),
        source="org" if assistant_id is None else "assistant",
        notes_days=None if row["notes_days"] is None else int(row["notes_days"]),
        webhook_log_days=(None if row["webhook_log_days"] is None
                          else int(row["webhook_log_days"])),
    )


def _check_days(metadata_days: int, transcript_days: int, recording_days: int) -> None:
    for name, days in (("metadata_days", metadata_days), ("transcript_days", transcript_days),
                       ("recording_days", recording_days)):
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
            raise ValueError(f"{name} must be a whole number of days from 1 to {MAX_DAYS}")
    if transcript_days > metadata_days or recording_days > metadata_days:
        raise ValueError("transcripts and recordings cannot be kept longer than the call "
                         f"metadata they belong to ({metadata_days} days)")


class RetentionRepository:
    def __init__(self, db: Database, now: Callable[[], str] = utc_now_iso) -> None:
        self._db = db
        self._now = now

    async def get(self, org_id: int, assistant_id: int | None = None) -> RetentionPolicy | None:
        """The stored row for the org default (or one assistant), or None if there is none."""
        row = await self._db.fetch_one(
            f"SELECT {_COLUMNS} FROM retention_policies WHERE org_id = ? AND assistant_id IS ?",
            (org_id, assistant_id),
        )
        return None if row is None else _policy_from_row(row)

    async def effective(self, org_id: int, assistant_id: int | None = None) -> RetentionPolicy:
        """The policy that applies: the assistant's row, else the org's, else the defaults."""
        if assistant_id is not None:
            own = await self.get(org_id, assistant_id)
            if own is not None:
                return own
        org_default = await self.get(org_id)
        if org_default is not None:
            return org_default
        return RetentionPolicy(
            org_id=org_id, assistant_id=None, metadata_days=DEFAULT_METADATA_DAYS,
            transcript_days=DEFAULT_TRANSCRIPT_DAYS, recording_days=DEFAULT_RECORDING_DAYS,
            updated_at=None, source="default",
        )

    async def set(
        self,
        org_id: int,
        assistant_id: int | None = None,
        *,
        metadata_days: int = DEFAULT_METADATA_DAYS,
        transcript_days: int = DEFAULT_TRANSCRIPT_DAYS,
        recording_days: int = DEFAULT_RECORDING_DAYS,
    ) -> RetentionPolicy:
        """Create or replace the org default (``assistant_id`` None) or an assistant's policy.

        Raises ValueError for bad day counts, NotFound if the org or assistant (in that org) is
        unknown.
        """
        _check_days(metadata_days, transcript_days, recording_days)
        values = (metadata_days, transcript_days, recording_days, self._now())
        try:
            async with self._db.transaction() as conn:
                async with conn.execute("SELECT 1 FROM orgs WHERE id = ?", (org_id,)) as cur:
                    if await cur.fetchone() is None:
                        raise NotFound(f"org {org_id} not found")
                if assistant_id is not None:
                    async with conn.execute(
                        "SELECT 1 FROM assistants WHERE id = ? AND org_id = ?",
                        (assistant_id, org_id),
                    ) as cur:
                        if await cur.fetchone() is None:
                            raise NotFound(f"assistant {assistant_id} not found")
                cursor = await conn.execute(
                    "UPDATE retention_policies SET metadata_days = ?, transcript_days = ?,"
                    " recording_days = ?, updated_at = ? WHERE org_id = ? AND assistant_id IS ?",
                    (*values, org_id, assistant_id),
                )
                updated = cursor.rowcount
                await cursor.close()
                if updated == 0:
                    await conn.execute(  # a new assistant policy starts with the org's logs
                        "INSERT INTO retention_policies (metadata_days, transcript_days,"
                        " recording_days, updated_at, org_id, assistant_id, notes_days,"
                        " webhook_log_days) SELECT ?, ?, ?, ?, ?, ?, o.notes_days,"
                        " o.webhook_log_days FROM (SELECT 1) AS one LEFT JOIN retention_policies o"
                        " ON o.org_id = ? AND o.assistant_id IS NULL",
                        (*values, org_id, assistant_id, org_id),
                    )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot set retention policy: {exc}") from exc
        policy = await self.get(org_id, assistant_id)
        assert policy is not None
        return policy

    async def set_logs(
        self,
        org_id: int,
        assistant_id: int | None = None,
        *,
        notes_days: int | None,
        webhook_log_days: int | None,
    ) -> RetentionPolicy:
        """Set how long notes and finished webhook deliveries are kept (None: with the call),
        for the org default or one assistant. An assistant without its own policy gets one,
        with the org's other periods. Raises ValueError, NotFound as :meth:`set`."""
        for name, days in (("notes_days", notes_days), ("webhook_log_days", webhook_log_days)):
            if days is not None and (isinstance(days, bool) or not isinstance(days, int)
                                     or not 1 <= days <= MAX_DAYS):
                raise ValueError(f"{name} must be empty or a whole number of days from 1 to"
                                 f" {MAX_DAYS}")
        if await self.get(org_id, assistant_id) is None:
            base = await self.effective(org_id)
            await self.set(org_id, assistant_id, metadata_days=base.metadata_days,
                           transcript_days=base.transcript_days,
                           recording_days=base.recording_days)
        await self._db.execute(
            "UPDATE retention_policies SET notes_days = ?, webhook_log_days = ?, updated_at = ?"
            " WHERE org_id = ? AND assistant_id IS ?",
            (notes_days, webhook_log_days, self._now(), org_id, assistant_id),
        )
        policy = await self.get(org_id, assistant_id)
        if policy is None:
            raise NotFound("retention policy removed meanwhile")
        return policy

    async def clear(self, org_id: int, assistant_id: int | None = None) -> bool:
        """Remove a stored policy (the next level up then applies)."""
        changed = await self._db.execute_rowcount(
            "DELETE FROM retention_policies WHERE org_id = ? AND assistant_id IS ?",
            (org_id, assistant_id),
        )
        return changed > 0

    async def list(self, org_id: int) -> list[RetentionPolicy]:
        """The org's stored policies: the org default first, then per assistant."""
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM retention_policies WHERE org_id = ?"
            " ORDER BY assistant_id IS NOT NULL, assistant_id",
            (org_id,),
        )
        return [_policy_from_row(row) for row in rows]
