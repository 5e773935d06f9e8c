"""Factories for store tests: a fresh migrated database, orgs, assistants.

Every test that uses ``make_db`` runs twice (``store_engine``, tests/conftest.py): on SQLite (a file
in tmp_path) and on PostgreSQL (a fresh database in the session's throwaway cluster,
tests/pg_server.py). ``make_sqlite_db`` is for
the few tests about SQLite itself (its file, its locks).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from callwright.store.assistants import Assistant, AssistantRepository
from callwright.store.db import Database, SqliteDatabase
from callwright.store.orgs import Org, OrgRepository
from tests.conftest import store_engine  # noqa: F401  (re-exported for other packages' tests)
from tests.pg_server import PgServer

MakeDb = Callable[..., Awaitable[Database]]
MakeSqliteDb = Callable[..., Awaitable[SqliteDatabase]]
MakeOrg = Callable[..., Awaitable[Org]]
MakeAssistant = Callable[..., Awaitable[Assistant]]


@pytest.fixture
async def make_db(
    tmp_path: Path, store_engine: str, postgres_server: PgServer | None  # noqa: F811
) -> AsyncIterator[MakeDb]:
    """``await make_db()`` opens a new migrated database of this run's engine (a new file, or a
    new PostgreSQL database); ``await make_db(name)`` opens the one of that name again (a second
    connection to the same store, as another process would have). All are closed after the
    test."""
    opened: list[Database] = []
    counter = itertools.count()
    urls: dict[str, str] = {}

    async def make(name: str | None = None, **options: Any) -> Database:
        name = name or f"store-{next(counter)}.db"
        target: Path | str = tmp_path / name
        if store_engine == "postgresql":
            assert postgres_server is not None
            if name not in urls:
                urls[name] = await postgres_server.create_database()
            target = urls[name]
        db = await Database.open(target, **options)
        opened.append(db)
        return db

    yield make
    for db in opened:
        await db.close()
    if postgres_server is not None:
        for url in urls.values():
            await postgres_server.drop_database(url)


@pytest.fixture
async def make_sqlite_db(tmp_path: Path) -> AsyncIterator[MakeSqliteDb]:
    """``await make_sqlite_db()``: a new migrated SQLite file, for tests of SQLite itself."""
    opened: list[SqliteDatabase] = []
    counter = itertools.count()

    async def make(name: str | None = None) -> SqliteDatabase:
        db = await SqliteDatabase.connect(tmp_path / (name or f"store-{next(counter)}.db"))
        opened.append(db)
        return db

    yield make
    for db in opened:
        await db.close()


@pytest.fixture
def make_org() -> MakeOrg:
    """``await make_org(db, "acme")`` creates an org named after its slug."""
    counter = itertools.count()

    async def make(db: Database, slug: str | None = None) -> Org:
        slug = slug or f"org-{next(counter)}"
        return await OrgRepository(db).create(slug.title(), slug)

    return make


@pytest.fixture
def make_assistant() -> MakeAssistant:
    """``await make_assistant(db, org_id, name="Front desk", **fields)``."""
    counter = itertools.count()

    async def make(
        db: Database, org_id: int, name: str | None = None, **fields: Any
    ) -> Assistant:
        return await AssistantRepository(db).create(
            org_id, name or f"Assistant {next(counter)}", **fields
        )

    return make
