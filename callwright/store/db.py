"""The SQLite store: one writer connection, a small pool of readers, WAL, numbered migrations.

Every write goes through the single writer connection (serialised by a lock), as Datasette does it;
reads take a connection from the reader pool so they never wait behind a write. Migrations are the
``NNNN_name.sql`` files in ``callwright/store/migrations``, applied in order, each in a transaction,
and recorded in ``schema_migrations``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

from callwright.errors import StoreError

log = logging.getLogger(__name__)

Params = Sequence[Any] | dict[str, Any]
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
#: Below this much free disk space the store no longer counts as writable (readiness).
MIN_FREE_BYTES = 16 * 2**20


def available_migrations() -> list[tuple[int, str, str]]:
    """(number, file name, SQL) of every migration shipped with the package, in order."""
    found: list[tuple[int, str, str]] = []
    folder = resources.files("callwright.store").joinpath("migrations")
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [n for n, _, _ in found]
    if len(numbers) != len(set(numbers)):
        raise StoreError(f"duplicate migration numbers: {numbers}")
    return found


class Database:
    """An open SQLite database. Create with :meth:`open`; close with :meth:`close`."""

    def __init__(self, path: Path | str, readers: int = 3) -> None:
        self.path = Path(path)
        self._reader_count = max(1, readers)
        self._writer: aiosqlite.Connection | None = None
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all_readers: list[aiosqlite.Connection] = []
        self._write_lock = asyncio.Lock()
        self._checkpointer: aiosqlite.Connection | None = None

    @classmethod
    async def open(cls, path: Path | str, readers: int = 3, migrate: bool = True) -> Database:
        db = cls(path, readers)
        await db._connect()
        if migrate:
            await db.migrate()
        return db

    async def _connect(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._writer = await aiosqlite.connect(self.path, isolation_level=None)
            self._writer.row_factory = sqlite3.Row
            await self._writer.execute("PRAGMA journal_mode=WAL")
            await self._writer.execute("PRAGMA synchronous=NORMAL")
            await self._writer.execute("PRAGMA foreign_keys=ON")
            await self._writer.execute("PRAGMA busy_timeout=5000")
            for _ in range(self._reader_count):
                reader = await aiosqlite.connect(self.path, isolation_level=None)
                reader.row_factory = sqlite3.Row
                await reader.execute("PRAGMA foreign_keys=ON")
                await reader.execute("PRAGMA busy_timeout=5000")
                await reader.execute("PRAGMA query_only=ON")
                self._all_readers.append(reader)
                self._readers.put_nowait(reader)
        except sqlite3.Error as exc:
            await self.close()
            raise StoreError(f"cannot open database {self.path}: {exc}") from exc

    async def close(self) -> None:
        if self._checkpointer is not None:
            await self._checkpointer.close()
            self._checkpointer = None
        for reader in self._all_readers:
            await reader.close()
        self._all_readers.clear()
        self._readers = asyncio.Queue()
        if self._writer is not None:
            await self._writer.close()
            self._writer = None

    # -- migrations -------------------------------------------------------------------------------

    async def applied_migrations(self) -> list[int]:
        writer = self._require_writer()
        await writer.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (number INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"
        )
        async with writer.execute("SELECT number FROM schema_migrations ORDER BY number") as cur:
            return [int(row[0]) for row in await cur.fetchall()]

    async def migrate(self) -> list[int]:
        """Apply pending migrations; return the numbers applied now."""
        async with self._write_lock:
            done = set(await self.applied_migrations())
            applied: list[int] = []
            writer = self._require_writer()
            for number, name, sql in available_migrations():
                if number in done:
                    continue
                try:
                    await writer.execute("BEGIN IMMEDIATE")
                    for statement in _split_sql(sql):
                        await writer.execute(statement)
                    await writer.execute(
                        "INSERT INTO schema_migrations (number, name) VALUES (?, ?)", (number, name)
                    )
                    await writer.execute("COMMIT")
                except sqlite3.Error as exc:
                    await writer.execute("ROLLBACK")
                    raise StoreError(f"migration {name} failed: {exc}") from exc
                log.info("applied migration %s", name)
                applied.append(number)
            return applied

    # -- writes -----------------------------------------------------------------------------------

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one write statement; return ``lastrowid`` (0 when not an insert)."""
        async with self._write_lock:
            try:
                cursor = await self._require_writer().execute(sql, params)
                rowid = cursor.lastrowid or 0
                await cursor.close()
                return rowid
            except sqlite3.Error as exc:
                raise StoreError(f"{exc} in: {sql.split()[0]} ...") from exc

    async def execute_rowcount(self, sql: str, params: Params = ()) -> int:
        """Run one write statement; return the number of rows changed."""
        async with self._write_lock:
            try:
                cursor = await self._require_writer().execute(sql, params)
                count = cursor.rowcount
                await cursor.close()
                return count
            except sqlite3.Error as exc:
                raise StoreError(f"{exc} in: {sql.split()[0]} ...") from exc

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self.transaction() as conn:
            await conn.executemany(sql, rows)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """Exclusive use of the writer inside ``BEGIN IMMEDIATE`` … ``COMMIT`` (rolled back on
        error)."""
        async with self._write_lock:
            writer = self._require_writer()
            await writer.execute("BEGIN IMMEDIATE")
            try:
                yield writer
            except BaseException:
                await writer.execute("ROLLBACK")
                raise
            else:
                await writer.execute("COMMIT")

    async def check_writable(self, min_free_bytes: int = MIN_FREE_BYTES) -> None:
        """Raise StoreError unless a write could be made now: the database is open, its disk has
        ``min_free_bytes`` free, and the write lock can be taken (``BEGIN IMMEDIATE`` then
        ``ROLLBACK``, waiting at most the busy timeout). Writes nothing; for readiness probes.
        Cancelling the caller does not cut the BEGIN … ROLLBACK in two."""
        self._require_writer()
        usage = await asyncio.to_thread(shutil.disk_usage, self.path.parent)
        if usage.free < min_free_bytes:
            raise StoreError(f"only {usage.free / 2**20:.1f} MiB free on the disk of {self.path}"
                             f" (at least {min_free_bytes / 2**20:.1f} MiB needed)")
        await asyncio.shield(self._take_write_lock())

    async def _take_write_lock(self) -> None:
        async with self._write_lock:
            writer = self._require_writer()
            try:
                await writer.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write to {self.path}: {exc}") from exc
            await writer.execute("ROLLBACK")

    # -- WAL checkpoints off the writer ----------------------------------------------------------

    async def set_autocheckpoint(self, pages: int) -> None:
        """The writer's ``wal_autocheckpoint`` (SQLite's default 1000 pages; 0: the writer never
        checkpoints, so a long series of writes, as a purge, leaves it to :meth:`checkpoint`)."""
        await self.execute(f"PRAGMA wal_autocheckpoint={int(pages)}")

    async def checkpoint(self) -> None:
        """A PASSIVE WAL checkpoint on a connection of its own, outside the write lock: the
        writer's transactions go on meanwhile, instead of one of them paying for the copy."""
        self._require_writer()
        if self._checkpointer is None:
            self._checkpointer = await aiosqlite.connect(self.path, isolation_level=None)
            await self._checkpointer.execute("PRAGMA busy_timeout=5000")
        try:
            await self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            raise StoreError(f"checkpoint of {self.path} failed: {exc}") from exc

    # -- reads ------------------------------------------------------------------------------------

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[aiosqlite.Connection]:
        if not self._all_readers:
            raise StoreError("database is closed")
        conn = await self._readers.get()
        try:
            yield conn
        finally:
            self._readers.put_nowait(conn)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        async with self.reader() as conn:
            try:
                async with conn.execute(sql, params) as cur:
                    return list(await cur.fetchall())
            except sqlite3.Error as exc:
                raise StoreError(f"{exc} in: {sql.split()[0]} ...") from exc

    async def fetch_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        async with self.reader() as conn:
            try:
                async with conn.execute(sql, params) as cur:
                    row: sqlite3.Row | None = await cur.fetchone()
                    return row
            except sqlite3.Error as exc:
                raise StoreError(f"{exc} in: {sql.split()[0]} ...") from exc

    async def fetch_value(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetch_one(sql, params)
        return None if row is None else row[0]

    def _require_writer(self) -> aiosqlite.Connection:
        if self._writer is None:
            raise StoreError("database is closed")
        return self._writer


def _split_sql(script: str) -> list[str]:
    """Split a migration into statements, keeping ``CREATE TRIGGER … END;`` bodies whole."""
    statements: list[str] = []
    current: list[str] = []
    for line in script.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("--")):
            continue
        current.append(line)
        candidate = "\n".join(current)
        if stripped.endswith(";") and sqlite3.complete_statement(candidate):
            statements.append(candidate.strip())
            current = []
    if "\n".join(current).strip():
        raise StoreError("migration ends with an incomplete statement")
    return statements
