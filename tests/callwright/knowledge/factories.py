"""Building knowledge test data on a real, migrated SQLite file: usable from any test package.

    factory = KbFactory(tmp_path)
    kb = await factory()             # a new database, org and assistant
    other = await factory(kb.db)     # another org (with its assistant) in the same database
    await factory.close()
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from callwright.knowledge.repository import KnowledgeRepository
from callwright.store.assistants import Assistant, AssistantRepository
from callwright.store.db import Database
from callwright.store.orgs import Org, OrgRepository


@dataclass
class Kb:
    db: Database
    org: Org
    assistant: Assistant
    repo: KnowledgeRepository

    async def another_assistant(self) -> Assistant:
        """A second assistant of the same org."""
        return await AssistantRepository(self.db).create(self.org.id, "Second assistant")


class KbFactory:
    """``open_db``: how a new database is made (default: an SQLite file in ``folder``; the
    knowledge tests pass ``make_db``, so they run on both store engines)."""

    def __init__(
        self, folder: Path, open_db: Callable[[], Awaitable[Database]] | None = None
    ) -> None:
        self._folder = folder
        self._open_db = open_db
        self._opened: list[Database] = []
        self._counter = itertools.count(1)

    async def __call__(self, db: Database | None = None) -> Kb:
        n = next(self._counter)
        if db is None and self._open_db is not None:
            db = await self._open_db()
        elif db is None:
            db = await Database.open(self._folder / f"kb-{n}.db")
            self._opened.append(db)
        org = await OrgRepository(db).create(f"Org {n}", f"org-{n}")
        assistant = await AssistantRepository(db).create(org.id, f"Assistant {n}")
        return Kb(db, org, assistant, KnowledgeRepository(db))

    async def close(self) -> None:
        for db in self._opened:
            await db.close()
        self._opened.clear()
