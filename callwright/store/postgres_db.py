"""The PostgreSQL store, for several nodes sharing one database (``[store] url``), via asyncpg.

Same interface as the SQLite store (:class:`callwright.store.engine.Database`): one writer
connection serialised by a lock in this process (the repositories' transactions keep SQLite's
one-writer semantics within a node) and a pool of readers. Statements are the repositories'
SQLite-flavoured SQL, translated by :mod:`callwright.store.pg_sql`; an ``INSERT`` into a table
with an integer ``id`` gets ``RETURNING id`` added, which gives ``execute``'s return value and a
cursor's ``lastrowid`` their SQLite meaning.

Migrations are the same numbered files as SQLite's (:mod:`callwright.store.migration_files`),
applied under a session advisory lock (:data:`MIGRATION_LOCK`), so nodes starting together
apply each migration once: the others wait, then find it done.

Setting up: an empty database and a role that owns it (``CREATE DATABASE callwright OWNER
callwright``); the first migration creates the ``unaccent`` extension (trusted: the database
owner may), a case-insensitive ICU collation ``nocase`` and the text search configuration
``callwright_search``. The server's ICU support and ``unaccent`` come with Debian's and the
official builds.

Driver errors become the DB-API classes of :mod:`callwright.store.engine` (a unique violation is
an :data:`~callwright.store.engine.IntegrityError`), with asyncpg's error as ``__cause__`` and its
SQLSTATE in ``sqlstate``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar, cast
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from callwright.errors import StoreError
from callwright.store.clock import utc_now_iso
from callwright.store.engine import (
    MIN_FREE_BYTES,
    Connection,
    CursorRequest,
    Database,
    EngineName,
    IntegrityError,
    OperationalError,
    Params,
    Row,
)
from callwright.store.migration_files import shipped_migrations
from callwright.store.pg_sql import returns_rows, translate_statement

__all__ = [
    "MIGRATION_LOCK",
    "PostgresConnection",
    "PostgresDatabase",
    "PostgresError",
    "PostgresIntegrityError",
    "redact_url",
]

log = logging.getLogger(__name__)

#: The advisory lock key held while migrating ("cw-migr" in ASCII).
MIGRATION_LOCK = 0x63772D6D696772
_INSERT_INTO = re.compile(r"^\s*INSERT\s+(?:OR\s+\w+\s+)?INTO\s+\"?(\w+)\"?", re.I)
_STATUS_COUNT = re.compile(r"(\d+)\s*$")
_CONNECT_TIMEOUT_S = 10.0


class PostgresError(OperationalError):
    """A PostgreSQL or connection error (``sqlstate``: its SQLSTATE code, "" if none).
    ``transient``: the server could not be reached or asked to try again (connection lost or
    refused, shutting down, too many connections, a deadlock or serialization failure, a lock
    timeout): the same statement may go through later (the write queue retries it)."""

    sqlstate: str = ""
    transient: bool = False


#: SQLSTATE codes (and classes, by prefix) of errors worth trying again.
TRANSIENT_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300", "40001", "40P01", "55P03")


class PostgresIntegrityError(IntegrityError):
    """A constraint refused the write on PostgreSQL."""

    sqlstate: str = ""


def driver_error(exc: BaseException) -> PostgresError | PostgresIntegrityError:
    """asyncpg's (or the socket's) error as the store's DB-API error."""
    sqlstate = str(getattr(exc, "sqlstate", "") or "")
    made: PostgresError | PostgresIntegrityError
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        made = PostgresIntegrityError(str(exc))
    else:
        made = PostgresError(str(exc) or type(exc).__name__)
        made.transient = sqlstate.startswith(TRANSIENT_SQLSTATES) or isinstance(
            exc, (OSError, TimeoutError, asyncpg.ConnectionDoesNotExistError,
                  asyncpg.InternalClientError))
    made.sqlstate = sqlstate
    return made


#: asyncpg's InternalClientError: a connection left mid-operation, typically by the server
#: ending the session while the connection sat idle in the pool (it is then thrown away).
_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError,
                  OSError, asyncio.TimeoutError)


def redact_url(url: str) -> str:
    """``url`` without its password, for logs and errors."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class PostgresCursor:
    """A statement's result, fetched whole (the repositories read small results)."""

    def __init__(self, rows: list[Row], rowcount: int, lastrowid: int | None) -> None:
        self._rows = rows
        self._next = 0
        self._rowcount = rowcount
        self._lastrowid = lastrowid

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._lastrowid

    async def fetchone(self) -> Row | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    async def fetchall(self) -> list[Row]:
        rest = self._rows[self._next:]
        self._next = len(self._rows)
        return rest

    async def close(self) -> None:
        self._rows = []


class PostgresConnection:
    """An asyncpg connection seen through :class:`callwright.store.engine.Connection`."""

    engine: ClassVar[EngineName] = "postgresql"

    def __init__(self, conn: asyncpg.Connection, id_tables: frozenset[str]) -> None:
        self.raw = conn
        self._id_tables = id_tables

    def execute(self, sql: str, params: Params = ()) -> CursorRequest:
        async def run() -> PostgresCursor:
            try:
                return await self.run(sql, params)
            except _DRIVER_ERRORS as exc:
                raise driver_error(exc) from exc

        return CursorRequest(run)

    async def run(self, sql: str, params: Params) -> PostgresCursor:
        """Run one statement (driver errors as asyncpg raises them)."""
        query, names, wants_id = self.prepare(sql)
        args = positional(params, names)
        if wants_id or returns_rows(query):
            rows = cast(list[Row], await self.raw.fetch(query, *args))
            lastrowid = int(rows[-1][0]) if wants_id and rows else None
            return PostgresCursor([] if wants_id else rows, len(rows), lastrowid)
        status = await self.raw.execute(query, *args)
        found = _STATUS_COUNT.search(status or "")
        return PostgresCursor([], int(found.group(1)) if found else -1, None)

    def prepare(self, sql: str) -> tuple[str, tuple[str, ...], bool]:
        """(the PostgreSQL statement, its parameters' names if named, whether ``RETURNING id``
        was added to give a row id)."""
        done = translate_statement(sql)
        query = done.sql
        insert = _INSERT_INTO.match(sql)
        if insert and insert.group(1).lower() in self._id_tables and not returns_rows(query):
            return f"{query.rstrip().rstrip(';')} RETURNING id", done.names, True
        return query, done.names, False

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        try:
            done = translate_statement(sql)
            await self.raw.executemany(done.sql, [positional(r, done.names) for r in rows])
        except _DRIVER_ERRORS as exc:
            raise driver_error(exc) from exc


def positional(params: Params, names: tuple[str, ...] = ()) -> Sequence[Any]:
    """The values of ``$1``, ``$2``, ...: ``params`` itself, or for named parameters the values
    of ``names`` in order."""
    if isinstance(params, dict):
        missing = [name for name in names if name not in params]
        if missing:
            raise StoreError(f"no value for the parameter(s) {', '.join(missing)}")
        return [params[name] for name in names]
    if names:
        raise StoreError("named parameters need a dict of values")
    return params


class PostgresDatabase(Database):
    """An open PostgreSQL store. Create with :meth:`Database.open` (a ``postgresql://`` URL)."""

    engine: ClassVar[EngineName] = "postgresql"

    def __init__(self, url: str, readers: int = 3) -> None:
        self.url = url
        self.path = None
        self._reader_count = max(1, readers)
        self._writer: asyncpg.Pool | None = None
        self._readers: asyncpg.Pool | None = None
        self._write_lock = asyncio.Lock()
        self._id_tables: frozenset[str] = frozenset()

    @classmethod
    async def connect(
        cls, target: Path | str, readers: int = 3, migrate: bool = True
    ) -> PostgresDatabase:
        db = cls(str(target), readers)
        await db._connect()
        if migrate:
            await db.migrate()
        else:
            await db._load_id_tables()
        return db

    async def _connect(self) -> None:
        try:
            self._writer = await asyncpg.create_pool(
                self.url, min_size=1, max_size=1, timeout=_CONNECT_TIMEOUT_S,
                server_settings={"timezone": "UTC", "application_name": "callwright"},
            )
            self._readers = await asyncpg.create_pool(
                self.url, min_size=1, max_size=self._reader_count, timeout=_CONNECT_TIMEOUT_S,
                server_settings={"timezone": "UTC", "application_name": "callwright"},
            )
        except (*_DRIVER_ERRORS, ValueError) as exc:
            await self.close()
            raise StoreError(f"cannot open database {redact_url(self.url)}: {exc}") from exc

    async def close(self) -> None:
        for pool in (self._readers, self._writer):
            if pool is not None:
                await pool.close()
        self._readers = self._writer = None

    def _pool(self, pool: asyncpg.Pool | None) -> asyncpg.Pool:
        if pool is None:
            raise StoreError("database is closed")
        return pool

    async def _load_id_tables(self) -> None:
        """The tables with an integer ``id`` column: an INSERT into one returns that id."""
        try:
            rows = await self._pool(self._readers).fetch(
                "SELECT table_name FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND column_name = 'id'"
                " AND data_type IN ('bigint', 'integer', 'smallint')"
            )
        except _DRIVER_ERRORS as exc:
            raise StoreError(f"cannot read the schema: {exc}") from exc
        self._id_tables = frozenset(str(row[0]) for row in rows)

    # -- migrations -------------------------------------------------------------------------------

    async def applied_migrations(self) -> list[int]:
        try:
            async with self._pool(self._writer).acquire() as conn:
                return await self._applied(conn)
        except _DRIVER_ERRORS as exc:
            raise StoreError(f"cannot read schema_migrations: {exc}") from exc

    @staticmethod
    async def _applied(conn: asyncpg.Connection) -> list[int]:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (number BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        rows = await conn.fetch("SELECT number FROM schema_migrations ORDER BY number")
        return [int(row[0]) for row in rows]

    async def migrate(self) -> list[int]:
        applied: list[int] = []
        async with self._write_lock:
            try:
                async with self._pool(self._writer).acquire() as conn:
                    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
                    try:
                        applied = await self._migrate_locked(conn)
                    finally:
                        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
            except _DRIVER_ERRORS as exc:
                raise StoreError(f"cannot migrate {redact_url(self.url)}: {exc}") from exc
        await self._load_id_tables()
        return applied

    async def _migrate_locked(self, conn: asyncpg.Connection) -> list[int]:
        done = set(await self._applied(conn))
        applied: list[int] = []
        for migration in shipped_migrations():
            if migration.number in done:
                continue
            sql = migration.postgres_sql()
            try:
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (number, name, applied_at)"
                        " VALUES ($1, $2, $3)", migration.number, migration.name, utc_now_iso(),
                    )
            except asyncpg.PostgresError as exc:
                raise StoreError(f"migration {migration.name} failed: {exc}") from exc
            log.info("applied migration %s", migration.name)
            applied.append(migration.number)
        return applied

    # -- writes -----------------------------------------------------------------------------------

    async def _write(self, sql: str, params: Params) -> tuple[int, int]:
        async with self._write_lock:
            try:
                async with self._pool(self._writer).acquire() as raw:
                    try:
                        cursor = await PostgresConnection(raw, self._id_tables).run(sql, params)
                    except asyncpg.InternalClientError:
                        raw.terminate()  # the pool opens a new one
                        raise
            except _DRIVER_ERRORS as exc:
                error = driver_error(exc)
                raise StoreError(f"{exc} in: {sql.split()[0]} ...") from error
            return cursor.lastrowid or 0, cursor.rowcount

    async def execute(self, sql: str, params: Params = ()) -> int:
        return (await self._write(sql, params))[0]

    async def execute_rowcount(self, sql: str, params: Params = ()) -> int:
        return (await self._write(sql, params))[1]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """Exclusive use of the writer inside ``BEGIN`` … ``COMMIT`` (rolled back on error)."""
        async with self._write_lock:
            pool = self._pool(self._writer)
            try:
                raw = await pool.acquire()
            except _DRIVER_ERRORS as exc:
                raise StoreError(f"cannot begin a transaction: {exc}") from driver_error(exc)
            try:
                try:
                    tx = raw.transaction()
                    await tx.start()
                except _DRIVER_ERRORS as exc:
                    if isinstance(exc, asyncpg.InternalClientError):
                        raw.terminate()  # the pool opens a new one
                    raise StoreError(f"cannot begin a transaction: {exc}") from driver_error(exc)
                try:
                    yield PostgresConnection(raw, self._id_tables)
                except BaseException:
                    if not raw.is_closed():
                        try:
                            await tx.rollback()
                        except _DRIVER_ERRORS as exc:  # the connection went: nothing to undo
                            log.warning("rollback failed: %s", exc)
                    raise
                else:
                    try:
                        await tx.commit()
                    except _DRIVER_ERRORS as exc:
                        raise driver_error(exc) from exc
            finally:
                await pool.release(raw)

    async def check_writable(self, min_free_bytes: int = MIN_FREE_BYTES) -> None:
        """Raise StoreError unless the writer's server takes writes now (open, reachable, not a
        read-only standby). Disk space is the server's to watch. Writes nothing."""
        await asyncio.shield(self._check_writer())

    async def _check_writer(self) -> None:
        async with self._write_lock:
            try:
                async with self._pool(self._writer).acquire() as raw:
                    read_only = await raw.fetchval("SHOW transaction_read_only")
            except _DRIVER_ERRORS as exc:
                raise StoreError(f"cannot write to {redact_url(self.url)}: {exc}") from exc
            if read_only == "on":
                raise StoreError(f"{redact_url(self.url)} is read-only (a standby?)")

    # -- reads ------------------------------------------------------------------------------------

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[Connection]:
        pool = self._pool(self._readers)
        try:
            raw = await pool.acquire()
        except _DRIVER_ERRORS as exc:
            raise StoreError(f"cannot read: {exc}") from driver_error(exc)
        try:
            yield PostgresConnection(raw, self._id_tables)
        finally:
            await pool.release(raw)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        try:
            async with self._pool(self._readers).acquire() as raw:
                done = translate_statement(sql)
                rows = await raw.fetch(done.sql, *positional(params, done.names))
        except _DRIVER_ERRORS as exc:
            raise StoreError(f"{exc} in: {sql.split()[0]} ...") from driver_error(exc)
        return cast(list[Row], rows)

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        try:
            async with self._pool(self._readers).acquire() as raw:
                done = translate_statement(sql)
                row = await raw.fetchrow(done.sql, *positional(params, done.names))
        except _DRIVER_ERRORS as exc:
            raise StoreError(f"{exc} in: {sql.split()[0]} ...") from driver_error(exc)
        return cast(Row | None, row)
