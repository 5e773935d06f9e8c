"""Phone numbers and extensions, and the lookup the call path does on StasisStart.

A number is stored in one canonical form: E.164 (``+`` then 8-15 digits, not starting with 0) or
an extension (2-8 digits). Spaces, dashes, dots and parentheses are dropped on input
(``"+1 (555) 123-4567"`` becomes ``"+15551234567"``). Asterisk-style alphanumeric extensions
(``s``, ``i``, ``_X.``) are refused: a number must be something a caller can dial.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from callwright.errors import CallwrightError, NotFound, StoreError
from callwright.store.assistants import Assistant, AssistantRepository
from callwright.store.clock import utc_now_iso
from callwright.store.db import Database
from callwright.store.engine import Connection, Row

KINDS = ("did", "extension", "tollfree", "mobile")
DIRECTIONS = ("inbound", "outbound", "both")
_SEPARATORS = re.compile(r"[\s\-.()]")
_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
_EXTENSION = re.compile(r"^[0-9]{2,8}$")
NUMBER_COLUMNS = (
    "id, org_id, number, kind, direction, region, label, assistant_id, outbound_endpoint,"
    " created_at"
)


class InvalidNumber(CallwrightError, ValueError):
    """A number is neither E.164 nor a 2-8 digit extension; the message says why."""


class NumberTaken(StoreError):
    """The number is already registered (numbers are unique across the instance)."""


@dataclass(frozen=True, slots=True)
class Number:
    id: int
    org_id: int
    number: str
    kind: str
    direction: str
    region: str
    label: str
    assistant_id: int | None
    outbound_endpoint: str
    created_at: str

    @property
    def is_extension(self) -> bool:
        return not self.number.startswith("+")


def number_from_row(row: Row) -> Number:
    assistant_id = row["assistant_id"]
    return Number(
        id=int(row["id"]),
        org_id=int(row["org_id"]),
        number=str(row["number"]),
        kind=str(row["kind"]),
        direction=str(row["direction"]),
        region=str(row["region"]),
        label=str(row["label"]),
        assistant_id=None if assistant_id is None else int(assistant_id),
        outbound_endpoint=str(row["outbound_endpoint"]),
        created_at=str(row["created_at"]),
    )


def normalise_number(raw: str) -> str:
    """The canonical form of ``raw``; raises InvalidNumber with the reason."""
    text = _SEPARATORS.sub("", raw)
    if not text:
        raise InvalidNumber("empty number")
    if text.startswith("+"):
        digits = text[1:]
        if not digits.isascii() or not digits.isdigit():
            raise InvalidNumber(f"{raw!r}: after '+' an E.164 number has only digits")
        if digits.startswith("0"):
            raise InvalidNumber(f"{raw!r}: an E.164 country code cannot start with 0")
        if not 8 <= len(digits) <= 15:
            raise InvalidNumber(
                f"{raw!r}: an E.164 number has 8 to 15 digits after '+', this has {len(digits)}"
            )
        return text
    if not text.isascii() or not text.isdigit():
        raise InvalidNumber(
            f"{raw!r}: not a number; use E.164 (+ and digits) or a 2-8 digit extension "
            "(Asterisk pattern or letter extensions like 's' are not supported)"
        )
    if len(text) < 2:
        raise InvalidNumber(f"{raw!r}: an extension has at least 2 digits")
    if len(text) > 8:
        raise InvalidNumber(
            f"{raw!r}: {len(text)} digits is too long for an extension (2-8); "
            "write a full number in E.164 form with a leading '+'"
        )
    return text


def _dialed_candidates(dialed: str) -> list[str]:
    """The stored forms a dialed string may match: itself, and with/without a leading '+'."""
    text = _SEPARATORS.sub("", dialed)
    if not text:
        return []
    bare = text[1:] if text.startswith("+") else text
    if not bare.isascii() or not bare.isdigit():
        return []
    found = []
    for candidate in (text, "+" + bare, bare):
        if (_E164.match(candidate) or _EXTENSION.match(candidate)) and candidate not in found:
            found.append(candidate)
    return found


def _check_choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"number {what} must be one of {', '.join(allowed)}, got {value!r}")
    return value


class NumberRepository:
    def __init__(self, db: Database, now: Callable[[], str] = utc_now_iso) -> None:
        self._db = db
        self._now = now
        self._assistants = AssistantRepository(db, now)

    async def create(
        self,
        org_id: int,
        number: str,
        kind: str | None = None,
        direction: str = "inbound",
        region: str = "",
        assistant_id: int | None = None,
        *,
        label: str = "",
        outbound_endpoint: str = "",
    ) -> Number:
        """Register a number for an org.

        ``kind`` defaults to "extension" for an extension and "did" otherwise; "extension" is
        refused for an E.164 number and the other kinds for an extension. The assistant, if given,
        must belong to the same org (NotFound otherwise). Raises InvalidNumber, ValueError,
        NumberTaken.
        """
        canonical = normalise_number(number)
        is_extension = not canonical.startswith("+")
        if kind is None:
            kind = "extension" if is_extension else "did"
        _check_choice(kind, KINDS, "kind")
        if is_extension != (kind == "extension"):
            raise InvalidNumber(
                f"{canonical!r} is {'an extension' if is_extension else 'an E.164 number'}; "
                f"kind {kind!r} does not fit it"
            )
        _check_choice(direction, DIRECTIONS, "direction")
        try:
            async with self._db.transaction() as conn:
                await _require_org_and_assistant(conn, org_id, assistant_id)
                cursor = await conn.execute(
                    "INSERT INTO numbers (org_id, number, kind, direction, region, label,"
                    " assistant_id, outbound_endpoint, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (org_id, canonical, kind, direction, region, label, assistant_id,
                     outbound_endpoint, self._now()),
                )
                number_id = int(cursor.lastrowid or 0)
                await cursor.close()
        except sqlite3.IntegrityError as exc:
            raise NumberTaken(f"number {canonical} is already registered") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"cannot create number: {exc}") from exc
        return await self.get(org_id, number_id)

    async def get(self, org_id: int, number_id: int) -> Number:
        row = await self._db.fetch_one(
            f"SELECT {NUMBER_COLUMNS} FROM numbers WHERE id = ? AND org_id = ?", (number_id, org_id)
        )
        if row is None:
            raise NotFound(f"number {number_id} not found")
        return number_from_row(row)

    async def find(self, org_id: int, number: str) -> Number | None:
        """The org's row for ``number`` (any accepted spelling), or None."""
        row = await self._db.fetch_one(
            f"SELECT {NUMBER_COLUMNS} FROM numbers WHERE number = ? AND org_id = ?",
            (normalise_number(number), org_id),
        )
        return None if row is None else number_from_row(row)

    async def list(self, org_id: int) -> list[Number]:
        rows = await self._db.fetch_all(
            f"SELECT {NUMBER_COLUMNS} FROM numbers WHERE org_id = ? ORDER BY number", (org_id,)
        )
        return [number_from_row(row) for row in rows]

    async def assign(self, org_id: int, number_id: int, assistant_id: int | None) -> Number:
        """Point the number at an assistant of the same org (None: unassign). Raises NotFound."""
        try:
            async with self._db.transaction() as conn:
                await _require_org_and_assistant(conn, org_id, assistant_id)
                cursor = await conn.execute(
                    "UPDATE numbers SET assistant_id = ? WHERE id = ? AND org_id = ?",
                    (assistant_id, number_id, org_id),
                )
                changed = cursor.rowcount
                await cursor.close()
                if changed == 0:
                    raise NotFound(f"number {number_id} not found")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot assign number: {exc}") from exc
        return await self.get(org_id, number_id)

    async def delete(self, org_id: int, number_id: int) -> bool:
        changed = await self._db.execute_rowcount(
            "DELETE FROM numbers WHERE id = ? AND org_id = ?", (number_id, org_id)
        )
        return changed > 0

    async def find_inbound(self, dialed: str) -> tuple[Number, Assistant | None] | None:
        """The inbound (or both-way) number matching ``dialed`` and its assistant, or None.

        Tolerates a leading '+' present or missing and separators; never raises for garbage (a
        PBX may pass anything as the dialed string): no match is None.
        """
        candidates = _dialed_candidates(dialed)
        if not candidates:
            return None
        marks = ", ".join("?" for _ in candidates)
        row = await self._db.fetch_one(
            f"SELECT {NUMBER_COLUMNS} FROM numbers WHERE number IN ({marks})"
            " AND direction IN ('inbound', 'both') ORDER BY number = ? DESC LIMIT 1",
            (*candidates, candidates[0]),
        )
        return None if row is None else await number_with_assistant(row, self._assistants)


async def number_with_assistant(
    row: Row, assistants: AssistantRepository
) -> tuple[Number, Assistant | None]:
    """The number in ``row`` (selected with NUMBER_COLUMNS) and its assistant, if it has one."""
    found = number_from_row(row)
    if found.assistant_id is None:
        return found, None
    try:
        return found, await assistants.get(found.org_id, found.assistant_id)
    except NotFound:  # deleted between the two reads
        return found, None


async def _require_org_and_assistant(
    conn: Connection, org_id: int, assistant_id: int | None
) -> None:
    """Inside a transaction: the org exists and the assistant (if any) belongs to it."""
    async with conn.execute("SELECT 1 FROM orgs WHERE id = ?", (org_id,)) as cur:
        if await cur.fetchone() is None:
            raise NotFound(f"org {org_id} not found")
    if assistant_id is None:
        return
    async with conn.execute(
        "SELECT 1 FROM assistants WHERE id = ? AND org_id = ?", (assistant_id, org_id)
    ) as cur:
        if await cur.fetchone() is None:
            raise NotFound(f"assistant {assistant_id} not found")
