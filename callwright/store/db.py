"""The store: open it with :meth:`Database.open` (or :func:`open_database` from the settings).

Two engines share one interface (:class:`callwright.store.engine.Database`):

- SQLite (:mod:`callwright.store.sqlite_db`), the embedded default: ``[store] path``;
- PostgreSQL (:mod:`callwright.store.postgres_db`), for several nodes sharing one store:
  ``[store] url = "postgresql://user:password@host:5432/callwright"``.

Importing this module loads both engines, so ``Database.open(target)`` can pick one from the
target (a ``postgresql://`` URL or a file path). Migrations:
:mod:`callwright.store.migration_files`.
"""

from __future__ import annotations

from pathlib import Path

from callwright.config import StoreSettings
from callwright.store.engine import (
    MIN_FREE_BYTES,
    Connection,
    Cursor,
    Database,
    DriverError,
    IntegrityError,
    OperationalError,
    Params,
    Row,
)
from callwright.store.migration_files import available_migrations
from callwright.store.postgres_db import PostgresDatabase, redact_url
from callwright.store.sqlite_db import SqliteDatabase

__all__ = [
    "MIN_FREE_BYTES",
    "Connection",
    "Cursor",
    "Database",
    "DriverError",
    "IntegrityError",
    "OperationalError",
    "Params",
    "PostgresDatabase",
    "Row",
    "SqliteDatabase",
    "available_migrations",
    "describe_store",
    "open_database",
    "open_store",
    "store_target",
]


def store_target(path: Path, url: str = "") -> Path | str:
    """What ``[store]`` names: its ``url`` when set (PostgreSQL), else its SQLite ``path``."""
    return url if url else path


async def open_database(
    path: Path, url: str = "", *, readers: int = 3, migrate: bool = True
) -> Database:
    """The store ``path`` and ``url`` name (``url`` wins over ``path``), opened."""
    return await Database.open(store_target(path, url), readers=readers, migrate=migrate)


async def open_store(
    settings: StoreSettings, *, readers: int = 3, migrate: bool = True
) -> Database:
    """The store the ``[store]`` settings name, opened: the composition roots' one way in."""
    return await open_database(settings.path, settings.url, readers=readers, migrate=migrate)


def describe_store(settings: StoreSettings) -> str:
    """The store the settings name, for messages: its URL without password, or its path."""
    return redact_url(settings.url) if settings.url else str(settings.path)
