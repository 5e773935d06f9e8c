"""Outbound calls asked for and what became of them (table ``outbound_calls``, migration 0030).

A row is queued by whoever asks for the call (CLI, API, admin, the campaign dialler) and claimed
by one call service (:meth:`OutboundCallRepository.claim`: ``queued`` -> ``dialing`` in one
conditional UPDATE per row, so two nodes never place the same call). The service then records
the calls row it made, the answer, and the end with the outcome
(:mod:`callwright.outbound.dial_result`).
A row a dead node left ``dialing`` or ``answered`` is ended as ``failed`` / ``interrupted`` by
:meth:`interrupt_left_over` and never placed again: the callee may have been called already.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from callwright.errors import NotFound
from callwright.outbound.dial_result import DialResult
from callwright.outbound.request import OutboundRequest
from callwright.store.clock import utc_now_iso
from callwright.store.db import Database, Row

ON_MACHINE = ("hangup", "leave_message", "continue")
MAX_MACHINE_MESSAGE = 2000
_COLUMNS = (
    "id, uid, org_id, assistant_id, number_id, to_number, caller_id, endpoint, variables,"
    " status, outcome, cause, cause_text, ring_ms, amd_status, amd_cause, call_id, campaign_id,"
    " contact_id, node, created_at, claimed_at, ended_at"
)


@dataclass(frozen=True, slots=True)
class OutboundCall:
    id: int
    uid: str
    org_id: int
    assistant_id: int
    number_id: int | None
    to_number: str
    caller_id: str
    endpoint: str
    variables: dict[str, str]
    status: str
    outcome: str
    cause: int | None
    cause_text: str
    ring_ms: int | None
    amd_status: str
    amd_cause: str
    call_id: int | None
    campaign_id: int | None
    contact_id: int | None
    node: str
    created_at: str
    claimed_at: str | None
    ended_at: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "uid": self.uid, "assistant_id": self.assistant_id, "to": self.to_number,
            "caller_id": self.caller_id, "endpoint": self.endpoint,
            "variables": self.variables, "status": self.status, "outcome": self.outcome,
            "cause": self.cause, "cause_text": self.cause_text, "ring_ms": self.ring_ms,
            "amd_status": self.amd_status, "amd_cause": self.amd_cause,
            "campaign_id": self.campaign_id, "created_at": self.created_at,
            "ended_at": self.ended_at,
        }


@dataclass(frozen=True, slots=True)
class AssistantOutbound:
    """Per assistant: what an answering machine gets, and the message left on one."""

    assistant_id: int
    on_machine: str = "hangup"
    machine_message: str = ""


def _opt(value: Any) -> int | None:
    return None if value is None else int(value)


def _row(row: Row) -> OutboundCall:
    variables = json.loads(str(row["variables"]) or "{}")
    return OutboundCall(
        id=int(row["id"]), uid=str(row["uid"]), org_id=int(row["org_id"]),
        assistant_id=int(row["assistant_id"]), number_id=_opt(row["number_id"]),
        to_number=str(row["to_number"]), caller_id=str(row["caller_id"]),
        endpoint=str(row["endpoint"]),
        variables={str(k): str(v) for k, v in variables.items()}
        if isinstance(variables, dict) else {},
        status=str(row["status"]), outcome=str(row["outcome"]), cause=_opt(row["cause"]),
        cause_text=str(row["cause_text"]), ring_ms=_opt(row["ring_ms"]),
        amd_status=str(row["amd_status"]), amd_cause=str(row["amd_cause"]),
        call_id=_opt(row["call_id"]), campaign_id=_opt(row["campaign_id"]),
        contact_id=_opt(row["contact_id"]), node=str(row["node"]),
        created_at=str(row["created_at"]),
        claimed_at=None if row["claimed_at"] is None else str(row["claimed_at"]),
        ended_at=None if row["ended_at"] is None else str(row["ended_at"]),
    )


class OutboundCallRepository:
    def __init__(self, db: Database, now: Callable[[], str] = utc_now_iso) -> None:
        self._db = db
        self._now = now

    async def enqueue(
        self, org_id: int, request: OutboundRequest, *, number_id: int | None = None,
        campaign_id: int | None = None, contact_id: int | None = None,
    ) -> OutboundCall:
        uid = secrets.token_hex(8)
        row_id = await self._db.execute(
            "INSERT INTO outbound_calls (uid, org_id, assistant_id, number_id, to_number,"
            " caller_id, endpoint, variables, campaign_id, contact_id, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (uid, org_id, request.assistant_id, number_id, request.to_number, request.caller_id,
             request.endpoint, json.dumps(request.variables), campaign_id, contact_id,
             self._now()),
        )
        return await self.get(row_id)

    async def get(self, row_id: int) -> OutboundCall:
        row = await self._db.fetch_one(
            f"SELECT {_COLUMNS} FROM outbound_calls WHERE id = ?", (row_id,))
        if row is None:
            raise NotFound(f"outbound call {row_id} not found")
        return _row(row)

    async def get_by_uid(self, uid: str, *, org_id: int | None = None) -> OutboundCall:
        sql = f"SELECT {_COLUMNS} FROM outbound_calls WHERE uid = ?"
        params: tuple[Any, ...] = (uid,)
        if org_id is not None:
            sql += " AND org_id = ?"
            params = (uid, org_id)
        row = await self._db.fetch_one(sql, params)
        if row is None:
            raise NotFound(f"outbound call {uid} not found")
        return _row(row)

    async def list_recent(self, org_id: int, limit: int = 50) -> list[OutboundCall]:
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM outbound_calls WHERE org_id = ? ORDER BY id DESC LIMIT ?",
            (org_id, limit))
        return [_row(r) for r in rows]

    async def for_contact(self, contact_id: int) -> list[OutboundCall]:
        """A campaign contact's attempts, oldest first."""
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM outbound_calls WHERE contact_id = ? ORDER BY id",
            (contact_id,))
        return [_row(r) for r in rows]

    async def claim(self, node: str, limit: int) -> list[OutboundCall]:
        """Up to ``limit`` queued calls, now ``dialing`` by ``node`` (oldest first)."""
        if limit <= 0:
            return []
        rows = await self._db.fetch_all(
            "SELECT id FROM outbound_calls WHERE status = 'queued' ORDER BY id LIMIT ?", (limit,))
        claimed: list[OutboundCall] = []
        for row in rows:
            changed = await self._db.execute_rowcount(
                "UPDATE outbound_calls SET status = 'dialing', node = ?, claimed_at = ?"
                " WHERE id = ? AND status = 'queued'", (node, self._now(), int(row["id"])))
            if changed:
                claimed.append(await self.get(int(row["id"])))
        return claimed

    async def in_flight(self, *, campaign_id: int | None = None) -> int:
        """Calls queued, dialing or answered (a campaign's, when given)."""
        sql = "SELECT COUNT(*) FROM outbound_calls WHERE status != 'ended'"
        params: tuple[Any, ...] = ()
        if campaign_id is not None:
            sql += " AND campaign_id = ?"
            params = (campaign_id,)
        return int(await self._db.fetch_value(sql, params) or 0)

    async def attach_call(self, row_id: int, call_id: int) -> None:
        await self._db.execute_rowcount(
            "UPDATE outbound_calls SET call_id = ? WHERE id = ?", (call_id, row_id))

    async def mark_answered(self, row_id: int, result: DialResult) -> None:
        await self._db.execute_rowcount(
            "UPDATE outbound_calls SET status = 'answered', outcome = ?, ring_ms = ?,"
            " amd_status = ?, amd_cause = ? WHERE id = ? AND status = 'dialing'",
            (result.outcome, result.ring_ms, result.amd_status, result.amd_cause, row_id))

    async def finish(self, row_id: int, result: DialResult) -> bool:
        """The call is over; its outcome as ``result`` says. False if it already was."""
        changed = await self._db.execute_rowcount(
            "UPDATE outbound_calls SET status = 'ended', outcome = ?, cause = ?, cause_text = ?,"
            " ring_ms = ?, amd_status = ?, amd_cause = ?, ended_at = ?"
            " WHERE id = ? AND status != 'ended'",
            (result.outcome, result.cause, result.cause_text, result.ring_ms, result.amd_status,
             result.amd_cause, self._now(), row_id))
        return changed > 0

    async def interrupt_left_over(self, node: str) -> int:
        """Calls ``node`` was placing when it stopped: ended ``failed``/``interrupted``."""
        return await self._db.execute_rowcount(
            "UPDATE outbound_calls SET status = 'ended', outcome = 'failed',"
            " cause_text = 'interrupted', ended_at = ?"
            " WHERE node = ? AND status IN ('dialing', 'answered')", (self._now(), node))

    # -- per assistant ---------------------------------------------------------------------------

    async def assistant_settings(self, assistant_id: int) -> AssistantOutbound:
        row = await self._db.fetch_one(
            "SELECT on_machine, machine_message FROM assistant_outbound WHERE assistant_id = ?",
            (assistant_id,))
        if row is None:
            return AssistantOutbound(assistant_id)
        return AssistantOutbound(assistant_id, str(row["on_machine"]),
                                 str(row["machine_message"]))

    async def set_assistant_settings(self, settings: AssistantOutbound) -> None:
        if settings.on_machine not in ON_MACHINE:
            raise ValueError(f"on_machine must be one of {', '.join(ON_MACHINE)}")
        if len(settings.machine_message) > MAX_MACHINE_MESSAGE:
            raise ValueError(f"the machine message is at most {MAX_MACHINE_MESSAGE} characters")
        await self._db.execute(
            "INSERT INTO assistant_outbound (assistant_id, on_machine, machine_message)"
            " VALUES (?, ?, ?) ON CONFLICT (assistant_id) DO UPDATE SET"
            " on_machine = excluded.on_machine, machine_message = excluded.machine_message",
            (settings.assistant_id, settings.on_machine, settings.machine_message))
