"""Fixtures for knowledge tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.callwright.knowledge.factories import KbFactory


@pytest.fixture
async def make_kb(tmp_path: Path) -> AsyncIterator[KbFactory]:
    """``await make_kb()``: a new database with an org and its assistant;
    ``await make_kb(db)``: another org with its assistant in that database."""
    factory = KbFactory(tmp_path)
    yield factory
    await factory.close()
