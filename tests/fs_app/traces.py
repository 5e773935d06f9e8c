"""The recorded FreeSWITCH traces of tests/freeswitch110/freeswitch-facts (see its README)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FACTS = Path(__file__).resolve().parents[1] / "freeswitch110" / "freeswitch-facts"
ESL_FILES = sorted(p.name for p in FACTS.glob("*.jsonl"))


def lines(name: str) -> Iterator[dict[str, Any]]:
    with (FACTS / name).open(encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)


def received(name: str) -> Iterator[dict[str, Any]]:
    """Every ESL message FreeSWITCH sent in ``name`` (replies, responses, notices, events)."""
    for line in lines(name):
        if line["dir"] in ("recv", "event") and "raw" in line:
            yield line


def streams(name: str) -> dict[str, bytes]:
    """What FreeSWITCH sent on each ESL connection of ``name``, concatenated in order."""
    out: dict[str, bytes] = {}
    for line in received(name):
        out[line["conn"]] = out.get(line["conn"], b"") + line["raw"].encode("utf-8")
    return out
