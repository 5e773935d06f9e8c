"""Carrying out data-subject requests (:mod:`callwright.privacy.requests`), within one org.

- **export**: the ZIP of :func:`callwright.privacy.caller_data.export_subject`, kept in the exports
  folder until it is fetched through a one-time link: a random token (only its sha256 is stored)
  valid for ``link_ttl_s``; the first fetch spends it and the file is deleted after it is sent.
  A completed export can be prepared again (fresh data, a new link; the old one stops working).
- **erase**: :func:`callwright.privacy.caller_data.erase_subject`; the report is the result. After
  a caller's erasure the register names them by pseudonym only.
- **rectify**: a transcript turn's text, or the caller's name (on one call, or on every call of
  the caller number). The audit log keeps the old and the new value only as SHA-256 hashes;
  the old text is overwritten in the database file (``secure_delete``, FTS ``optimize``).
- **restrict** / **object**: the caller's number is marked processing-restricted through
  :class:`~callwright.privacy.restrictions.CallerRestrictionRepository` (for a call: that call's
  caller). What the call service does for such a caller is up to it (today: it does not record).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callwright.accounts.audit import Actor, AuditWriter
from callwright.errors import NotFound
from callwright.privacy.caller_data import (
    ERASED,
    ErasureIncomplete,
    Subject,
    erase_subject,
    export_subject,
)
from callwright.privacy.export_archive import MANIFEST
from callwright.privacy.requests import PrivacyRequest, PrivacyRequestRepository, RequestError
from callwright.privacy.restrictions import PSEUDONYM_PREFIX, CallerRestrictionRepository
from callwright.privacy.secrets import MasterKey
from callwright.store.clock import shift_iso, utc_now_iso
from callwright.store.db import Database
from callwright.store.engine import Connection

LINK_TTL_S = 3600
MAX_TEXT = 4000


class LinkGone(RequestError):
    """The download link was used already or has expired (answered 410)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    request: PrivacyRequest
    #: For an export: the one-time link's token (shown once, never stored).
    download_token: str | None = None


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def download_path(request_id: int, token: str) -> str:
    """The link's path (relative to the admin's root, or to ``/api/v1``)."""
    return f"/requests/{request_id}/download/{token}"


class RequestActions:
    def __init__(
        self, db: Database, master_key: MasterKey, exports_dir: Path, audit: AuditWriter, *,
        now: Callable[[], str] = utc_now_iso, link_ttl_s: int = LINK_TTL_S,
        recordings_dir: Path | None = None,
    ) -> None:
        self._db = db
        self._recordings = recordings_dir
        self._key = master_key
        self._exports = exports_dir
        self._audit = audit
        self._now = now
        self._ttl_ms = link_ttl_s * 1000
        self.repo = PrivacyRequestRepository(db, now)
        self._restrictions = CallerRestrictionRepository(db, master_key)

    # -- carrying out -----------------------------------------------------------------------

    async def execute(
        self, org_id: int, request_id: int, actor: Actor, data: dict[str, Any] | None = None
    ) -> Outcome:
        """Carry out an open request (rectify needs ``data``, see :meth:`_rectify`)."""
        request = await self.repo.get(org_id, request_id)
        if not request.is_open:
            raise RequestError(f"this request is already {request.status}")
        if request.subject.startswith(PSEUDONYM_PREFIX):
            raise RequestError("this caller's data was erased: there is nothing left to act on")
        subject = Subject(request.subject_kind, request.subject)
        if subject.kind == "call" and await self._call_id(org_id, subject.value) is None:
            raise RequestError("this organisation has no call with that uid")
        if request.kind == "export":
            return await self._export(request, subject, actor)
        if request.kind == "erase":
            result = await self._erase(request, subject, actor)
        elif request.kind == "rectify":
            result = await self._rectify(request, subject, actor, data or {})
        else:
            result = await self._restrict(request, subject)
        done = await self.repo.finish(org_id, request_id, "completed", result)
        await self._record(actor, done)
        return Outcome(done)

    async def refuse(self, org_id: int, request_id: int, actor: Actor, reason: str) -> Outcome:
        """Close an open request without acting on it (e.g. the requester's identity failed)."""
        request = await self.repo.get(org_id, request_id)
        if not request.is_open:
            raise RequestError(f"this request is already {request.status}")
        reason = reason.strip()
        if not reason or len(reason) > MAX_TEXT:
            raise RequestError("give the reason for refusing (at most 4000 characters)")
        done = await self.repo.finish(org_id, request_id, "refused", {"reason": reason})
        await self._record(actor, done)
        return Outcome(done)

    async def prepare_again(self, org_id: int, request_id: int, actor: Actor) -> Outcome:
        """A completed export made again with a new link (the earlier link stops working)."""
        request = await self.repo.get(org_id, request_id)
        if request.kind != "export" or request.status != "completed":
            raise RequestError("only a completed export can be prepared again")
        if request.subject.startswith(PSEUDONYM_PREFIX):
            raise RequestError("this caller's data was erased: there is nothing left to export")
        return await self._export(request, Subject(request.subject_kind, request.subject), actor)

    async def _export(self, request: PrivacyRequest, subject: Subject, actor: Actor) -> Outcome:
        folder = self._folder(request.org_id)
        made = await export_subject(self._db, request.org_id, subject, folder, self._key,
                                    actor=actor.label, user_id=actor.user_id, ip=actor.ip,
                                    recordings_dir=self._recordings)
        final = folder / f"request-{request.id}-{secrets.token_hex(8)}.zip"
        await asyncio.to_thread(made.replace, final)
        if request.export_file:
            await asyncio.to_thread(self._discard, request.org_id, request.export_file)
        manifest = await asyncio.to_thread(_manifest, final)
        token = secrets.token_urlsafe(32)
        expires = shift_iso(self._now(), ms=self._ttl_ms)
        await self.repo.set_download(request.org_id, request.id, sha256_text(token), expires,
                                     final.name)
        result = {"counts": manifest.get("counts", {}), "exported_at": manifest.get(
            "exported_at"), "link_expires_at": expires}
        done = await self.repo.finish(request.org_id, request.id, "completed", result)
        await self._record(actor, done)
        return Outcome(done, token)

    async def _erase(
        self, request: PrivacyRequest, subject: Subject, actor: Actor
    ) -> dict[str, Any]:
        try:
            report = await erase_subject(self._db, request.org_id, subject, self._key,
                                         actor=actor.label, user_id=actor.user_id, ip=actor.ip,
                                         recordings_dir=self._recordings)
        except ErasureIncomplete as exc:
            raise RequestError(str(exc)) from exc
        if subject.kind == "caller":
            await self.repo.rekey_subject(request.org_id, subject.value, report.pseudonym)
        return {
            "calls_anonymised": report.calls_anonymised,
            "recordings_deleted": report.recordings_deleted,
            "turns_deleted": report.turns_deleted, "events_deleted": report.events_deleted,
            "notes_deleted": report.notes_deleted, "held_calls": list(report.held_calls),
            "wal_truncated": report.wal_truncated,
        }

    async def _restrict(self, request: PrivacyRequest, subject: Subject) -> dict[str, Any]:
        number = subject.value
        if subject.kind == "call":
            number = str(await self._db.fetch_value(
                "SELECT caller_number FROM calls WHERE org_id = ? AND uid = ?",
                (request.org_id, subject.value)) or "")
        if not number.strip() or number == ERASED:
            raise RequestError("this call has no caller number to restrict")
        objection = request.kind == "object"
        found = await self._restrictions.set(
            request.org_id, number, processing_restricted=True,
            # restriction: the caller is served but not recorded or transcribed; objection: the
            # caller is told the call is not processed and handed to the dialplan's fallback
            do_not_record=None if objection else True,
            do_not_transcribe=None if objection else True,
            object=True if objection else None,
            reason=f"{'objection' if objection else 'restriction'} request {request.id}",
        )
        return {"restriction": {"processing_restricted": found.processing_restricted,
                                "do_not_record": found.do_not_record,
                                "do_not_transcribe": found.do_not_transcribe,
                                "object": found.object},
                "objection" if request.kind == "object" else "restricted": True}

    async def _rectify(
        self, request: PrivacyRequest, subject: Subject, actor: Actor, data: dict[str, Any]
    ) -> dict[str, Any]:
        """``data``: ``seq`` and ``text`` (a turn; with ``call`` = its uid when the subject is
        a caller number) and/or ``caller_name`` (that call, or every call of the number). All is
        checked before anything changes; each changed field is one audit entry."""
        org_id = request.org_id
        turn = await self._turn_to_fix(org_id, subject, data) if (
            data.get("seq") is not None or data.get("text")) else None
        name: str | None = None
        names: list[Any] = []
        if data.get("caller_name") is not None:
            name = str(data["caller_name"]).strip()
            if not name or len(name) > 200:
                raise RequestError("a caller's corrected name has 1 to 200 characters")
            where, params = subject.where(org_id)
            names = await self._db.fetch_all(
                f"SELECT id, caller_name FROM calls WHERE {where}", params)
            if not names:
                raise RequestError("no call of this subject to correct")
        if turn is None and name is None:
            raise RequestError("give a turn (seq) and its corrected text, or the corrected name")
        changes: list[dict[str, Any]] = []
        async with _secure_transaction(self._db) as conn:
            if turn is not None:
                turn_id, uid, seq, old_text, text = turn
                await conn.execute("UPDATE call_turns SET text = ? WHERE id = ?", (text, turn_id))
                changes.append({"field": "turn", "call": uid, "seq": seq,
                                "old_sha256": sha256_text(old_text),
                                "new_sha256": sha256_text(text)})
            if name is not None:
                for row in names:
                    await conn.execute("UPDATE calls SET caller_name = ? WHERE id = ?",
                                       (name, row["id"]))
                changes.append({
                    "field": "caller_name", "calls": len(names),
                    "old_sha256": sorted({sha256_text(str(r["caller_name"])) for r in names}),
                    "new_sha256": sha256_text(name),
                })
        if turn is not None and self._db.engine == "sqlite":
            async with self._db.transaction() as conn:
                await conn.execute(
                    "INSERT INTO call_turns_fts(call_turns_fts) VALUES ('optimize')")
        for change in changes:
            await self._audit.record(actor, "call.rectify", org_id=org_id,
                                     target=f"request:{request.id}", detail=change)
        return {"changes": changes}

    async def _turn_to_fix(
        self, org_id: int, subject: Subject, data: dict[str, Any]
    ) -> tuple[int, str, int, str, str]:
        """(turn id, call uid, seq, old text, new text) of a valid turn correction."""
        given = str(data.get("call") or "").strip()
        if subject.kind == "call" and given and given != subject.value:
            raise RequestError("this request is about another call")
        uid = subject.value if subject.kind == "call" else given
        call_id = await self._call_id(org_id, uid) if uid else None
        if call_id is None:
            raise RequestError("choose the call whose transcript to correct")
        if subject.kind == "caller" and not await self._db.fetch_value(
            "SELECT 1 FROM calls WHERE id = ? AND (caller_number = ? OR"
            " (direction = 'outbound' AND dialed = ?))",
            (call_id, subject.value, subject.value),
        ):
            raise RequestError("that call is not one of this caller's")
        seq, text = data.get("seq"), str(data.get("text") or "").strip()
        if isinstance(seq, str) and seq.strip().isdigit():
            seq = int(seq)
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise RequestError("give the number (seq) of the turn to correct")
        if not text or len(text) > MAX_TEXT:
            raise RequestError(f"the corrected text has 1 to {MAX_TEXT} characters")
        old = await self._db.fetch_one(
            "SELECT id, text FROM call_turns WHERE call_id = ? AND seq = ?", (call_id, seq))
        if old is None:
            raise RequestError(f"this call has no turn {seq}")
        return int(old["id"]), uid, seq, str(old["text"]), text

    # -- the one-time link ------------------------------------------------------------------

    async def redeem(self, org_id: int, request_id: int, token: str, actor: Actor) -> Path:
        """The export's file for a valid, unused link (spent now); NotFound for a link that
        never existed, :class:`LinkGone` for one used or expired (its file is deleted)."""
        request = await self.repo.get(org_id, request_id)
        state = await self.repo.use_download(org_id, request_id, sha256_text(token))
        if state == "unknown":
            raise NotFound("no such download link")
        name = request.export_file
        path = self._folder(org_id) / name if name else None
        if state == "gone" or path is None or not path.is_file():
            if name:
                await asyncio.to_thread(self._discard, org_id, name)
            raise LinkGone("this download link was used already or has expired: prepare the"
                           " export again for a new one")
        await self._audit.record(actor, "request.download", org_id=org_id,
                                 target=f"request:{request_id}", detail={"kind": "export"})
        return path

    async def purge_exports(self) -> int:
        """Delete every export whose link was used or has expired; return how many files.

        Run periodically (the admin does, hourly), so a ZIP nobody fetched does not stay."""
        removed = 0
        for org_id, request_id, name in await self.repo.stale_exports():
            await asyncio.to_thread(self._discard, org_id, name)
            await self.repo.forget_export(org_id, request_id, name)
            removed += 1
        return removed

    def discard_file(self, path: Path) -> None:
        """Delete a fetched export (call after it was sent)."""
        path.unlink(missing_ok=True)

    def _discard(self, org_id: int, name: str) -> None:
        (self._folder(org_id) / Path(name).name).unlink(missing_ok=True)

    def _folder(self, org_id: int) -> Path:
        return self._exports / f"org-{org_id}"

    async def _call_id(self, org_id: int, uid: str) -> int | None:
        value = await self._db.fetch_value(
            "SELECT id FROM calls WHERE org_id = ? AND uid = ?", (org_id, uid))
        return None if value is None else int(value)

    async def _record(self, actor: Actor, request: PrivacyRequest) -> None:
        await self._audit.record(
            actor, f"request.{request.status}", org_id=request.org_id,
            target=f"request:{request.id}", detail={"kind": request.kind},
        )


@contextlib.asynccontextmanager
async def _secure_transaction(db: Database) -> AsyncIterator[Connection]:
    """A write transaction with ``PRAGMA secure_delete=ON`` (freed pages are zeroed) on SQLite;
    a plain one on PostgreSQL (deleted rows are left to its vacuum)."""
    previous: int | None = None
    if db.engine != "sqlite":
        async with db.transaction() as conn:
            yield conn
        return
    try:
        async with db.transaction() as conn:
            async with conn.execute("PRAGMA secure_delete") as cur:
                row = await cur.fetchone()
            previous = 0 if row is None else int(row[0])
            await conn.execute("PRAGMA secure_delete=ON")
            yield conn
    finally:
        if previous is not None:
            await db.execute(f"PRAGMA secure_delete={previous}")


def _manifest(path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(path) as archive:
        data: dict[str, Any] = json.loads(archive.read(MANIFEST))
    return data
