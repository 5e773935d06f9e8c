"""``callwright call place``: checks, queueing, and --wait printing the outcome."""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from callwright.store.assistants import AssistantRepository
from callwright.store.db import Database
from callwright.store.numbers import NumberRepository
from callwright.store.orgs import OrgRepository
from cli import calls
from cli.calls import add_call_parser
from tests.cli.test_privacy import _no_outside_settings, config  # noqa: F401


def run(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="callwright")
    parser.add_argument("--config")
    add_call_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def seed(tmp_path: Path) -> int:
    async def main() -> int:
        db = await Database.open(tmp_path / "var" / "store.db")
        try:
            org = await OrgRepository(db).create("Acme", "acme")
            assistant = await AssistantRepository(db).create(org.id, "Reminders", "en", "Hi")
            numbers = NumberRepository(db)
            await numbers.create(org.id, "+15550100", direction="inbound")
            await numbers.create(org.id, "+15550111", direction="outbound", label="Acme",
                                 assistant_id=assistant.id,
                                 outbound_endpoint="PJSIP/{number}@trunk")
            return assistant.id
        finally:
            await db.close()

    return asyncio.run(main())


def rows(tmp_path: Path) -> list[tuple[str, str, str, str]]:
    with sqlite3.connect(tmp_path / "var" / "store.db") as conn:
        return list(conn.execute(
            "SELECT to_number, endpoint, caller_id, variables FROM outbound_calls ORDER BY id"))


def test_place_queues_the_call(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    assistant = seed(tmp_path)
    base = ["--config", str(config), "call", "place", "--assistant", str(assistant)]
    assert run([*base, "--to", "+1 555 010 0199", "--var", "first_name=Ana"]) == 0
    assert "queued" in capsys.readouterr().out
    assert run([*base, "--to", "201", "--endpoint", "Local/{number}@callwright-outbound",
                "--from", "+15550111"]) == 0
    assert rows(tmp_path) == [
        ("+15550100199", "PJSIP/+15550100199@trunk", '"Acme" <+15550111>',
         '{"first_name": "Ana"}'),
        ("201", "Local/201@callwright-outbound", '"Acme" <+15550111>', "{}"),
    ]
    capsys.readouterr()
    for bad, message in (
        (["--to", "abc"], "destination"),
        (["--to", "+15550100199", "--from", "+15550100"], "inbound-only"),
        (["--to", "+15550100199", "--from", "+15559999"], "not one of the org's numbers"),
        (["--to", "+15550100199", "--var", "novalue"], "key=value"),
        (["--to", "+15550100199", "--endpoint", "PJSIP/trunk"], "{number}"),
    ):
        assert run([*base, *bad]) == 2
        assert message in capsys.readouterr().err
    assert run(["--config", str(config), "call", "place", "--assistant", "99",
                "--to", "+15550100199"]) == 2
    assert "no assistant 99" in capsys.readouterr().err
    assert len(rows(tmp_path)) == 2


def test_wait_prints_the_outcome(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assistant = seed(tmp_path)
    monkeypatch.setattr(calls, "WAIT_POLL_S", 0.02)

    def the_pbx_says_busy() -> None:  # what a call service would write
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with sqlite3.connect(tmp_path / "var" / "store.db", timeout=5) as conn:
                changed = conn.execute(
                    "UPDATE outbound_calls SET status = 'ended', outcome = 'busy', cause = 17,"
                    " cause_text = 'User busy', ring_ms = 40 WHERE status = 'queued'").rowcount
            if changed:
                return
            time.sleep(0.02)

    worker = threading.Thread(target=the_pbx_says_busy)
    worker.start()
    code = run(["--config", str(config), "call", "place", "--assistant", str(assistant),
                "--to", "+15550100199", "--wait"])
    worker.join()
    assert code == calls.NOT_ANSWERED
    assert "busy (cause 17 User busy), rang 0.0 s" in capsys.readouterr().out
