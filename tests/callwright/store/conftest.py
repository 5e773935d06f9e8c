"""Factories for store tests: a fresh migrated database in tmp_path, orgs, assistants."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from callwright.store.assistants import Assistant, AssistantRepository
from callwright.store.db import Database
from callwright.store.orgs import Org, OrgRepository

MakeDb = Callable[..., Awaitable[Database]]
MakeOrg = Callable[..., Awaitable[Org]]
MakeAssistant = Callable[..., Awaitable[Assistant]]


@pytest.fixture
async def make_db(tmp_path: Path) -> AsyncIterator[MakeDb]:
    """``await make_db()`` opens a new migrated database; all are closed after the test."""
    opened: list[Database] = []
    counter = itertools.count()

    async def make(name: str | None = None) -> Database:
        db = await Database.open(tmp_path / (name or f"store-{next(counter)}.db"))
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
