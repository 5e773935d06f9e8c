"""Restriction of processing of one stored call (issue 12, item 2: "per caller number (and per
call)"). A caller's restrictions (:mod:`callwright.privacy.restrictions`) change their next
calls; this one changes what is done with a call already stored, kept but no longer used:

- ``transcribe``: the transcript is restricted. Its turns are left out of the transcript search
  (:data:`TRANSCRIPT_RESTRICTED_SQL`), hidden on the call's page and in its API answer unless an
  admin reveals them (audited as ``call.reveal``), and withheld from webhooks: ``call.ended`` is
  sent without it, and the call's deliveries still queued are withheld (failed, with the reason)
  and cannot be redelivered.
- ``record``: the recording is restricted. It cannot be played nor downloaded, and
  ``recording.ready`` is not sent for it.

The words are those of the caller restrictions (``record``, ``transcribe``); ``store`` and
``object`` make no sense for a call already stored (use erasure, or restrict the caller number
for the calls to come) and are refused with that explanation. Rows live in ``call_restrictions``
(migration 0021); lifting deletes the row. Retention and legal holds apply as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from callwright.accounts.audit import Actor, AuditWriter
from callwright.errors import NotFound
from callwright.store.clock import utc_now_iso
from callwright.store.db import Database
from callwright.store.legal_holds import clean_reason

#: The kinds a stored call can have restricted, with what each does (for help texts and forms).
CALL_KINDS = {
    "transcribe": "transcript hidden from search and views (audited reveal), withheld from "
                  "webhooks",
    "record": "recording not playable nor downloadable, not announced",
}
WITHHELD_ERROR = "withheld: the call's processing is restricted"

#: SQL true for a turn (alias ``t``) whose call's transcript is restricted.
TRANSCRIPT_RESTRICTED_SQL = (
    "t.call_id IN (SELECT r.call_id FROM call_restrictions r WHERE r.transcript != 0)"
)

_SELECT = (
    "SELECT r.org_id, r.call_id, c.uid AS call_uid, r.transcript, r.recording, r.reason,"
    " r.set_by, r.created_at, r.updated_at FROM call_restrictions r"
    " JOIN calls c ON c.id = r.call_id"
)


def parse_call_kinds(text: str) -> frozenset[str]:
    """``"record,transcribe"`` → the kinds; ValueError naming an unknown or missing one."""
    kinds = frozenset(part.strip().lower() for part in text.split(",") if part.strip())
    if kinds & {"store", "object"}:
        raise ValueError("'store' and 'object' apply to a caller's next calls (restrict the "
                         "number); a stored call can have 'record' and 'transcribe' restricted, "
                         "or be erased")
    unknown = sorted(kinds - CALL_KINDS.keys())
    if unknown:
        raise ValueError(f"unknown restriction {', '.join(unknown)}: use "
                         f"{', '.join(CALL_KINDS)} (comma-separated)")
    if not kinds:
        raise ValueError(f"name at least one restriction: {', '.join(CALL_KINDS)}")
    return kinds


@dataclass(frozen=True, slots=True)
class CallRestriction:
    org_id: int
    call_id: int
    call_uid: str
    transcript: bool
    recording: bool
    reason: str
    set_by: str
    created_at: str
    updated_at: str

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(k for k, on in (("transcribe", self.transcript),
                                         ("record", self.recording)) if on)

    @property
    def target(self) -> str:
        return f"call:{self.call_uid}"


class _Row(Protocol):
    """A row by column name, whichever store engine gave it."""

    def __getitem__(self, key: str) -> Any: ...


def _from_row(row: _Row) -> CallRestriction:
    return CallRestriction(
        org_id=int(row["org_id"]), call_id=int(row["call_id"]), call_uid=str(row["call_uid"]),
        transcript=bool(row["transcript"]), recording=bool(row["recording"]),
        reason=str(row["reason"]), set_by=str(row["set_by"]),
        created_at=str(row["created_at"]), updated_at=str(row["updated_at"]),
    )


class CallRestrictionRepository:
    def __init__(self, db: Database, now: Callable[[], str] = utc_now_iso) -> None:
        self._db = db
        self._now = now

    async def list(self, org_id: int) -> list[CallRestriction]:
        rows = await self._db.fetch_all(
            f"{_SELECT} WHERE r.org_id = ? ORDER BY r.created_at, r.id", (org_id,))
        return [_from_row(row) for row in rows]

    async def for_call(self, org_id: int, call_id: int) -> CallRestriction | None:
        row = await self._db.fetch_one(
            f"{_SELECT} WHERE r.org_id = ? AND r.call_id = ?", (org_id, call_id))
        return None if row is None else _from_row(row)

    async def for_uid(self, org_id: int, call_uid: str) -> CallRestriction | None:
        row = await self._db.fetch_one(
            f"{_SELECT} WHERE r.org_id = ? AND c.uid = ?", (org_id, call_uid.strip()))
        return None if row is None else _from_row(row)

    async def restrict(
        self, org_id: int, call_uid: str, kinds: frozenset[str], reason: str = "",
        set_by: str = "",
    ) -> CallRestriction:
        """Add ``kinds`` to the call's restriction (others kept; the reason replaced when one is
        given). With ``transcribe``, the call's webhook deliveries still queued are withheld.
        Raises NotFound (no such call in the org), ValueError (bad kinds or reason)."""
        parse_call_kinds(",".join(kinds))  # the same checks as the CLI's
        reason = clean_reason(reason)
        call_id = await self._call_id(org_id, call_uid)
        now = self._now()
        transcript, recording = int("transcribe" in kinds), int("record" in kinds)
        async with self._db.transaction() as conn:
            changed = await conn.execute(
                "UPDATE call_restrictions SET transcript = MAX(transcript, ?),"
                " recording = MAX(recording, ?), reason = CASE WHEN ? = '' THEN reason ELSE ?"
                " END, updated_at = ? WHERE call_id = ?",
                (transcript, recording, reason, reason, now, call_id))
            if changed.rowcount == 0:
                await conn.execute(
                    "INSERT INTO call_restrictions (org_id, call_id, transcript, recording,"
                    " reason, set_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (org_id, call_id, transcript, recording, reason, set_by, now, now))
            await changed.close()
            if transcript:
                await conn.execute(
                    "UPDATE webhook_deliveries SET status = 'failed', last_error = ?"
                    " WHERE call_id = ? AND org_id = ? AND status = 'pending'",
                    (WITHHELD_ERROR, call_id, org_id))
        found = await self.for_call(org_id, call_id)
        assert found is not None
        return found

    async def lift(self, org_id: int, call_uid: str) -> CallRestriction | None:
        """Remove the call's restriction; the one lifted, or None if there was none. Raises
        NotFound for no such call."""
        call_id = await self._call_id(org_id, call_uid)
        found = await self.for_call(org_id, call_id)
        if found is not None:
            await self._db.execute_rowcount(
                "DELETE FROM call_restrictions WHERE call_id = ? AND org_id = ?",
                (call_id, org_id))
        return found

    async def _call_id(self, org_id: int, call_uid: str) -> int:
        value = await self._db.fetch_value(
            "SELECT id FROM calls WHERE uid = ? AND org_id = ?", (call_uid.strip(), org_id))
        if value is None:
            raise NotFound(f"call {call_uid.strip()!r} not found")
        return int(value)


class CallRestrictionActions:
    """Restricting and lifting a call's restriction, audited (``call_restriction.set`` /
    ``call_restriction.lift``, target ``call:UID``, detail: kinds and reason): the one path the
    CLI, the admin page and the API share."""

    def __init__(self, repo: CallRestrictionRepository, audit: AuditWriter) -> None:
        self._repo = repo
        self._audit = audit

    async def restrict(
        self, org_id: int, call_uid: str, kinds: frozenset[str], reason: str, actor: Actor,
        set_by: str = "",
    ) -> CallRestriction:
        found = await self._repo.restrict(org_id, call_uid, kinds, reason, set_by or actor.label)
        await self._audit.record(
            actor, "call_restriction.set", org_id=org_id, target=found.target,
            detail={"kinds": sorted(kinds), "now": sorted(found.kinds), "reason": found.reason},
        )
        return found

    async def lift(self, org_id: int, call_uid: str, actor: Actor) -> CallRestriction | None:
        """The restriction lifted, or None if the call had none (nothing audited)."""
        found = await self._repo.lift(org_id, call_uid)
        if found is not None:
            await self._audit.record(
                actor, "call_restriction.lift", org_id=org_id, target=found.target,
                detail={"lifted": sorted(found.kinds), "reason": found.reason},
            )
        return found
