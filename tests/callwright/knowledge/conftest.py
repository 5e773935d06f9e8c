"""Fixtures for knowledge tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.callwright.knowledge.factories import KbFactory
from tests.callwright.store.conftest import (  # noqa: F401  (fixtures used by these tests)
    MakeDb,
    make_db,
    store_engine,
)


@pytest.fixture
async def make_kb(
    tmp_path: Path, make_db: MakeDb  # noqa: F811
) -> AsyncIterator[KbFactory]:
    """``await make_kb()``: a new database with an org and its assistant;
    ``await make_kb(db)``: another org with its assistant in that database. On each store engine
    (``make_db``)."""
    factory = KbFactory(tmp_path, make_db)
    yield factory
    await factory.close()
