"""Caller restrictions (DESIGN §4, issue 12 item 2): what may be done with a caller's calls.

The kinds (:data:`KINDS`, the names the CLI, API and admin use):

- ``record``: do not record the caller's calls;
- ``transcribe``: store their turns as :data:`NOT_TRANSCRIBED`, with no search-index entry (the
  dialog still hears and understands the caller, in memory, for the call);
- ``store``: keep only a minimal call row: the start, the number hashed with the org's salt
  (:func:`hash_number`), the duration and the outcome; no name, turns, slots or recording;
- ``object``: the caller objected to processing: the assistant says so and hands the caller to
  the dialplan's fallback (:mod:`ari_app.session`).

Each row carries a ``reason`` and the dates it was created and last changed.

A restriction belongs to one org and one caller number. Restrictions set by an admin are stored
under the plain number, so the admin can see whom they concern. When a caller's data is erased
(:mod:`callwright.privacy.caller_data`) their row is re-keyed to a *pseudonym*: an HMAC-SHA256 of
the org and the number under a secret kept sealed with the master key (table ``privacy_secrets``,
migration 0005). The store can then still recognise the caller and keep their processing
restricted, while the number itself is gone from the database and a copy of the database alone
cannot reverse the pseudonym. Look-ups check both forms.

``is_do_not_record`` is true for a caller marked do-not-record *or* whose processing is
restricted (an erased caller is both restricted and not recorded again).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from callwright.errors import NotFound, StoreError
from callwright.privacy.secrets import DecryptionFailed, MasterKey
from callwright.store.clock import utc_now_iso
from callwright.store.db import Database
from callwright.store.engine import Connection, Row

PSEUDONYM_PREFIX = "erased:hmac-sha256:"
_SECRET_NAME = "caller_pseudonym"
_SECRET_AAD = b"callwright/privacy_secrets/caller_pseudonym"
_COLUMNS = ("org_id, caller_number, do_not_record, processing_restricted, erased_at, created_at,"
            " do_not_transcribe, do_not_store, object, reason, updated_at")
HASH_PREFIX = "hashed:hmac-sha256:"
#: What a turn of a caller who must not be transcribed is stored as (migration 0018 keeps it out
#: of the search index).
NOT_TRANSCRIBED = "[not transcribed]"
#: The kinds of restriction, as named by the CLI, API and admin, and the column each sets.
KINDS: dict[str, str] = {
    "record": "do_not_record", "transcribe": "do_not_transcribe", "store": "do_not_store",
    "object": "object",
}


def parse_kinds(text: str) -> frozenset[str]:
    """``"record,transcribe"`` → the kinds; ValueError naming an unknown or missing one."""
    kinds = frozenset(part.strip().lower() for part in text.split(",") if part.strip())
    unknown = sorted(kinds - KINDS.keys())
    if unknown:
        raise ValueError(f"unknown restriction {', '.join(unknown)}: use "
                         f"{', '.join(KINDS)} (comma-separated)")
    if not kinds:
        raise ValueError(f"name at least one restriction: {', '.join(KINDS)}")
    return kinds


@dataclass(frozen=True, slots=True)
class CallerRestriction:
    org_id: int
    #: The number as stored: the plain number, or a pseudonym once the caller was erased.
    caller_number: str
    do_not_record: bool
    processing_restricted: bool
    erased_at: str | None
    created_at: str
    do_not_transcribe: bool = False
    do_not_store: bool = False
    object: bool = False
    reason: str = ""
    updated_at: str | None = None

    @property
    def kinds(self) -> frozenset[str]:
        """The kinds in force (:data:`KINDS`); an erased or restricted caller is not recorded."""
        found = {kind for kind, column in KINDS.items() if getattr(self, column)}
        if self.processing_restricted:
            found.add("record")
        return frozenset(found)

    @property
    def pseudonymised(self) -> bool:
        return self.caller_number.startswith(PSEUDONYM_PREFIX)


def _from_row(row: Row) -> CallerRestriction:
    return CallerRestriction(
        org_id=int(row["org_id"]), caller_number=str(row["caller_number"]),
        do_not_record=bool(row["do_not_record"]),
        processing_restricted=bool(row["processing_restricted"]),
        erased_at=row["erased_at"], created_at=str(row["created_at"]),
        do_not_transcribe=bool(row["do_not_transcribe"]), do_not_store=bool(row["do_not_store"]),
        object=bool(row["object"]), reason=str(row["reason"]), updated_at=row["updated_at"],
    )


def pseudonymise(secret: bytes, org_id: int, caller_number: str) -> str:
    """The stored form of an erased caller's number (pure: same inputs, same pseudonym)."""
    message = f"{org_id}\x00{caller_number}".encode()
    return PSEUDONYM_PREFIX + hmac.new(secret, message, hashlib.sha256).hexdigest()


def hash_number(secret: bytes, org_id: int, caller_number: str) -> str:
    """The number a do-not-store call row keeps: an HMAC-SHA256 under a salt of the org's own
    (derived from the instance secret and the org), so the same caller's calls can be counted
    together within an org but not matched across orgs, nor reversed from the database alone."""
    salt = hmac.new(secret, f"org-salt\x00{org_id}".encode(), hashlib.sha256).digest()
    digest = hmac.new(salt, caller_number.strip().encode(), hashlib.sha256).hexdigest()
    return HASH_PREFIX + digest


def _merge(rows: list[CallerRestriction], caller_number: str) -> CallerRestriction | None:
    """One view of a caller's plain and pseudonymised rows (either may be absent)."""
    if not rows:
        return None
    erased = [r.erased_at for r in rows if r.erased_at is not None]
    updated = [r.updated_at for r in rows if r.updated_at is not None]
    return CallerRestriction(
        org_id=rows[0].org_id, caller_number=caller_number,
        do_not_record=any(r.do_not_record for r in rows),
        processing_restricted=any(r.processing_restricted for r in rows),
        erased_at=max(erased) if erased else None,
        created_at=min(r.created_at for r in rows),
        do_not_transcribe=any(r.do_not_transcribe for r in rows),
        do_not_store=any(r.do_not_store for r in rows),
        object=any(r.object for r in rows),
        reason="; ".join(r.reason for r in rows if r.reason),
        updated_at=max(updated) if updated else None,
    )


class CallerRestrictionRepository:
    """Restrictions per (org, caller number). Needs the master key to open the pseudonym secret."""

    def __init__(
        self, db: Database, master_key: MasterKey, now: Callable[[], str] = utc_now_iso
    ) -> None:
        self._db = db
        self._master_key = master_key
        self._now = now
        self._secret: bytes | None = None
        self._secret_lock = asyncio.Lock()

    async def pseudonym(self, org_id: int, caller_number: str) -> str:
        """The pseudonym an erased ``caller_number`` of ``org_id`` is stored under."""
        return pseudonymise(await self._pseudonym_secret(), org_id, caller_number.strip())

    async def hashed_number(self, org_id: int, caller_number: str) -> str:
        """What a do-not-store call row keeps instead of ``caller_number`` (:func:`hash_number`)."""
        return hash_number(await self._pseudonym_secret(), org_id, caller_number)

    async def get(self, org_id: int, caller_number: str) -> CallerRestriction | None:
        """The caller's restrictions (plain and erased rows merged), or None if there are none."""
        number = caller_number.strip()
        if not number:
            return None
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM caller_restrictions"
            " WHERE org_id = ? AND caller_number IN (?, ?)",
            (org_id, number, await self.pseudonym(org_id, number)),
        )
        return _merge([_from_row(row) for row in rows], number)

    async def is_do_not_record(self, org_id: int, caller_number: str) -> bool:
        """True if calls from this caller must not be recorded (do-not-record or restricted)."""
        found = await self.get(org_id, caller_number)
        return found is not None and (found.do_not_record or found.processing_restricted)

    async def is_processing_restricted(self, org_id: int, caller_number: str) -> bool:
        found = await self.get(org_id, caller_number)
        return found is not None and found.processing_restricted

    async def set(
        self,
        org_id: int,
        caller_number: str,
        *,
        do_not_record: bool | None = None,
        processing_restricted: bool | None = None,
        do_not_transcribe: bool | None = None,
        do_not_store: bool | None = None,
        object: bool | None = None,  # noqa: A002 - the column's name
        reason: str | None = None,
    ) -> CallerRestriction:
        """Change the given flags and reason (None: leave as is), creating the row if needed.

        An erased caller's pseudonymised row is updated in place, so setting a flag never brings
        an erased number back into the store. Raises NotFound for an unknown org.
        """
        number = caller_number.strip()
        if not number:
            raise ValueError("a caller number is required")
        pseudonym = await self.pseudonym(org_id, number)
        try:
            async with self._db.transaction() as conn:
                if not await _org_exists(conn, org_id):
                    raise NotFound(f"org {org_id} not found")
                async with conn.execute(
                    "SELECT id FROM caller_restrictions WHERE org_id = ? AND caller_number IN"
                    " (?, ?) ORDER BY caller_number = ? DESC",
                    (org_id, number, pseudonym, pseudonym),
                ) as cur:
                    existing = await cur.fetchone()
                now = self._now()
                if existing is None:
                    await conn.execute(
                        "INSERT INTO caller_restrictions (org_id, caller_number, do_not_record,"
                        " processing_restricted, do_not_transcribe, do_not_store, object,"
                        " reason, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (org_id, number, int(bool(do_not_record)),
                         int(bool(processing_restricted)), int(bool(do_not_transcribe)),
                         int(bool(do_not_store)), int(bool(object)), (reason or "").strip(),
                         now, now),
                    )
                else:
                    await conn.execute(
                        "UPDATE caller_restrictions SET"
                        " do_not_record = COALESCE(?, do_not_record),"
                        " processing_restricted = COALESCE(?, processing_restricted),"
                        " do_not_transcribe = COALESCE(?, do_not_transcribe),"
                        " do_not_store = COALESCE(?, do_not_store),"
                        " object = COALESCE(?, object),"
                        " reason = COALESCE(?, reason), updated_at = ?"
                        " WHERE id = ?",
                        (_opt_flag(do_not_record), _opt_flag(processing_restricted),
                         _opt_flag(do_not_transcribe), _opt_flag(do_not_store),
                         _opt_flag(object), None if reason is None else reason.strip(), now,
                         existing["id"]),
                    )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot set caller restriction: {exc}") from exc
        found = await self.get(org_id, number)
        assert found is not None
        return found

    async def restrict(
        self, org_id: int, caller_number: str, kinds: frozenset[str], reason: str = ""
    ) -> CallerRestriction:
        """Set the named kinds (:data:`KINDS`; others are left as they are) with ``reason``."""
        flags = {KINDS[kind]: True for kind in kinds}
        return await self.set(
            org_id, caller_number, do_not_record=flags.get("do_not_record"),
            do_not_transcribe=flags.get("do_not_transcribe"),
            do_not_store=flags.get("do_not_store"), object=flags.get("object"),
            reason=reason,
        )

    async def unrestrict(self, org_id: int, caller_number: str) -> CallerRestriction | None:
        """Lift every restriction an admin can lift; the caller's view after, or None if there
        was nothing to lift. An erased caller stays processing-restricted (their erasure is
        remembered): only the plain number's flags and the kinds of 0018 are cleared."""
        found = await self.get(org_id, caller_number)
        if found is None:
            return None
        number = caller_number.strip()
        pseudonym = await self.pseudonym(org_id, number)
        try:
            async with self._db.transaction() as conn:
                await conn.execute(
                    "DELETE FROM caller_restrictions WHERE org_id = ? AND caller_number = ?",
                    (org_id, number),
                )
                await conn.execute(
                    "UPDATE caller_restrictions SET do_not_transcribe = 0, do_not_store = 0,"
                    " object = 0, reason = '', updated_at = ?"
                    " WHERE org_id = ? AND caller_number = ?",
                    (self._now(), org_id, pseudonym),
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot lift caller restriction: {exc}") from exc
        return await self.get(org_id, number)

    async def list(self, org_id: int) -> list[CallerRestriction]:
        """The org's restrictions as stored (erased callers appear under their pseudonym)."""
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM caller_restrictions WHERE org_id = ? ORDER BY id", (org_id,)
        )
        return [_from_row(row) for row in rows]

    async def record_erasure(
        self, conn: Connection, org_id: int, caller_number: str, pseudonym: str,
        at: str,
    ) -> None:
        """Inside the caller's erasure transaction: re-key the caller's row to ``pseudonym``
        (created if absent, merged with an earlier erasure), set ``erased_at`` and restrict
        processing. ``pseudonym`` comes from :meth:`pseudonym` (awaited before the transaction).
        """
        number = caller_number.strip()
        async with conn.execute(
            "SELECT id, caller_number, do_not_record FROM caller_restrictions"
            " WHERE org_id = ? AND caller_number IN (?, ?)",
            (org_id, number, pseudonym),
        ) as cur:
            rows = list(await cur.fetchall())
        do_not_record = int(any(row["do_not_record"] for row in rows))
        await conn.execute(
            "DELETE FROM caller_restrictions WHERE org_id = ? AND caller_number = ?",
            (org_id, number),
        )
        await conn.execute(
            "INSERT INTO caller_restrictions (org_id, caller_number, do_not_record,"
            " processing_restricted, erased_at, created_at) VALUES (?, ?, ?, 1, ?, ?)"
            " ON CONFLICT (org_id, caller_number) DO UPDATE SET"
            " do_not_record = MAX(caller_restrictions.do_not_record, excluded.do_not_record),"
            " processing_restricted = 1, erased_at = excluded.erased_at",
            (org_id, pseudonym, do_not_record, at, at),
        )

    async def _pseudonym_secret(self) -> bytes:
        if self._secret is not None:
            return self._secret
        async with self._secret_lock:
            if self._secret is None:
                self._secret = await load_or_create_secret(self._db, self._master_key)
            return self._secret


async def load_or_create_secret(db: Database, master_key: MasterKey) -> bytes:
    """The instance's pseudonym secret, created (and sealed with ``master_key``) on first use."""
    sql = "SELECT secret_enc, key_id FROM privacy_secrets WHERE name = ?"
    row = await db.fetch_one(sql, (_SECRET_NAME,))
    if row is None:
        sealed = master_key.encrypt(os.urandom(32), _SECRET_AAD)
        await db.execute(
            "INSERT OR IGNORE INTO privacy_secrets (name, secret_enc, key_id, created_at)"
            " VALUES (?, ?, ?, ?)",
            (_SECRET_NAME, sealed, master_key.key_id, utc_now_iso()),
        )
        row = await db.fetch_one(sql, (_SECRET_NAME,))
        assert row is not None
    if row["key_id"] != master_key.key_id:
        raise DecryptionFailed(
            f"the caller pseudonym secret is sealed with master key {row['key_id']}, "
            f"this instance's key is {master_key.key_id}: restore the original master key file"
        )
    return master_key.decrypt(bytes(row["secret_enc"]), _SECRET_AAD)


async def _org_exists(conn: Connection, org_id: int) -> bool:
    async with conn.execute("SELECT 1 FROM orgs WHERE id = ?", (org_id,)) as cur:
        return await cur.fetchone() is not None


def _opt_flag(value: bool | None) -> int | None:
    return None if value is None else int(value)
