"""The store check: the database is there (or can be made), its migrations are the ones this
version ships, and a write could be made now. It writes nothing, and never creates the database:
``callwright serve`` and ``callwright db migrate`` do that.

While it has the database open it also reads each assistant's ``stt``/``tts`` settings, so the
model check covers the models the assistants use, not only the server's defaults.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callwright.config import StoreSettings
from callwright.doctor.local import existing_ancestor
from callwright.doctor.report import Check, fail, ok, warn
from callwright.errors import StoreError
from callwright.store.assistants import AssistantRepository
from callwright.store.db import Database, available_migrations, describe_store

STORE_ID, STORE_TITLE = "store", "store (SQLite)"


@dataclass(frozen=True, slots=True)
class AssistantSpeech:
    """One assistant's speech settings, as the model check needs them."""

    name: str
    stt: Mapping[str, Any] | None
    tts: Mapping[str, Any] | None


@dataclass(slots=True)
class StoreFindings:
    check: Check
    assistants: list[AssistantSpeech] = field(default_factory=list)
    #: Why the assistants could not be read ("" when they were).
    assistants_unread: str = ""


def migrations_verdict(path: Path | str, applied: set[int], shipped: set[int]) -> Check | None:
    """A line when the applied migrations are not exactly the shipped ones, else None."""
    newer = sorted(applied - shipped)
    if newer:
        return fail(STORE_ID, STORE_TITLE, f"{path} has migration(s) {newer} this version does "
                    "not know: a newer Callwright wrote it", "run the Callwright version that "
                    "migrated it, or restore the backup taken before the upgrade")
    pending = sorted(shipped - applied)
    if pending:
        return warn(STORE_ID, STORE_TITLE, f"{path}: migration(s) {pending} not applied yet",
                    "`callwright db migrate` (`callwright serve` also applies them at start)")
    return None


def _missing(path: Path) -> StoreFindings:
    parent = existing_ancestor(path.parent)
    if not os.access(parent, os.W_OK | os.X_OK):
        return StoreFindings(fail(STORE_ID, STORE_TITLE, f"{path} does not exist and cannot be "
                                  f"created: {parent} is not writable by this user",
                                  f"give the user running Callwright write access to {parent}, "
                                  "or set [store] path"), assistants_unread="no database yet")
    return StoreFindings(warn(STORE_ID, STORE_TITLE, f"{path} does not exist yet",
                              "`callwright db migrate` creates it (`callwright serve` too)"),
                         assistants_unread="no database yet")


async def inspect_store(store: StoreSettings) -> StoreFindings:
    """Open the database (without migrating), compare migrations, try the write lock, and read
    the assistants' speech settings. Waits at most SQLite's busy timeout (5 s) for a lock.
    A PostgreSQL store (``[store] url``) is opened by its URL (shown without its password)."""
    if store.url:
        name = describe_store(store)
        try:
            db = await Database.open(store.url, readers=1, migrate=False)
        except StoreError as exc:
            return StoreFindings(fail(STORE_ID, STORE_TITLE, str(exc), _unreadable_fix(name)),
                                 assistants_unread="the database does not open")
        try:
            return await _inspect_open(db, name)
        finally:
            await db.close()
    path = Path(store.path)
    if not await asyncio.to_thread(path.exists):
        return await asyncio.to_thread(_missing, path)
    try:
        db = await Database.open(path, readers=1, migrate=False)
    except StoreError as exc:
        return StoreFindings(fail(STORE_ID, STORE_TITLE, str(exc), _unreadable_fix(path)),
                             assistants_unread="the database does not open")
    try:
        return await _inspect_open(db, path)
    finally:
        await db.close()


def _unreadable_fix(path: Path | str) -> str:
    if isinstance(path, str):
        return (f"check that PostgreSQL answers at {path}, that the database exists and that its"
                " user may read and write it, or set [store] url")
    return (f"check that {path} is a Callwright database readable and writable by this user "
            "(with its -wal and -shm files), or set [store] path")


async def _inspect_open(db: Database, path: Path | str) -> StoreFindings:
    try:
        rows = await db.fetch_all("SELECT number FROM schema_migrations")
        applied = {int(row[0]) for row in rows}
    except sqlite3.OperationalError:  # no schema_migrations: nothing applied yet
        applied = set()
    except (sqlite3.Error, StoreError) as exc:
        return StoreFindings(fail(STORE_ID, STORE_TITLE, f"{path}: {exc}", _unreadable_fix(path)),
                             assistants_unread="the database does not read")
    shipped = {number for number, _, _ in available_migrations()}
    verdict = migrations_verdict(path, applied, shipped)
    try:
        await db.check_writable()
    except (StoreError, sqlite3.Error) as exc:
        return StoreFindings(fail(STORE_ID, STORE_TITLE, f"not writable: {exc}",
                                  f"{_unreadable_fix(path)}; free disk space, and stop whatever "
                                  "holds a long write transaction on it"),
                             assistants_unread="the database is not writable")
    if verdict is not None:
        return StoreFindings(verdict, assistants_unread="migrations differ")
    found = StoreFindings(ok(STORE_ID, STORE_TITLE, f"{path}: {len(applied)} migrations "
                             "applied, writable"))
    try:
        assistants = await AssistantRepository(db).list_all()
    except (StoreError, sqlite3.Error) as exc:
        found.assistants_unread = str(exc)
    else:
        found.assistants = [AssistantSpeech(a.name, a.stt, a.tts) for a in assistants]
    return found
