"""``callwright user export EMAIL``: an account's own data as JSON, audited."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
from pathlib import Path

import pytest

from callwright.store.db import Database
from cli.accounts import add_user_parser, cmd_user_add, cmd_user_export


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    add_user_parser(parser.add_subparsers(dest="command", required=True))
    return parser


async def _audit_actions(path: Path) -> list[tuple[str, str]]:
    db = await Database.open(path)
    try:
        rows = await db.fetch_all("SELECT actor, action FROM audit_log ORDER BY id")
        return [(str(r["actor"]), str(r["action"])) for r in rows]
    finally:
        await db.close()


@pytest.mark.allow_loop_block  # runs the CLI's own event loop inside the test (sync test)
def test_export_prints_the_accounts_data_and_is_audited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "cw.db"
    monkeypatch.setenv("CALLWRIGHT_STORE_PATH", str(store))
    parser = _parser()
    args = parser.parse_args(["org", "add", "Acme Ltd", "--slug", "acme"])
    assert args.func(args) == 0
    args = parser.parse_args(["user", "add", "boss@acme.example", "--org", "acme", "--role",
                              "owner", "--password-stdin"])
    assert cmd_user_add(args, stdin=io.StringIO("a very good password\n")) == 0
    capsys.readouterr()

    out = io.StringIO()
    args = parser.parse_args(["user", "export", "boss@acme.example"])
    assert cmd_user_export(args, stdout=out) == 0
    data = json.loads(out.getvalue())
    assert data["account"]["email"] == "boss@acme.example"
    assert [(m["slug"], m["role"]) for m in data["memberships"]] == [("acme", "owner")]
    assert "a very good password" not in out.getvalue() and "argon2" not in out.getvalue()
    assert asyncio.run(_audit_actions(store))[-1] == ("cli", "account.export")

    target = tmp_path / "boss.json"
    args = parser.parse_args(["user", "export", "boss@acme.example", "-o", str(target)])
    assert args.func(args) == 0
    assert json.loads(target.read_text())["account"]["email"] == "boss@acme.example"
    assert args.func(args) == 1  # never replaces a file
    assert "cannot write" in capsys.readouterr().err
    args = parser.parse_args(["user", "export", "nobody@acme.example"])
    assert args.func(args) == 1
    assert "no account" in capsys.readouterr().err
