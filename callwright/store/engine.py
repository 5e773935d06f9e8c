"""What every store engine offers: the :class:`Database` interface, its rows, its transaction
connection and its driver errors. The engines are :mod:`callwright.store.sqlite_db` (the
embedded default) and :mod:`callwright.store.postgres_db` (several nodes sharing one store);
:func:`callwright.store.db.open_database` picks one from the configuration.

Repositories write SQLite-flavoured SQL with ``?`` placeholders; the PostgreSQL engine translates
it (:mod:`callwright.store.pg_sql`). Where the dialects really differ (full-text search) a
repository asks :attr:`Database.engine` and sends each engine its own statement.

- Rows (:class:`Row`) are indexable by position and by column name, iterate over their values,
  and ``dict(row)`` gives ``{column: value}``, on both engines.
- Inside :meth:`Database.transaction` the code gets a :class:`Connection`: ``await
  conn.execute(sql, params)`` returns a :class:`Cursor` (``rowcount``, ``lastrowid``,
  ``fetchone()``, ``fetchall()``, ``close()``), and ``async with conn.execute(...) as cur`` works
  too; ``await conn.executemany(sql, rows)``.
- Driver errors are the DB-API classes below on both engines (:data:`DriverError`,
  :data:`IntegrityError`, :data:`OperationalError`: the standard library's DB-API exception tree,
  which the PostgreSQL engine's errors subclass), so ``except IntegrityError`` catches a unique
  violation wherever it happened. :class:`Database`'s own methods raise
  :class:`~callwright.errors.StoreError` with the driver error as its ``__cause__``.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Literal, Protocol

__all__ = [
    "Connection",
    "Cursor",
    "CursorRequest",
    "Database",
    "DriverError",
    "EngineName",
    "IntegrityError",
    "OperationalError",
    "Params",
    "Row",
]

Params = Sequence[Any] | dict[str, Any]
EngineName = Literal["sqlite", "postgresql"]
#: Any error of the database driver (both engines).
DriverError = sqlite3.Error
#: A constraint refused the write (UNIQUE, FOREIGN KEY, CHECK, NOT NULL), on both engines.
IntegrityError = sqlite3.IntegrityError
#: The database could not do it now (locked, connection lost, ...), on both engines.
OperationalError = sqlite3.OperationalError
#: Below this much free disk space an SQLite store no longer counts as writable (readiness).
MIN_FREE_BYTES = 16 * 2**20


class Row(Protocol):
    """One result row: ``row[0]``, ``row["name"]``, ``row.keys()``, ``dict(row)``, iteration."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def keys(self) -> Iterable[str]: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...


class Cursor(Protocol):
    """The result of one statement run inside a transaction."""

    @property
    def rowcount(self) -> int: ...

    @property
    def lastrowid(self) -> int | None: ...

    async def fetchone(self) -> Row | None: ...

    async def fetchall(self) -> list[Row]: ...

    async def close(self) -> None: ...


class CursorRequest:
    """What :meth:`Connection.execute` returns: await it for the :class:`Cursor`, or use it as
    ``async with conn.execute(...) as cur`` (the cursor is closed on the way out)."""

    def __init__(self, run: Callable[[], Awaitable[Cursor]]) -> None:
        self._run = run
        self._cursor: Cursor | None = None

    def __await__(self) -> Generator[Any, None, Cursor]:
        return self._run().__await__()

    async def __aenter__(self) -> Cursor:
        self._cursor = await self._run()
        return self._cursor

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._cursor is not None:
            await self._cursor.close()


class Connection(Protocol):
    """The connection a :meth:`Database.transaction` block works on."""

    @property
    def engine(self) -> EngineName: ...

    def execute(self, sql: str, params: Params = ()) -> CursorRequest: ...

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None: ...


class Database(ABC):
    """An open store. ``await Database.open(target)`` opens the engine ``target`` names: a
    ``postgresql://`` (or ``postgres://``) URL opens PostgreSQL, anything else is an SQLite file
    path. Close with :meth:`close`.

    Writes go through one writer (serialised in this process, like SQLite's single writer);
    reads use a small pool of readers so they never wait behind a write.
    """

    #: Which engine this is; repositories branch on it only where the SQL dialects differ.
    engine: ClassVar[EngineName]
    #: The SQLite file (None on PostgreSQL).
    path: Path | None
    engines: ClassVar[dict[str, type[Database]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "engine" in cls.__dict__:
            Database.engines[cls.engine] = cls

    @classmethod
    async def open(cls, target: Path | str, readers: int = 3, migrate: bool = True) -> Database:
        """Open (and by default migrate) the store ``target`` names (see the class docstring)."""
        name: EngineName = "postgresql" if is_postgres_url(str(target)) else "sqlite"
        engine = cls if "engine" in cls.__dict__ else Database.engines.get(name)
        if engine is None:
            raise RuntimeError(f"the {name} store engine is not loaded"
                               " (import callwright.store.db)")
        return await engine.connect(target, readers=readers, migrate=migrate)

    @classmethod
    @abstractmethod
    async def connect(cls, target: Path | str, readers: int = 3, migrate: bool = True) -> Database:
        """Open this engine's store at ``target``."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def applied_migrations(self) -> list[int]: ...

    @abstractmethod
    async def migrate(self) -> list[int]:
        """Apply pending migrations; return the numbers applied now."""

    @abstractmethod
    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one write statement; return the new row's id for an insert into a table with an
        integer ``id`` (0 otherwise)."""

    @abstractmethod
    async def execute_rowcount(self, sql: str, params: Params = ()) -> int:
        """Run one write statement; return the number of rows changed."""

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self.transaction() as conn:
            await conn.executemany(sql, rows)

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Connection]:
        """Exclusive use of the writer inside one transaction, committed at the end of the block
        and rolled back on an error."""

    @abstractmethod
    async def check_writable(self, min_free_bytes: int = MIN_FREE_BYTES) -> None:
        """Raise StoreError unless a write could be made now. Writes nothing; for readiness."""

    async def set_autocheckpoint(self, pages: int) -> None:
        """SQLite's ``wal_autocheckpoint`` for the writer; nothing on engines without a WAL file
        of their own to manage."""
        return None

    async def checkpoint(self) -> None:
        """An SQLite WAL checkpoint off the writer; nothing on other engines."""
        return None

    @abstractmethod
    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]: ...

    @abstractmethod
    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None: ...

    async def fetch_value(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetch_one(sql, params)
        return None if row is None else row[0]

    @abstractmethod
    def reader(self) -> AbstractAsyncContextManager[Connection]:
        """A reader connection of the pool, for several reads in a row."""


def is_postgres_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))
