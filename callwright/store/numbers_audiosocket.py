"""The AudioSocket UUID of a number: how a call from the AudioSocket() dialplan application finds
its number when no ARI is involved.

A dialplan line ``same => n,AudioSocket(<uuid>,<callwright host>:<port>)`` makes Asterisk connect
to our AudioSocket server and send that UUID first; nothing else about the call (not the dialed
number, not the caller ID) reaches us. So a number served that way carries a fixed UUID, set here
(by the admin or the CLI), unique across the instance, and written into that number's dialplan
line. UUIDs are stored in their canonical form (lower case, ``8-4-4-4-12``), which is also the
form ``AudioSocket()`` accepts.

These are functions over :mod:`callwright.store.numbers`' row mapping (the ``audiosocket_uuid``
column comes from migration 0006); :class:`~callwright.store.numbers.Number` itself does not
carry the UUID: ask :meth:`AudioSocketNumbers.uuid_of`.
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Callable

from callwright.errors import CallwrightError, NotFound, StoreError
from callwright.store.assistants import Assistant, AssistantRepository
from callwright.store.clock import utc_now_iso
from callwright.store.db import Database
from callwright.store.numbers import (
    NUMBER_COLUMNS,
    Number,
    number_with_assistant,
)

_CANONICAL = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class InvalidAudioSocketUuid(CallwrightError, ValueError):
    """Not a UUID AudioSocket() accepts; the message says why."""


class AudioSocketUuidTaken(StoreError):
    """Another number already has this AudioSocket UUID."""


def normalise_audiosocket_uuid(raw: str | uuid.UUID) -> str:
    """The canonical form of ``raw`` (``8-4-4-4-12`` hex digits, any case, surrounding blanks
    ignored). Raises InvalidAudioSocketUuid for anything else, and for the nil UUID (a
    placeholder, not an identity)."""
    if isinstance(raw, uuid.UUID):
        text = str(raw)
    else:
        text = raw.strip().lower()
        if not _CANONICAL.match(text):
            raise InvalidAudioSocketUuid(
                f"{raw!r} is not a UUID in the form AudioSocket() takes "
                "(32 hex digits as 8-4-4-4-12, e.g. 7c2a5d4e-1b3f-4a6e-9d8c-0123456789ab)"
            )
    if text == str(uuid.UUID(int=0)):
        raise InvalidAudioSocketUuid("the nil UUID cannot identify a number")
    return text


def new_audiosocket_uuid() -> str:
    """A fresh random UUID for a number's dialplan line."""
    return str(uuid.uuid4())


class AudioSocketNumbers:
    def __init__(self, db: Database, now: Callable[[], str] = utc_now_iso) -> None:
        self._db = db
        self._assistants = AssistantRepository(db, now)

    async def find_by_audiosocket_uuid(
        self, value: str | uuid.UUID
    ) -> tuple[Number, Assistant | None] | None:
        """The inbound (or both-way) number with this UUID and its assistant, or None.

        Never raises for a malformed UUID (the peer may send anything): no match is None."""
        try:
            canonical = normalise_audiosocket_uuid(value)
        except InvalidAudioSocketUuid:
            return None
        row = await self._db.fetch_one(
            f"SELECT {NUMBER_COLUMNS} FROM numbers WHERE audiosocket_uuid = ?"
            " AND direction IN ('inbound', 'both')",
            (canonical,),
        )
        return None if row is None else await number_with_assistant(row, self._assistants)

    async def set_audiosocket_uuid(
        self, org_id: int, number_id: int, value: str | uuid.UUID | None
    ) -> str | None:
        """Give the org's number an AudioSocket UUID (None: take it away); return the stored
        canonical form. Raises InvalidAudioSocketUuid, AudioSocketUuidTaken, NotFound."""
        canonical = None if value is None else normalise_audiosocket_uuid(value)
        try:
            async with self._db.transaction() as conn:
                cursor = await conn.execute(
                    "UPDATE numbers SET audiosocket_uuid = ? WHERE id = ? AND org_id = ?",
                    (canonical, number_id, org_id),
                )
                changed = cursor.rowcount
                await cursor.close()
        except sqlite3.IntegrityError as exc:
            raise AudioSocketUuidTaken(
                f"AudioSocket UUID {canonical} already belongs to another number"
            ) from exc
        except sqlite3.Error as exc:
            raise StoreError(f"cannot set the AudioSocket UUID: {exc}") from exc
        if changed == 0:
            raise NotFound(f"number {number_id} not found")
        return canonical

    async def uuid_of(self, org_id: int, number_id: int) -> str | None:
        """The org's number's AudioSocket UUID (None: not set). Raises NotFound."""
        row = await self._db.fetch_one(
            "SELECT audiosocket_uuid FROM numbers WHERE id = ? AND org_id = ?",
            (number_id, org_id),
        )
        if row is None:
            raise NotFound(f"number {number_id} not found")
        value = row["audiosocket_uuid"]
        return None if value is None else str(value)

    async def any_configured(self) -> bool:
        """True if at least one number (any org) has an AudioSocket UUID."""
        row = await self._db.fetch_one(
            "SELECT 1 FROM numbers WHERE audiosocket_uuid IS NOT NULL LIMIT 1"
        )
        return row is not None
