"""A caller's right of access and right to erasure, within one org.

:func:`export_caller` writes a ZIP (:mod:`callwright.privacy.export_archive`: ``manifest.json``,
``calls.json`` with every call of that caller in that org: metadata, turns, events, notes, and the
caller's restrictions; ``turns.jsonl``; ``recordings/<uid>.wav``, decrypted when they were
encrypted at rest). :func:`export_call` and :func:`erase_call` do the same for one call.

:func:`erase_caller` deletes the caller's recordings, turns, events and notes, and anonymises the
call rows (``caller_number`` becomes ``"erased"``, the name, slots, channel and recording reference
are cleared; for outbound calls the dialed number too), except calls on legal hold, which are
reported and left untouched. The caller's restriction row is re-keyed to a pseudonym, marked
erased and processing-restricted (:mod:`callwright.privacy.restrictions`). So that the number
does not survive in the database file either, the erasure runs with ``PRAGMA secure_delete=ON``
(freed content is overwritten with zeros), rewrites the full-text index of turns (FTS5
``optimize``: deleted turns otherwise linger in its older segments), then checkpoints and truncates
the WAL. The FTS rewrite costs time proportional to the whole index; erasures are rare. On
PostgreSQL those three steps are SQLite's alone: the deleted rows' old versions are left to
PostgreSQL's vacuum (autovacuum, or a ``VACUUM`` the operator runs).

A caller is matched by ``caller_number`` on inbound calls and by the dialed number on outbound
ones. Both functions write the audit log; its entries name the caller by pseudonym only.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callwright.errors import CallwrightError, NotFound
from callwright.privacy.export_archive import write_export
from callwright.privacy.keyring import Keyring
from callwright.privacy.recording_crypto import remove_recording
from callwright.privacy.restrictions import CallerRestrictionRepository
from callwright.privacy.secrets import MasterKey
from callwright.store.audit import AuditRepo
from callwright.store.clock import utc_now_iso
from callwright.store.db import Database
from callwright.store.engine import Connection
from callwright.store.legal_holds import HELD_SQL
from callwright.store.orgs import OrgRepository

log = logging.getLogger(__name__)

ERASED = "erased"
EXPORT_FORMAT = "callwright-caller-export"
_MATCH = "org_id = ? AND (caller_number = ? OR (direction = 'outbound' AND dialed = ?))"
_MATCH_CALL = "org_id = ? AND uid = ?"


@dataclass(frozen=True, slots=True)
class Subject:
    """Whose data: every call of a caller number (``kind="caller"``) or one call (``"call"``)."""

    kind: str
    value: str

    @classmethod
    def caller(cls, number: str) -> Subject:
        return cls("caller", _number(number))

    @classmethod
    def call(cls, uid: str) -> Subject:
        uid = uid.strip()
        if not uid:
            raise ValueError("a call uid is required")
        return cls("call", uid)

    def where(self, org_id: int) -> tuple[str, tuple[object, ...]]:
        if self.kind == "call":
            return _MATCH_CALL, (org_id, self.value)
        return _MATCH, (org_id, self.value, self.value)


class ErasureIncomplete(CallwrightError):
    """A recording could not be deleted; the erasure was rolled back and can be retried."""


@dataclass(frozen=True, slots=True)
class ErasureReport:
    org_id: int
    pseudonym: str  # how the caller is named from now on (restrictions, audit log); "" for a call
    calls_anonymised: int
    recordings_deleted: int
    turns_deleted: int
    events_deleted: int
    notes_deleted: int
    held_calls: tuple[str, ...]  # uids of calls on legal hold: untouched
    wal_truncated: bool  # False: a reader kept old pages in the WAL (retry the checkpoint)


def _number(caller_number: str) -> str:
    number = caller_number.strip()
    if not number:
        raise ValueError("a caller number is required")
    return number


def stored_path(stored: str, recordings_dir: Path | None) -> Path:
    """A recording's file: ``stored`` as it is, or under ``recordings_dir`` when relative."""
    path = Path(stored)
    if recordings_dir is not None and not path.is_absolute():
        return recordings_dir / path
    return path


# -- export --------------------------------------------------------------------------------------


async def export_caller(
    db: Database,
    org_id: int,
    caller_number: str,
    out_dir: Path,
    master_key: MasterKey,
    *,
    actor: str = "cli",
    user_id: int | None = None,
    ip: str = "",
) -> Path:
    """Write the caller's data in ``org_id`` to a new ZIP (mode 0600) in ``out_dir``."""
    return await export_subject(db, org_id, Subject.caller(caller_number), out_dir, master_key,
                                actor=actor, user_id=user_id, ip=ip)


async def export_call(
    db: Database, org_id: int, uid: str, out_dir: Path, master_key: MasterKey, *,
    actor: str = "cli", user_id: int | None = None, ip: str = "",
) -> Path:
    """Write one call of ``org_id`` to a new ZIP; NotFound if the org has no such call."""
    subject = Subject.call(uid)
    if await db.fetch_value("SELECT 1 FROM calls WHERE org_id = ? AND uid = ?",
                            (org_id, subject.value)) is None:
        raise NotFound(f"call {subject.value} not found")
    return await export_subject(db, org_id, subject, out_dir, master_key,
                                actor=actor, user_id=user_id, ip=ip)


async def export_subject(
    db: Database, org_id: int, subject: Subject, out_dir: Path, master_key: MasterKey, *,
    actor: str = "cli", user_id: int | None = None, ip: str = "",
    recordings_dir: Path | None = None,
) -> Path:
    """The export of :func:`export_caller` or :func:`export_call`, by :class:`Subject`.

    A recording path stored relative is taken relative to ``recordings_dir`` when given."""
    org = await OrgRepository(db).get(org_id)
    restrictions = CallerRestrictionRepository(db, master_key)
    restriction = (await restrictions.get(org_id, subject.value)
                   if subject.kind == "caller" else None)
    where, params = subject.where(org_id)
    rows = await db.fetch_all(f"SELECT * FROM calls WHERE {where} ORDER BY started_at, id", params)
    calls: list[dict[str, Any]] = []
    recordings: dict[str, Path] = {}
    for row in rows:
        call = _decoded(dict(row), "slots")
        call_id = call["id"]
        call["turns"] = [_decoded(dict(r), "meta") for r in await db.fetch_all(
            "SELECT seq, speaker, text, started_at, ended_at, interrupted, stt_ms, dialog_ms,"
            " tts_ms, first_frame_ms, confidence, meta FROM call_turns WHERE call_id = ?"
            " ORDER BY seq, id", (call_id,))]
        call["events"] = [_decoded(dict(r), "detail") for r in await db.fetch_all(
            "SELECT at, kind, detail FROM call_events WHERE call_id = ? ORDER BY id", (call_id,))]
        call["notes"] = [dict(r) for r in await db.fetch_all(
            "SELECT user_id, body, created_at FROM call_notes WHERE call_id = ? ORDER BY id",
            (call_id,))]
        recording_path = call.pop("recording_path")
        call.pop("recording_key_id")  # the server's file layout and keys are not the caller's
        if recording_path:
            recordings[call["uid"]] = stored_path(recording_path, recordings_dir)
        calls.append(call)
    document: dict[str, Any] = {
        "format": EXPORT_FORMAT, "version": 1, "exported_at": utc_now_iso(),
        "org": {"id": org.id, "slug": org.slug, "name": org.name},
        "subject": {"kind": subject.kind, "value": subject.value},
        "caller_number": subject.value if subject.kind == "caller" else None,
        "restrictions": None if restriction is None else {
            "do_not_record": restriction.do_not_record,
            "processing_restricted": restriction.processing_restricted,
            "erased_at": restriction.erased_at,
        },
        "calls": calls,
    }
    name = f"callwright-export-{org.slug}-{document['exported_at'].replace(':', '')}.zip"
    path = await asyncio.to_thread(
        write_export, Path(out_dir), name, document, recordings,
        await Keyring(db, master_key).resolver(),
    )
    await AuditRepo(db).append(
        org_id=org_id, user_id=user_id, actor=actor,
        action="caller.export" if subject.kind == "caller" else "call.export",
        target=await _target(restrictions, org_id, subject),
        detail={"calls": len(calls), "recordings": len(recordings), "file": path.name}, ip=ip,
    )
    return path


async def _target(restrictions: CallerRestrictionRepository, org_id: int,
                  subject: Subject) -> str:
    """How the audit log names the subject: a caller by pseudonym only, a call by its uid."""
    if subject.kind == "call":
        return f"call:{subject.value}"
    return f"caller:{await restrictions.pseudonym(org_id, subject.value)}"


def _decoded(row: dict[str, Any], key: str) -> dict[str, Any]:
    try:
        row[key] = json.loads(row[key])
    except (TypeError, ValueError):
        pass  # exported as stored
    return row


# -- erasure -------------------------------------------------------------------------------------


async def erase_caller(
    db: Database,
    org_id: int,
    caller_number: str,
    master_key: MasterKey,
    *,
    actor: str = "cli",
    user_id: int | None = None,
    ip: str = "",
) -> ErasureReport:
    """Erase the caller's data in ``org_id`` (see the module's docstring). Idempotent.

    Raises NotFound for an unknown org and :class:`ErasureIncomplete` (nothing in the store
    changed) if a recording file exists but cannot be deleted.
    """
    return await erase_subject(db, org_id, Subject.caller(caller_number), master_key,
                               actor=actor, user_id=user_id, ip=ip)


async def erase_call(
    db: Database, org_id: int, uid: str, master_key: MasterKey, *,
    actor: str = "cli", user_id: int | None = None, ip: str = "",
) -> ErasureReport:
    """Erase one call of ``org_id`` as :func:`erase_caller` erases each of a caller's calls.

    The caller's restrictions are left as they are (their other calls are not erased);
    ``pseudonym`` in the report is empty. NotFound if the org has no such call.
    """
    subject = Subject.call(uid)
    if await db.fetch_value("SELECT 1 FROM calls WHERE org_id = ? AND uid = ?",
                            (org_id, subject.value)) is None:
        raise NotFound(f"call {subject.value} not found")
    return await erase_subject(db, org_id, subject, master_key,
                               actor=actor, user_id=user_id, ip=ip)


async def erase_subject(
    db: Database, org_id: int, subject: Subject, master_key: MasterKey, *,
    actor: str = "cli", user_id: int | None = None, ip: str = "",
    recordings_dir: Path | None = None,
) -> ErasureReport:
    """The erasure of :func:`erase_caller` or :func:`erase_call`, by :class:`Subject`."""
    if await db.fetch_value("SELECT 1 FROM orgs WHERE id = ?", (org_id,)) is None:
        raise NotFound(f"org {org_id} not found")
    restrictions = CallerRestrictionRepository(db, master_key)
    by_caller = subject.kind == "caller"
    pseudonym = await restrictions.pseudonym(org_id, subject.value) if by_caller else ""
    previous_secure_delete: int | None = None
    try:
        async with db.transaction() as conn:
            if db.engine == "sqlite":
                previous_secure_delete = await _pragma(conn, "secure_delete")
                await conn.execute("PRAGMA secure_delete=ON")
            counts, held = await _erase_rows(conn, *subject.where(org_id),
                                             recordings_dir=recordings_dir)
            if by_caller:
                await restrictions.record_erasure(
                    conn, org_id, subject.value, pseudonym, utc_now_iso()
                )
        if counts["turns"] and db.engine == "sqlite":
            async with db.transaction() as conn:
                await conn.execute(
                    "INSERT INTO call_turns_fts(call_turns_fts) VALUES ('optimize')"
                )
        await AuditRepo(db).append(
            org_id=org_id, user_id=user_id, actor=actor,
            action="caller.erase" if by_caller else "call.erase",
            target=f"caller:{pseudonym}" if by_caller else f"call:{subject.value}",
            detail={"calls_anonymised": counts["calls"], "recordings_deleted": counts["files"],
                    "turns_deleted": counts["turns"], "events_deleted": counts["events"],
                    "notes_deleted": counts["notes"], "held_calls": list(held)},
            ip=ip,
        )
        if db.engine == "sqlite":
            await db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        if previous_secure_delete is not None:
            await db.execute(f"PRAGMA secure_delete={int(previous_secure_delete)}")
    truncated = db.path is None or await asyncio.to_thread(_wal_is_empty, db.path)
    if not truncated:
        log.warning("erasure: the WAL of %s could not be truncated (a reader was busy); "
                    "old pages stay in it until the next checkpoint", db.path)
    return ErasureReport(
        org_id=org_id, pseudonym=pseudonym, calls_anonymised=counts["calls"],
        recordings_deleted=counts["files"], turns_deleted=counts["turns"],
        events_deleted=counts["events"], notes_deleted=counts["notes"], held_calls=held,
        wal_truncated=truncated,
    )


async def _erase_rows(
    conn: Connection, where: str, params: tuple[object, ...], *,
    recordings_dir: Path | None = None,
) -> tuple[dict[str, int], tuple[str, ...]]:
    async with conn.execute(
        f"SELECT c.id, c.uid, c.recording_path, {HELD_SQL} AS legal_hold FROM calls c"
        f" WHERE {where}", params
    ) as cur:
        rows = list(await cur.fetchall())
    held = tuple(str(r["uid"]) for r in rows if r["legal_hold"])
    targets = [int(r["id"]) for r in rows if not r["legal_hold"]]
    paths = [str(stored_path(r["recording_path"], recordings_dir)) for r in rows
             if not r["legal_hold"] and r["recording_path"]]
    counts = {"calls": len(targets), "files": 0, "turns": 0, "events": 0, "notes": 0}
    if not targets:
        return counts, held
    counts["files"] = await asyncio.to_thread(_remove_all, paths)
    marks = ",".join("?" * len(targets))
    for table, key in (("call_turns", "turns"), ("call_events", "events"),
                       ("call_notes", "notes")):
        cursor = await conn.execute(
            f"DELETE FROM {table} WHERE call_id IN ({marks})", tuple(targets)
        )
        counts[key] = cursor.rowcount
        await cursor.close()
    await conn.execute(
        "UPDATE calls SET caller_number = ?, caller_name = '', slots = '{}', channel_id = '',"
        " recording_path = NULL, recording_key_id = NULL,"
        f" dialed = CASE WHEN direction = 'outbound' THEN ? ELSE dialed END"
        f" WHERE id IN ({marks})",
        (ERASED, ERASED, *targets),
    )
    return counts, held


def _remove_all(paths: list[str]) -> int:
    removed = 0
    for path in paths:
        try:
            removed += remove_recording(path)
        except OSError as exc:
            raise ErasureIncomplete(
                f"cannot delete recording {path}: {exc}; nothing else was changed, "
                "fix the file's permissions and erase again"
            ) from exc
    return removed


async def _pragma(conn: Connection, name: str) -> int:
    async with conn.execute(f"PRAGMA {name}") as cur:
        row = await cur.fetchone()
    return 0 if row is None else int(row[0])


def _wal_is_empty(db_path: Path) -> bool:
    wal = db_path.with_name(db_path.name + "-wal")
    try:
        return wal.stat().st_size == 0
    except FileNotFoundError:
        return True
