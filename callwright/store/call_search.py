"""The calls browser's queries: a filtered list paged by keyset, one call's page, the dashboard.

Every query takes the org id and keeps to it: a call of another org is never returned, it is
simply not found. Lists are ordered newest first by ``(started_at, id)`` and paged by keyset (the
last row's pair is the cursor), so page 5,000 costs what page 1 costs; there is no total count. Each
filter has an index in front of it (0001 and 0003), and the transcript filter goes through FTS5
(PostgreSQL: full-text search on a tsvector column, :func:`transcript_search`).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

from callwright.store.db import Database
from callwright.store.engine import EngineName, Row

CALL_STATUSES = ("in_progress", "completed", "failed", "transferred", "rejected", "abandoned")
MAX_PAGE = 200
MAX_CALL_ID = 2**63 - 1  # SQLite INTEGER
_ISO_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?Z?)?$")
_WORD = re.compile(r"\w+", re.UNICODE)


class SearchError(ValueError):
    """A filter value is invalid; the message names the filter, for the user."""


@dataclass(frozen=True)
class CallFilter:
    """What the list shows. Dates are UTC ISO-8601 prefixes: ``since`` inclusive, ``until`` not."""

    since: str | None = None
    until: str | None = None
    number_id: int | None = None
    caller: str | None = None
    assistant_id: int | None = None
    status: str | None = None
    text: str | None = None
    #: Test calls from the admin's browser panel (direction ``test``) are left out unless asked.
    include_tests: bool = False

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and not _ISO_PREFIX.match(value):
                raise SearchError(f"{name}: expected a date like 2026-11-22 or 2026-11-22T10:30")
        if self.status is not None and self.status not in CALL_STATUSES:
            raise SearchError(f"status: expected one of {', '.join(CALL_STATUSES)}")
        if self.text is not None and not _WORD.search(self.text):
            raise SearchError("text: enter at least one word to search the transcripts for")


@dataclass(frozen=True)
class Cursor:
    started_at: str
    id: int

    def encode(self) -> str:
        raw = json.dumps([self.started_at, self.id], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        try:
            padded = value + "=" * (-len(value) % 4)
            started_at, call_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
            if not isinstance(started_at, str) or not _ISO_PREFIX.match(started_at):
                raise ValueError("not a start time")
            if isinstance(call_id, bool) or not isinstance(call_id, int):
                raise ValueError("not a call id")
            if not 1 <= call_id <= MAX_CALL_ID:
                raise ValueError("call id out of range")
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
            message = "cursor: this page link is not valid; start from the first page"
            raise SearchError(message) from exc
        return cls(started_at, call_id)


@dataclass(frozen=True)
class CallSummary:
    id: int
    uid: str
    started_at: str
    ended_at: str | None
    duration_ms: int | None
    status: str
    direction: str
    caller_number: str
    caller_name: str
    dialed: str
    assistant_id: int | None
    assistant_name: str | None
    number_id: int | None
    end_reason: str
    has_recording: bool
    #: The call node that took it and the PBX it came from (issue 13; '' before).
    node_id: str = ""
    pbx: str = ""

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        del data["id"]
        return data


@dataclass(frozen=True)
class CallPage:
    calls: list[CallSummary]
    next_cursor: str | None


@dataclass(frozen=True)
class CallDetail:
    call: dict[str, Any]
    turns: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)


def fts_query(text: str) -> str:
    """The words of ``text`` as an FTS5 query (all must appear); no FTS syntax gets through."""
    return " ".join('"' + word.replace('"', '""') + '"' for word in _WORD.findall(text)[:12])


def ts_query(text: str) -> str:
    """The words of ``text`` as PostgreSQL ``to_tsquery`` text (all must appear), the same query
    as :func:`fts_query`: each word is one quoted lexeme (a word holds only word characters, so
    nothing else gets through), and a word PostgreSQL cuts in two ("foo_bar") must match as a
    phrase, as FTS5 matches it."""
    return " & ".join(f"'{word}'" for word in _WORD.findall(text)[:12])


def transcript_search(engine: EngineName, text: str) -> tuple[str, tuple[str]]:
    """(SQL selecting the ids of the turns whose text holds every word of ``text``, its
    parameters) for ``engine``: FTS5's ``call_turns_fts`` on SQLite, the ``search`` tsvector column
    of ``call_turns`` on PostgreSQL. Turns stored as "[not transcribed]" are in neither index."""
    if engine == "postgresql":
        return ("SELECT id FROM call_turns WHERE search @@ to_tsquery('callwright_search', ?)",
                (ts_query(text),))
    return "SELECT rowid FROM call_turns_fts WHERE call_turns_fts MATCH ?", (fts_query(text),)


_SUMMARY_COLUMNS = (
    "c.id, c.uid, c.started_at, c.ended_at, c.duration_ms, c.status, c.direction,"
    " c.caller_number, c.caller_name, c.dialed, c.assistant_id, a.name AS assistant_name,"
    " c.number_id, c.end_reason, c.recording_path IS NOT NULL AS has_recording, c.node_id,"
    " c.pbx"
)


def _summary(row: Row) -> CallSummary:
    return CallSummary(
        id=row["id"],
        uid=row["uid"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        duration_ms=row["duration_ms"],
        status=row["status"],
        direction=row["direction"],
        caller_number=row["caller_number"],
        caller_name=row["caller_name"],
        dialed=row["dialed"],
        assistant_id=row["assistant_id"],
        assistant_name=row["assistant_name"],
        number_id=row["number_id"],
        end_reason=row["end_reason"],
        has_recording=bool(row["has_recording"]),
        node_id=row["node_id"],
        pbx=row["pbx"],
    )


class CallSearch:
    """Read-only queries over calls, turns, events and notes, always inside one org."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def list_calls(
        self, org_id: int, flt: CallFilter, cursor: Cursor | None = None, limit: int = 50
    ) -> CallPage:
        limit = max(1, min(limit, MAX_PAGE))
        where = ["c.org_id = ?"]
        params: list[Any] = [org_id]
        if not flt.include_tests:
            where.append("c.direction != 'test'")
        if flt.assistant_id is not None:
            where.append("c.assistant_id = ?")
            params.append(flt.assistant_id)
        if flt.status is not None:
            where.append("c.status = ?")
            params.append(flt.status)
        if flt.number_id is not None:
            where.append("c.number_id = ?")
            params.append(flt.number_id)
        if flt.caller:
            where.append("c.caller_number = ?")
            params.append(flt.caller.strip())
        if flt.since is not None:
            where.append("c.started_at >= ?")
            params.append(flt.since)
        if flt.until is not None:
            where.append("c.started_at < ?")
            params.append(flt.until)
        if cursor is not None:
            # The first term is implied by the second; it is there so that PostgreSQL, like
            # SQLite, starts the index scan at the cursor instead of filtering up to it.
            where.append("c.started_at <= ?"
                         " AND (c.started_at < ? OR (c.started_at = ? AND c.id < ?))")
            params.extend([cursor.started_at, cursor.started_at, cursor.started_at, cursor.id])
        if flt.text:
            matching, query = transcript_search(self._db.engine, flt.text)
            # A call whose transcript is restricted (callwright.privacy.call_restrictions) is
            # never found by its words.
            where.append(f"c.id IN (SELECT t.call_id FROM call_turns t WHERE t.id IN ({matching})"
                         " AND t.call_id NOT IN (SELECT r.call_id FROM call_restrictions r"
                         " WHERE r.transcript != 0))")
            params.extend(query)
        sql = (
            f"SELECT {_SUMMARY_COLUMNS} FROM calls c"
            " LEFT JOIN assistants a ON a.id = c.assistant_id"
            f" WHERE {' AND '.join(where)}"
            " ORDER BY c.started_at DESC, c.id DESC LIMIT ?"
        )
        params.append(limit + 1)
        rows = await self._db.fetch_all(sql, params)
        calls = [_summary(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = calls[-1]
            next_cursor = Cursor(last.started_at, last.id).encode()
        return CallPage(calls, next_cursor)

    async def find_call(self, org_id: int, uid: str) -> dict[str, Any] | None:
        """The call row (with assistant name and number) if it belongs to ``org_id``."""
        row = await self._db.fetch_one(
            "SELECT c.*, a.name AS assistant_name, n.number AS number"
            " FROM calls c LEFT JOIN assistants a ON a.id = c.assistant_id"
            " LEFT JOIN numbers n ON n.id = c.number_id"
            " WHERE c.uid = ? AND c.org_id = ?",
            (uid, org_id),
        )
        return None if row is None else dict(row)

    async def uid_for_channel(self, org_id: int, channel_id: str) -> str | None:
        """The uid of the latest call of ``org_id`` on the PBX channel ``channel_id``."""
        value = await self._db.fetch_value(
            "SELECT uid FROM calls WHERE channel_id = ? AND org_id = ? ORDER BY id DESC"
            " LIMIT 1", (channel_id, org_id))
        return None if value is None else str(value)

    async def call_detail(self, org_id: int, uid: str) -> CallDetail | None:
        call = await self.find_call(org_id, uid)
        if call is None:
            return None
        call_id = call["id"]
        turns = await self._db.fetch_all(
            "SELECT seq, speaker, text, started_at, ended_at, interrupted, stt_ms, dialog_ms,"
            " tts_ms, first_frame_ms, confidence, meta FROM call_turns WHERE call_id = ?"
            " ORDER BY seq",
            (call_id,),
        )
        events = await self._db.fetch_all(
            "SELECT at, kind, detail FROM call_events WHERE call_id = ? ORDER BY id", (call_id,)
        )
        notes = await self._db.fetch_all(
            "SELECT n.id, n.body, n.created_at, n.user_id, u.email AS author"
            " FROM call_notes n LEFT JOIN users u ON u.id = n.user_id"
            " WHERE n.call_id = ? ORDER BY n.id",
            (call_id,),
        )
        return CallDetail(
            call=call,
            turns=[_with_json(dict(t), "meta") for t in turns],
            events=[_with_json(dict(e), "detail") for e in events],
            notes=[dict(n) for n in notes],
        )

    async def add_note(self, org_id: int, uid: str, user_id: int | None, body: str, at: str) -> int:
        """Add a note to a call of ``org_id``; 0 if the call is not found there."""
        call_id = await self._db.fetch_value(
            "SELECT id FROM calls WHERE uid = ? AND org_id = ?", (uid, org_id)
        )
        if call_id is None:
            return 0
        return await self._db.execute(
            "INSERT INTO call_notes (call_id, user_id, body, created_at) VALUES (?, ?, ?, ?)",
            (call_id, user_id, body, at),
        )

    # -- dashboard ------------------------------------------------------------------------------

    async def in_progress(self, org_id: int, limit: int = 50) -> list[CallSummary]:
        page = await self.list_calls(org_id, CallFilter(status="in_progress"), limit=limit)
        return page.calls

    async def status_counts_since(self, org_id: int, since: str) -> dict[str, int]:
        """Calls per status started at or after ``since``: one index range count per status.

        (A plain ``GROUP BY status`` tempts the planner into walking the whole org by the status
        index: 100+ ms at a million calls. Counting each status's range is a few ms.)
        """
        counts = " UNION ALL ".join(
            "SELECT ? AS status, (SELECT count(*) FROM calls WHERE org_id = ? AND status = ?"
            " AND started_at >= ?) - (SELECT count(*) FROM calls WHERE org_id = ? AND status = ?"
            " AND started_at >= ? AND direction = 'test') AS n"
            for _ in CALL_STATUSES
        )
        params: list[Any] = []
        for status in CALL_STATUSES:  # test calls left out (their own small index, calls_tests)
            params += [status, org_id, status, since, org_id, status, since]
        rows = await self._db.fetch_all(counts, params)
        return {row["status"]: int(row["n"]) for row in rows if row["n"]}

    async def recent_failures(self, org_id: int, since: str, limit: int = 10) -> list[CallSummary]:
        page = await self.list_calls(org_id, CallFilter(status="failed", since=since), limit=limit)
        return page.calls


def _with_json(row: dict[str, Any], key: str) -> dict[str, Any]:
    try:
        row[key] = json.loads(row[key] or "{}")
    except ValueError:
        row[key] = {"unparsed": row[key]}
    return row
