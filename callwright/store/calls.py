"""Calls, their turns and their event timeline: what the call path writes as a call happens.

Each write method is one short statement (or one short transaction) on the store's single writer,
so the call path can await it between frames without stalling. Reads with ``org_id`` are scoped
to that org (admin code must pass it); without it they serve the call path, which owns the call.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from callwright.errors import NotFound, StoreError
from callwright.store.assistants import decode_json
from callwright.store.clock import ms_between, utc_now_iso
from callwright.store.db import Database
from callwright.store.engine import Row
from callwright.store.turns import SPEAKERS, TURN_COLUMNS, NewTurn, Turn, turn_from_row

FINAL_STATUSES = ("completed", "failed", "transferred", "rejected", "abandoned")
#: ``test``: a test call from the admin's browser panel (migration 0039), left out of reports.
DIRECTIONS = ("inbound", "outbound", "test")
TEST_DIRECTION = "test"
_CALL_COLUMNS = (
    "id, uid, org_id, assistant_id, number_id, dialed, caller_number, caller_name, direction,"
    " channel_id, started_at, answered_at, ended_at, duration_ms, status, end_reason,"
    " recording_path, recording_key_id, slots, legal_hold, recording_declined, node_id, pbx,"
    " recording_node"
)


@dataclass(frozen=True, slots=True)
class Call:
    id: int
    uid: str
    org_id: int | None
    assistant_id: int | None
    number_id: int | None
    dialed: str
    caller_number: str
    caller_name: str
    direction: str
    channel_id: str
    started_at: str
    answered_at: str | None
    ended_at: str | None
    duration_ms: int | None
    status: str
    end_reason: str
    recording_path: str | None
    recording_key_id: str | None
    slots: dict[str, Any]
    legal_hold: bool
    #: The caller refused the recording during the call (migration 0019): none is kept.
    recording_declined: bool = False
    #: The call node that took the call and the PBX it came from (migration 0028; '' before).
    node_id: str = ""
    pbx: str = ""
    #: The node that wrote the recording (on the path the nodes share), None: no recording.
    recording_node: str | None = None


@dataclass(frozen=True, slots=True)
class CallOrigin:
    """Where the calls a repository creates are taken: this node and one of its PBXs."""

    node_id: str
    pbx: str


@dataclass(frozen=True, slots=True)
class CallEvent:
    id: int
    call_id: int
    at: str
    kind: str
    detail: dict[str, Any]


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)

def new_call_uid() -> str:
    """A fresh random call uid (16 URL-safe characters)."""
    return secrets.token_urlsafe(12)



def call_from_row(row: Row) -> Call:
    return Call(
        id=int(row["id"]), uid=str(row["uid"]), org_id=_opt_int(row["org_id"]),
        assistant_id=_opt_int(row["assistant_id"]), number_id=_opt_int(row["number_id"]),
        dialed=str(row["dialed"]), caller_number=str(row["caller_number"]),
        caller_name=str(row["caller_name"]), direction=str(row["direction"]),
        channel_id=str(row["channel_id"]), started_at=str(row["started_at"]),
        answered_at=row["answered_at"], ended_at=row["ended_at"],
        duration_ms=_opt_int(row["duration_ms"]), status=str(row["status"]),
        end_reason=str(row["end_reason"]), recording_path=row["recording_path"],
        recording_key_id=row["recording_key_id"],
        slots=decode_json(row["slots"], dict, "calls.slots"), legal_hold=bool(row["legal_hold"]),
        recording_declined=bool(row["recording_declined"]),
        node_id=str(row["node_id"]), pbx=str(row["pbx"]), recording_node=row["recording_node"],
    )


def _dumps(value: dict[str, Any], what: str) -> str:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a dict, got {type(value).__name__}")
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except ValueError as exc:
        raise ValueError(f"{what} is not JSON-serialisable: {exc}") from exc


class CallRepository:
    """``origin``: the node and PBX written on the calls it creates and recordings it notes
    ('' for both when None: one node, one PBX, as before issue 13)."""

    def __init__(
        self, db: Database, now: Callable[[], str] = utc_now_iso, *,
        origin: CallOrigin | None = None,
    ) -> None:
        self._db = db
        self._now = now
        self.origin = origin

    # -- writes (the call path) -------------------------------------------------------------------

    async def create_call(
        self,
        org_id: int | None,
        assistant_id: int | None,
        number_id: int | None,
        dialed: str,
        caller_number: str,
        caller_name: str,
        channel_id: str,
        direction: str = "inbound",
        *,
        uid: str | None = None,
    ) -> Call:
        """Insert an in-progress call started now, with ``uid`` (:func:`new_call_uid` when not
        given: the call path may name a call before its row is written)."""
        if direction not in DIRECTIONS:
            raise ValueError(f"call direction must be one of {', '.join(DIRECTIONS)},"
                             f" got {direction!r}")
        uid = uid if uid is not None else new_call_uid()
        started_at = self._now()
        origin = self.origin or CallOrigin("", "")
        call_id = await self._db.execute(
            "INSERT INTO calls (uid, org_id, assistant_id, number_id, dialed, caller_number,"
            " caller_name, direction, channel_id, started_at, node_id, pbx)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (uid, org_id, assistant_id, number_id, dialed, caller_number, caller_name, direction,
             channel_id, started_at, origin.node_id, origin.pbx),
        )
        return Call(
            id=call_id, uid=uid, org_id=org_id, assistant_id=assistant_id, number_id=number_id,
            dialed=dialed, caller_number=caller_number, caller_name=caller_name,
            direction=direction, channel_id=channel_id, started_at=started_at, answered_at=None,
            ended_at=None, duration_ms=None, status="in_progress", end_reason="",
            recording_path=None, recording_key_id=None, slots={}, legal_hold=False,
            node_id=origin.node_id, pbx=origin.pbx,
        )

    async def start_call(
        self,
        org_id: int | None,
        assistant_id: int | None,
        number_id: int | None,
        dialed: str,
        caller_number: str,
        caller_name: str,
        channel_id: str,
        direction: str = "inbound",
    ) -> Call:
        """A new call for a call path that writes all of it through this repository: here
        :meth:`create_call`; the call path's queued repository
        (:class:`~callwright.store.queued_calls.QueuedCallRepository`) does not let a locked
        store hold it up (a provisional id until its row is written)."""
        return await self.create_call(org_id, assistant_id, number_id, dialed, caller_number,
                                      caller_name, channel_id, direction)

    async def mark_answered(self, call_id: int) -> bool:
        """Set ``answered_at`` to now, once; False if already set (or no such call)."""
        changed = await self._db.execute_rowcount(
            "UPDATE calls SET answered_at = ? WHERE id = ? AND answered_at IS NULL",
            (self._now(), call_id),
        )
        return changed > 0

    async def add_event(
        self, call_id: int, kind: str, detail: dict[str, Any] | None = None
    ) -> int:
        """Append an event to the call's timeline; return its id."""
        return await self._db.execute(
            "INSERT INTO call_events (call_id, at, kind, detail) VALUES (?, ?, ?, ?)",
            (call_id, self._now(), kind, _dumps(detail or {}, "event detail")),
        )

    async def add_turn(self, call_id: int, turn: NewTurn) -> int:
        """Record one turn of the call; return its id."""
        if turn.speaker not in SPEAKERS:
            raise ValueError(f"turn speaker must be caller or assistant, got {turn.speaker!r}")
        return await self._db.execute(
            "INSERT INTO call_turns (call_id, seq, speaker, text, started_at, ended_at,"
            " interrupted, stt_ms, dialog_ms, tts_ms, first_frame_ms, confidence, meta)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (call_id, turn.seq, turn.speaker, turn.text, turn.started_at, turn.ended_at,
             int(turn.interrupted), turn.stt_ms, turn.dialog_ms, turn.tts_ms,
             turn.first_frame_ms, turn.confidence, _dumps(turn.meta or {}, "turn meta")),
        )

    async def update_turn_text(self, turn_id: int, text: str, interrupted: bool = True) -> bool:
        """Replace a turn's text (barge-in: what the caller actually heard)."""
        changed = await self._db.execute_rowcount(
            "UPDATE call_turns SET text = ?, interrupted = ? WHERE id = ?",
            (text, int(interrupted), turn_id),
        )
        return changed > 0

    async def set_recording(self, call_id: int, path: str, key_id: str | None) -> bool:
        """Note where the recording is, which key encrypts it (None: not encrypted) and which
        node writes it (this repository's origin)."""
        node = self.origin.node_id if self.origin is not None else None
        changed = await self._db.execute_rowcount(
            "UPDATE calls SET recording_path = ?, recording_key_id = ?, recording_node = ?"
            " WHERE id = ?",
            (path, key_id, node, call_id),
        )
        return changed > 0

    async def decline_recording(self, call_id: int) -> bool:
        """The caller refused the recording: marked, and no recording noted on the row."""
        changed = await self._db.execute_rowcount(
            "UPDATE calls SET recording_declined = 1, recording_path = NULL,"
            " recording_key_id = NULL WHERE id = ?", (call_id,),
        )
        return changed > 0

    async def set_slots(self, call_id: int, slots: dict[str, Any]) -> bool:
        """Replace the slots the dialog collected."""
        changed = await self._db.execute_rowcount(
            "UPDATE calls SET slots = ? WHERE id = ?", (_dumps(slots, "slots"), call_id)
        )
        return changed > 0

    async def close_call(self, call_id: int, status: str, end_reason: str) -> bool:
        """End an in-progress call: status, reason, ``ended_at`` now, ``duration_ms``.

        Idempotent: closing a call that is already closed changes nothing and returns False.
        Raises NotFound for an unknown call and ValueError for a non-final status.
        """
        if status not in FINAL_STATUSES:
            raise ValueError(f"a closed call's status is one of {', '.join(FINAL_STATUSES)}, "
                             f"got {status!r}")
        ended_at = self._now()
        try:
            async with self._db.transaction() as conn:
                async with conn.execute(
                    "SELECT started_at, status FROM calls WHERE id = ?", (call_id,)
                ) as cur:
                    row = await cur.fetchone()
                if row is None:
                    raise NotFound(f"call {call_id} not found")
                if row["status"] != "in_progress":
                    return False
                duration = max(0, ms_between(str(row["started_at"]), ended_at))
                await conn.execute(
                    "UPDATE calls SET status = ?, end_reason = ?, ended_at = ?, duration_ms = ?"
                    " WHERE id = ?",
                    (status, end_reason, ended_at, duration, call_id),
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot close call {call_id}: {exc}") from exc
        return True

    async def reopen_call(self, call_id: int) -> bool:
        """Put a call closed by a restart back in progress (the service found its caller still in
        Asterisk and picks the call up again): status, reason, end time and duration cleared.
        False when the call is in progress already (or unknown). With an origin, the call is
        this node's from now on (a node taking over a lost node's PBX resumes its calls)."""
        sql, params = "", tuple[object, ...]((call_id,))
        if self.origin is not None:
            sql, params = ", node_id = ?, pbx = ?", (self.origin.node_id, self.origin.pbx, call_id)
        changed = await self._db.execute_rowcount(
            "UPDATE calls SET status = 'in_progress', end_reason = '', ended_at = NULL,"
            f" duration_ms = NULL{sql} WHERE id = ? AND status != 'in_progress'",
            params,
        )
        return changed > 0

    # -- reads ------------------------------------------------------------------------------------

    async def get(self, call_id: int, *, org_id: int | None = None) -> Call:
        sql, params = _scoped(f"SELECT {_CALL_COLUMNS} FROM calls WHERE id = ?", call_id, org_id)
        row = await self._db.fetch_one(sql, params)
        if row is None:
            raise NotFound(f"call {call_id} not found")
        return call_from_row(row)

    async def get_by_uid(self, uid: str, *, org_id: int | None = None) -> Call:
        sql, params = _scoped(f"SELECT {_CALL_COLUMNS} FROM calls WHERE uid = ?", uid, org_id)
        row = await self._db.fetch_one(sql, params)
        if row is None:
            raise NotFound(f"call {uid!r} not found")
        return call_from_row(row)

    async def find_by_channel(self, channel_id: str) -> Call | None:
        """The newest call on Asterisk channel ``channel_id`` (the call path, after a restart);
        with an origin, on its PBX only (two Asterisk servers may use the same channel ids),
        rows from before issue 13 (no PBX) included."""
        sql, params = "SELECT {} FROM calls WHERE channel_id = ?", tuple[str, ...]((channel_id,))
        if self.origin is not None:
            sql = "SELECT {} FROM calls WHERE channel_id = ? AND pbx IN (?, '')"
            params = (channel_id, self.origin.pbx)
        row = await self._db.fetch_one(
            sql.format(_CALL_COLUMNS) + " ORDER BY id DESC LIMIT 1", params,
        )
        return None if row is None else call_from_row(row)

    async def turns(self, call_id: int, *, org_id: int | None = None) -> list[Turn]:
        """The call's turns in ``seq`` order (empty for another org's call)."""
        columns = ", ".join(f"t.{name.strip()}" for name in TURN_COLUMNS.split(","))
        sql = f"SELECT {columns} FROM call_turns t JOIN calls c ON c.id = t.call_id WHERE c.id = ?"
        sql, params = _scoped(sql, call_id, org_id, "c.")
        rows = await self._db.fetch_all(sql + " ORDER BY t.seq, t.id", params)
        return [turn_from_row(row) for row in rows]

    async def events(self, call_id: int, *, org_id: int | None = None) -> list[CallEvent]:
        """The call's timeline in the order it was written (empty for another org's call)."""
        sql = (
            "SELECT e.id, e.call_id, e.at, e.kind, e.detail FROM call_events e"
            " JOIN calls c ON c.id = e.call_id WHERE c.id = ?"
        )
        sql, params = _scoped(sql, call_id, org_id, "c.")
        rows = await self._db.fetch_all(sql + " ORDER BY e.id", params)
        return [
            CallEvent(id=int(r["id"]), call_id=int(r["call_id"]), at=str(r["at"]),
                      kind=str(r["kind"]), detail=decode_json(r["detail"], dict, "events.detail"))
            for r in rows
        ]

    async def list_recent(self, org_id: int, limit: int = 50) -> list[Call]:
        """The org's newest calls first."""
        rows = await self._db.fetch_all(
            f"SELECT {_CALL_COLUMNS} FROM calls WHERE org_id = ?"
            " ORDER BY started_at DESC, id DESC LIMIT ?",
            (org_id, max(0, limit)),
        )
        return [call_from_row(row) for row in rows]

    async def list_recent_all_orgs(self, limit: int = 50) -> list[Call]:
        """Newest calls of every org, and calls with no org (CLI and demo only; never admin)."""
        rows = await self._db.fetch_all(
            f"SELECT {_CALL_COLUMNS} FROM calls ORDER BY started_at DESC, id DESC LIMIT ?",
            (max(0, limit),),
        )
        return [call_from_row(row) for row in rows]

    async def list_in_progress(self) -> list[Call]:
        """Every call still in progress, any org (reconciliation with the PBX's channels)."""
        rows = await self._db.fetch_all(
            f"SELECT {_CALL_COLUMNS} FROM calls WHERE status = 'in_progress' ORDER BY id"
        )
        return [call_from_row(row) for row in rows]


def _scoped(
    sql: str, key: object, org_id: int | None, prefix: str = ""
) -> tuple[str, tuple[object, ...]]:
    if org_id is None:
        return sql, (key,)
    return f"{sql} AND {prefix}org_id = ?", (key, org_id)
