"""Legal holds: calls the retention job (and nothing else that deletes by age) must keep.

A hold covers one call, or every call — past and future — of one caller number in one org. A
call's own hold is a ``legal_holds`` row plus ``calls.legal_hold = 1`` (the flag the retention
job reads), written together in one transaction; a number's hold is only a row, which the job
joins on ``(org_id, caller_number)`` (migration 0016). Lifting removes the row (and clears the
flag); the next retention run may then delete what has expired.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from callwright.errors import NotFound, StoreError
from callwright.store.clock import utc_now_iso
from callwright.store.db import Database
from callwright.store.engine import Row

MAX_REASON = 500
#: SQL true for a call (alias ``c``) held by its own hold or by a hold on its caller number.
HELD_SQL = (
    "(c.legal_hold != 0 OR EXISTS (SELECT 1 FROM legal_holds h WHERE h.org_id = c.org_id"
    " AND h.caller_number = c.caller_number))"
)
MAX_NUMBER = 64
_SELECT = (
    "SELECT h.id, h.org_id, h.call_id, c.uid AS call_uid, h.caller_number, h.reason, h.set_by,"
    " h.created_at FROM legal_holds h LEFT JOIN calls c ON c.id = h.call_id"
)


@dataclass(frozen=True, slots=True)
class LegalHold:
    id: int
    org_id: int
    call_id: int | None  # a call's hold; None: a number's hold
    call_uid: str | None
    caller_number: str | None
    reason: str
    set_by: str
    created_at: str

    @property
    def target(self) -> str:
        """``call:UID`` or ``number:NUMBER``, as the audit log names it."""
        if self.call_id is not None:
            return f"call:{self.call_uid}"
        return f"number:{self.caller_number}"


def _hold(row: Row) -> LegalHold:
    return LegalHold(
        id=int(row["id"]), org_id=int(row["org_id"]),
        call_id=None if row["call_id"] is None else int(row["call_id"]),
        call_uid=row["call_uid"], caller_number=row["caller_number"], reason=str(row["reason"]),
        set_by=str(row["set_by"]), created_at=str(row["created_at"]),
    )


def clean_reason(reason: str) -> str:
    reason = " ".join(reason.split())
    if len(reason) > MAX_REASON:
        raise ValueError(f"the reason is at most {MAX_REASON} characters")
    return reason


def clean_number(number: str) -> str:
    number = number.strip()
    if not number or len(number) > MAX_NUMBER or any(ch.isspace() for ch in number):
        raise ValueError(f"a caller number is 1 to {MAX_NUMBER} characters without spaces")
    return number


class LegalHoldRepository:
    def __init__(self, db: Database, now: Callable[[], str] = utc_now_iso) -> None:
        self._db = db
        self._now = now

    async def list_holds(self, org_id: int) -> list[LegalHold]:
        rows = await self._db.fetch_all(f"{_SELECT} WHERE h.org_id = ? ORDER BY h.id", (org_id,))
        return [_hold(row) for row in rows]

    async def for_call(self, org_id: int, call_id: int) -> list[LegalHold]:
        """The holds that keep this call: its own, and its caller number's."""
        rows = await self._db.fetch_all(
            f"{_SELECT} WHERE h.org_id = ? AND (h.call_id = ? OR h.caller_number ="
            " (SELECT caller_number FROM calls WHERE id = ? AND org_id = ?)) ORDER BY h.id",
            (org_id, call_id, call_id, org_id),
        )
        return [_hold(row) for row in rows]

    async def hold_call(self, org_id: int, call_uid: str, reason: str = "",
                        set_by: str = "") -> tuple[LegalHold, bool]:
        """Put a call of the org on hold: (the hold, True if new; False: it already was, and
        the stored reason is kept). Raises NotFound for a call not in the org."""
        reason = clean_reason(reason)
        try:
            async with self._db.transaction() as conn:
                async with conn.execute("SELECT id FROM calls WHERE uid = ? AND org_id = ?",
                                        (call_uid, org_id)) as cur:
                    row = await cur.fetchone()
                if row is None:
                    raise NotFound(f"call {call_uid} not found")
                call_id = int(row[0])
                cursor = await conn.execute(
                    "INSERT INTO legal_holds (org_id, call_id, reason, set_by, created_at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (org_id, call_id, reason, set_by, self._now()),
                )
                created = cursor.rowcount > 0
                await cursor.close()
                await conn.execute("UPDATE calls SET legal_hold = 1 WHERE id = ?", (call_id,))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot set legal hold: {exc}") from exc
        return await self._one("h.call_id = ?", (call_id,)), created

    async def hold_number(self, org_id: int, number: str, reason: str = "",
                          set_by: str = "") -> tuple[LegalHold, bool]:
        """Put every call of a caller number in the org on hold, including calls still to
        come: (the hold, True if new). Raises NotFound for an unknown org."""
        number, reason = clean_number(number), clean_reason(reason)
        try:
            async with self._db.transaction() as conn:
                async with conn.execute("SELECT 1 FROM orgs WHERE id = ?", (org_id,)) as cur:
                    if await cur.fetchone() is None:
                        raise NotFound(f"org {org_id} not found")
                cursor = await conn.execute(
                    "INSERT INTO legal_holds (org_id, caller_number, reason, set_by, created_at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (org_id, number, reason, set_by, self._now()),
                )
                created = cursor.rowcount > 0
                await cursor.close()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot set legal hold: {exc}") from exc
        return await self._one("h.org_id = ? AND h.caller_number = ?", (org_id, number)), created

    async def lift_call(self, org_id: int, call_uid: str) -> LegalHold | None:
        """Lift a call's own hold: the hold that was lifted, or None if there was none (a hold
        on its number still keeps it). Raises NotFound for a call not in the org."""
        try:
            async with self._db.transaction() as conn:
                async with conn.execute("SELECT id FROM calls WHERE uid = ? AND org_id = ?",
                                        (call_uid, org_id)) as cur:
                    row = await cur.fetchone()
                if row is None:
                    raise NotFound(f"call {call_uid} not found")
                call_id = int(row[0])
                async with conn.execute(f"{_SELECT} WHERE h.call_id = ?", (call_id,)) as cur:
                    held = await cur.fetchone()
                await conn.execute("DELETE FROM legal_holds WHERE call_id = ?", (call_id,))
                await conn.execute("UPDATE calls SET legal_hold = 0 WHERE id = ?", (call_id,))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot lift legal hold: {exc}") from exc
        return None if held is None else _hold(held)

    async def lift_number(self, org_id: int, number: str) -> LegalHold | None:
        """Lift a number's hold: the hold lifted, or None if there was none."""
        number = clean_number(number)
        try:
            async with self._db.transaction() as conn:
                async with conn.execute(f"{_SELECT} WHERE h.org_id = ? AND h.caller_number = ?",
                                        (org_id, number)) as cur:
                    held = await cur.fetchone()
                await conn.execute(
                    "DELETE FROM legal_holds WHERE org_id = ? AND caller_number = ?",
                    (org_id, number),
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot lift legal hold: {exc}") from exc
        return None if held is None else _hold(held)

    async def _one(self, where: str, params: tuple[object, ...]) -> LegalHold:
        row = await self._db.fetch_one(f"{_SELECT} WHERE {where}", params)
        if row is None:  # removed again between the write and this read
            raise NotFound("legal hold not found")
        return _hold(row)
