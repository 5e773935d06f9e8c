"""The SQLite store: one writer connection, a small pool of readers, WAL, numbered migrations.

Every write goes through the single writer connection (serialised by a lock), as Datasette does it;
reads take a connection from the reader pool so they never wait behind a write. Migrations are the
``NNNN_name.sql`` files in ``callwright/store/migrations``, applied in order, each in a transaction,
and recorded in ``schema_migrations``.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import ClassVar

import aiosqlite

from callwright.errors import StoreError
from callwright.store.clock import utc_now_iso
from callwright.store.engine import (
    MIN_FREE_BYTES,
    Connection,
    CursorRequest,
    Database,
    EngineName,
    Params,
    Row,
)
from callwright.store.migration_files import shipped_migrations

__all__ = ["SqliteConnection", "SqliteCursor", "SqliteDatabase", "split_sql"]

log = logging.getLogger(__name__)


class SqliteCursor:
    """An aiosqlite cursor seen through :class:`callwright.store.engine.Cursor`."""

    def __init__(self, cursor: aiosqlite.Cursor) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    async def fetchone(self) -> Row | None:
        row: sqlite3.Row | None = await self._cursor.fetchone()
        return row

    async def fetchall(self) -> list[Row]:
        return list(await self._cursor.fetchall())

    async def close(self) -> None:
        await self._cursor.close()


class SqliteConnection:
    """An aiosqlite connection seen through :class:`callwright.store.engine.Connection`."""

    engine: ClassVar[EngineName] = "sqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.raw = conn

    def execute(self, sql: str, params: Params = ()) -> CursorRequest:
        async def run() -> SqliteCursor:
            return SqliteCursor(await self.raw.execute(sql, params))

        return CursorRequest(run)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        await self.raw.executemany(sql, rows)


class SqliteDatabase(Database):
    """An open SQLite database. Create with :meth:`Database.open`; close with :meth:`close`."""

    engine: ClassVar[EngineName] = "sqlite"
    path: Path

    def __init__(self, path: Path | str, readers: int = 3) -> None:
        self.path = Path(path)
        self._reader_count = max(1, readers)
        self._writer: aiosqlite.Connection | None = None
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all_readers: list[aiosqlite.Connection] = []
        self._write_lock = asyncio.Lock()
        self._checkpointer: aiosqlite.Connection | None = None

    @classmethod
    async def connect(
        cls, target: Path | str, readers: int = 3, migrate: bool = True
    ) -> SqliteDatabase:
        db = cls(target, readers)
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
        async with self._write_lock:
            done = set(await self.applied_migrations())
            applied: list[int] = []
            writer = self._require_writer()
            for migration in shipped_migrations():
                if migration.number in done:
                    continue
                # As SQLite documents for changes a plain ALTER TABLE cannot make (a table
                # rebuilt: new table, copy, drop, rename): foreign keys off outside the
                # transaction (the pragma does nothing inside one), else dropping the old table
                # would delete its children by ON DELETE CASCADE; checked before committing.
                await writer.execute("PRAGMA foreign_keys=OFF")
                try:
                    await writer.execute("BEGIN IMMEDIATE")
                    for statement in split_sql(migration.sqlite):
                        await writer.execute(statement)
                    await self._check_foreign_keys(writer, migration.name)
                    await writer.execute(
                        "INSERT INTO schema_migrations (number, name, applied_at)"
                        " VALUES (?, ?, ?)", (migration.number, migration.name, utc_now_iso()),
                    )
                    await writer.execute("COMMIT")
                except (sqlite3.Error, StoreError) as exc:
                    await writer.execute("ROLLBACK")
                    raise StoreError(f"migration {migration.name} failed: {exc}") from exc
                finally:
                    await writer.execute("PRAGMA foreign_keys=ON")
                log.info("applied migration %s", migration.name)
                applied.append(migration.number)
            return applied

    @staticmethod
    async def _check_foreign_keys(writer: aiosqlite.Connection, name: str) -> None:
        """Raise StoreError if the migration left a row whose foreign key finds no parent."""
        async with writer.execute("PRAGMA foreign_key_check") as cur:
            broken = list(await cur.fetchall())
        if broken:
            table, rowid, parent = broken[0][0], broken[0][1], broken[0][2]
            raise StoreError(f"{name} left {len(broken)} row(s) without their parent, the first"
                             f" in {table} (rowid {rowid}) pointing at {parent}")

    # -- writes -----------------------------------------------------------------------------------

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self._write_lock:
            try:
                cursor = await self._require_writer().execute(sql, params)
                rowid = cursor.lastrowid or 0
                await cursor.close()
                return rowid
            except sqlite3.Error as exc:
                raise StoreError(f"{exc} in: {sql.split()[0]} ...") from exc

    async def execute_rowcount(self, sql: str, params: Params = ()) -> int:
        async with self._write_lock:
            try:
                cursor = await self._require_writer().execute(sql, params)
                count = cursor.rowcount
                await cursor.close()
                return count
            except sqlite3.Error as exc:
                raise StoreError(f"{exc} in: {sql.split()[0]} ...") from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """Exclusive use of the writer inside ``BEGIN IMMEDIATE`` … ``COMMIT`` (rolled back on
        error)."""
        async with self._write_lock:
            writer = self._require_writer()
            await writer.execute("BEGIN IMMEDIATE")
            try:
                yield SqliteConnection(writer)
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
    async def reader(self) -> AsyncIterator[Connection]:
        async with self._raw_reader() as conn:
            yield SqliteConnection(conn)

    @asynccontextmanager
    async def _raw_reader(self) -> AsyncIterator[aiosqlite.Connection]:
        if not self._all_readers:
            raise StoreError("database is closed")
        conn = await self._readers.get()
        try:
            yield conn
        finally:
            self._readers.put_nowait(conn)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._raw_reader() as conn:
            try:
                async with conn.execute(sql, params) as cur:
                    return list(await cur.fetchall())
            except sqlite3.Error as exc:
                raise StoreError(f"{exc} in: {sql.split()[0]} ...") from exc

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        async with self._raw_reader() as conn:
            try:
                async with conn.execute(sql, params) as cur:
                    row: sqlite3.Row | None = await cur.fetchone()
                    return row
            except sqlite3.Error as exc:
                raise StoreError(f"{exc} in: {sql.split()[0]} ...") from exc

    def _require_writer(self) -> aiosqlite.Connection:
        if self._writer is None:
            raise StoreError("database is closed")
        return self._writer


def split_sql(script: str) -> list[str]:
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
