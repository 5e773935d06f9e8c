"""docs/privacy-promises.md names, for each privacy promise, the tests that keep it: every test it
names must exist, so the table cannot point at a test that was renamed or never written."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "privacy-promises.md"
NAMED = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def named_tests() -> list[tuple[str, str]]:
    return NAMED.findall(DOC.read_text(encoding="utf-8"))


def test_every_test_the_promises_table_names_exists() -> None:
    named = named_tests()
    assert len(named) > 40, "the table names the tests that keep the promises"
    missing = []
    for path, name in named:
        source = ROOT / path
        text = source.read_text(encoding="utf-8") if source.is_file() else ""
        if not re.search(rf"^(async )?def {name}\(", text, re.MULTILINE):
            missing.append(f"{path}::{name}")
    assert missing == []


def test_each_row_has_five_cells() -> None:
    """A '|' left unescaped in a cell would shift the columns of its row."""
    rows = [line for line in DOC.read_text(encoding="utf-8").splitlines()
            if line.startswith("| ") and not line.startswith("| Promise")]
    bad = [row[:80] for row in rows
           if len(re.split(r"(?<!\\)\|", row.strip().strip("|"))) != 5]
    assert rows and bad == []
