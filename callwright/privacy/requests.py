"""The register of data-subject requests (migration 0012): what was asked, when, by when, and
what came of it.

A request is one of :data:`KINDS` for a caller number (every call of theirs in the org) or for one
call, received on a date (the day it reached the organisation, which may be before it is entered
here) and due :data:`DUE_DAYS` days later. Its status moves from ``open`` to ``completed``,
``refused`` or ``failed``; :mod:`callwright.privacy.request_actions` carries requests out.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from callwright.errors import CallwrightError, NotFound
from callwright.store.clock import format_iso, parse_iso, shift_iso, utc_now_iso
from callwright.store.db import Database
from callwright.store.engine import Row

KINDS = ("export", "erase", "rectify", "restrict", "object")
SUBJECT_KINDS = ("caller", "call")
STATUSES = ("open", "completed", "recorded", "refused", "failed")
DUE_DAYS = 30
MAX_NOTE = 2000
_COLUMNS = (
    "id, org_id, kind, subject_kind, subject, received_at, due_at, status, note, result,"
    " created_by, created_at, completed_at, export_file, download_expires_at, download_used_at"
)


class RequestError(CallwrightError):
    """A request cannot be carried out as asked; the message says why, for the user."""


@dataclass(frozen=True, slots=True)
class PrivacyRequest:
    id: int
    org_id: int
    kind: str
    subject_kind: str
    subject: str
    received_at: str
    due_at: str
    status: str
    note: str
    result: dict[str, Any]
    created_by: int | None
    created_at: str
    completed_at: str | None
    export_file: str | None
    download_expires_at: str | None
    download_used_at: str | None

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def overdue(self, now: str) -> bool:
        return self.is_open and self.due_at < now

    def to_json(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__slots__}
        data.pop("export_file")  # the server's file layout is not part of the request
        return data


def _from_row(row: Row) -> PrivacyRequest:
    try:
        result = json.loads(row["result"])
    except ValueError:
        result = {"unparsed": row["result"]}
    return PrivacyRequest(
        id=int(row["id"]), org_id=int(row["org_id"]), kind=str(row["kind"]),
        subject_kind=str(row["subject_kind"]), subject=str(row["subject"]),
        received_at=str(row["received_at"]), due_at=str(row["due_at"]),
        status=str(row["status"]), note=str(row["note"]), result=result,
        created_by=row["created_by"], created_at=str(row["created_at"]),
        completed_at=row["completed_at"], export_file=row["export_file"],
        download_expires_at=row["download_expires_at"],
        download_used_at=row["download_used_at"],
    )


def received_date(text: str, now: str) -> str:
    """The store's timestamp for a "received" date (``YYYY-MM-DD`` or a full ISO time).

    Empty means now. A date in the future is refused (ValueError), as is anything unparsable.
    """
    cleaned = text.strip()
    if not cleaned:
        return now
    try:
        moment = parse_iso(cleaned + ("T00:00:00Z" if len(cleaned) == 10 else ""))
    except ValueError:
        raise ValueError(f"not a date: {text!r} (expected YYYY-MM-DD)") from None
    stored = format_iso(moment)
    if stored > now:
        raise ValueError("the date received cannot be in the future")
    return stored


class PrivacyRequestRepository:
    """Rows of ``privacy_requests``, always within one org."""

    def __init__(self, db: Database, now: Callable[[], str] = utc_now_iso) -> None:
        self._db = db
        self._now = now

    async def create(
        self, org_id: int, kind: str, subject_kind: str, subject: str, *,
        received_at: str = "", note: str = "", created_by: int | None = None,
    ) -> PrivacyRequest:
        """A new open request; ValueError for a bad kind, subject, date or note."""
        if kind not in KINDS:
            raise ValueError(f"unknown request kind {kind!r}: expected one of {', '.join(KINDS)}")
        if subject_kind not in SUBJECT_KINDS:
            raise ValueError("the subject is a caller number or a call")
        subject = subject.strip()
        if not subject:
            raise ValueError("a caller number or a call uid is required")
        if len(subject) > 64:
            raise ValueError("a caller number or call uid has at most 64 characters")
        if len(note) > MAX_NOTE:
            raise ValueError(f"a note has at most {MAX_NOTE} characters")
        now = self._now()
        received = received_date(received_at, now)
        request_id = await self._db.execute(
            "INSERT INTO privacy_requests (org_id, kind, subject_kind, subject, received_at,"
            " due_at, note, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (org_id, kind, subject_kind, subject, received, shift_iso(received, days=DUE_DAYS),
             note.strip(), created_by, now),
        )
        return await self.get(org_id, request_id)

    async def get(self, org_id: int, request_id: int) -> PrivacyRequest:
        row = await self._db.fetch_one(
            f"SELECT {_COLUMNS} FROM privacy_requests WHERE org_id = ? AND id = ?",
            (org_id, request_id),
        )
        if row is None:
            raise NotFound(f"request {request_id} not found")
        return _from_row(row)

    async def list(self, org_id: int, limit: int = 500) -> list[PrivacyRequest]:
        """Open requests first (soonest due first), then the rest, newest first."""
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM privacy_requests WHERE org_id = ?"
            " ORDER BY status != 'open', CASE WHEN status = 'open' THEN due_at END,"
            " id DESC LIMIT ?",
            (org_id, max(1, min(limit, 1000))),
        )
        return [_from_row(row) for row in rows]

    async def finish(
        self, org_id: int, request_id: int, status: str, result: dict[str, Any], *,
        export_file: str | None = None,
    ) -> PrivacyRequest:
        if status not in STATUSES or status == "open":
            raise ValueError(f"cannot finish a request as {status!r}")
        await self._db.execute(
            "UPDATE privacy_requests SET status = ?, result = ?, completed_at = ?,"
            " export_file = COALESCE(?, export_file) WHERE org_id = ? AND id = ?",
            (status, json.dumps(result, sort_keys=True, default=str), self._now(), export_file,
             org_id, request_id),
        )
        return await self.get(org_id, request_id)

    async def rekey_subject(self, org_id: int, number: str, pseudonym: str) -> int:
        """After an erasure: the org's requests about ``number`` name its pseudonym instead."""
        return await self._db.execute_rowcount(
            "UPDATE privacy_requests SET subject = ? WHERE org_id = ? AND subject_kind = 'caller'"
            " AND subject = ?",
            (pseudonym, org_id, number),
        )

    async def set_download(
        self, org_id: int, request_id: int, token_hash: str, expires_at: str, export_file: str
    ) -> None:
        """A new one-time link (replacing any earlier one) for the export in ``export_file``."""
        await self._db.execute(
            "UPDATE privacy_requests SET download_hash = ?, download_expires_at = ?,"
            " download_used_at = NULL, export_file = ? WHERE org_id = ? AND id = ?",
            (token_hash, expires_at, export_file, org_id, request_id),
        )

    async def stale_exports(self) -> tuple[tuple[int, int, str], ...]:
        """(org, request, file) of every export whose link was used or has expired."""
        rows = await self._db.fetch_all(
            "SELECT org_id, id, export_file FROM privacy_requests WHERE export_file IS NOT NULL"
            " AND (download_used_at IS NOT NULL OR download_expires_at IS NULL"
            " OR download_expires_at <= ?)",
            (self._now(),),
        )
        return tuple((int(r["org_id"]), int(r["id"]), str(r["export_file"])) for r in rows)

    async def forget_export(self, org_id: int, request_id: int, export_file: str) -> None:
        await self._db.execute(
            "UPDATE privacy_requests SET export_file = NULL WHERE org_id = ? AND id = ?"
            " AND export_file = ?",
            (org_id, request_id, export_file),
        )

    async def use_download(self, org_id: int, request_id: int, token_hash: str) -> str:
        """Spend the link: ``"ok"`` (now spent), ``"gone"`` (spent before or expired) or
        ``"unknown"`` (no such link on this request)."""
        now = self._now()
        changed = await self._db.execute_rowcount(
            "UPDATE privacy_requests SET download_used_at = ? WHERE org_id = ? AND id = ?"
            " AND download_hash = ? AND download_used_at IS NULL AND download_expires_at > ?",
            (now, org_id, request_id, token_hash, now),
        )
        if changed:
            return "ok"
        known = await self._db.fetch_value(
            "SELECT 1 FROM privacy_requests WHERE org_id = ? AND id = ? AND download_hash = ?",
            (org_id, request_id, token_hash),
        )
        return "gone" if known else "unknown"
