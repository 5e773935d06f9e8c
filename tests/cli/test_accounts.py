"""``callwright org add`` and ``callwright user add``: the only way the first owner appears."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from callwright.accounts.passwords import Passwords
from callwright.store.db import Database
from callwright.store.users import UserRepo
from cli.accounts import add_user_parser, cmd_user_add, read_password


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    add_user_parser(parser.add_subparsers(dest="command", required=True))
    return parser


@pytest.mark.allow_loop_block  # runs the CLI's own event loop inside the test (sync test)
def test_org_then_owner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CALLWRIGHT_STORE_PATH", str(tmp_path / "cw.db"))
    parser = _parser()
    args = parser.parse_args(["org", "add", "Acme Ltd", "--slug", "acme"])
    assert args.func(args) == 0
    assert args.func(args) == 1  # the slug is taken
    args = parser.parse_args(
        ["user", "add", "boss@acme.example", "--org", "acme", "--role", "owner", "--password-stdin"]
    )
    assert cmd_user_add(args, stdin=io.StringIO("a very good password\n")) == 0
    assert "created user boss@acme.example" in capsys.readouterr().out
    assert cmd_user_add(args, stdin=io.StringIO("")) == 1  # already a member
    args = parser.parse_args(
        ["user", "add", "x@acme.example", "--org", "nope", "--role", "viewer", "--password-stdin"]
    )
    assert cmd_user_add(args, stdin=io.StringIO("a very good password\n")) == 1
    assert "no org with slug 'nope'" in capsys.readouterr().err
    args = parser.parse_args(
        ["user", "add", "y@acme.example", "--org", "acme", "--role", "viewer", "--password-stdin"]
    )
    assert cmd_user_add(args, stdin=io.StringIO("short\n")) == 1
    with pytest.raises(SystemExit):
        parser.parse_args(["user", "add", "z@acme.example", "--org", "acme"])  # --role needed

    import asyncio

    async def check() -> None:
        db = await Database.open(tmp_path / "cw.db")
        try:
            user = await UserRepo(db).by_email("BOSS@acme.example")
            assert user is not None
            assert Passwords().verify_sync(user.password_hash, "a very good password")
            memberships = await UserRepo(db).memberships(user.id)
            assert [(m.org.slug, m.role) for m in memberships] == [("acme", "owner")]
            actions = [r["action"] for r in await db.fetch_all("SELECT action FROM audit_log")]
            assert actions == ["org.create", "member.add"]
            assert await db.fetch_value("SELECT count(*) FROM users") == 1
        finally:
            await db.close()

    asyncio.run(check())


def test_password_prompt_must_match() -> None:
    answers = iter(["first password", "second password"])
    from callwright.accounts.directory import TeamError

    with pytest.raises(TeamError, match="differ"):
        read_password(False, io.StringIO(), ask=lambda _prompt: next(answers))
    same = iter(["same password!", "same password!"])
    assert read_password(False, io.StringIO(), ask=lambda _p: next(same)) == "same password!"


@pytest.mark.allow_loop_block  # runs the CLI's own event loop inside the test (sync test)
def test_user_disable_and_enable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CALLWRIGHT_STORE_PATH", str(tmp_path / "cw.db"))
    parser = _parser()
    for argv, stdin in (
        (["org", "add", "Acme", "--slug", "acme"], None),
        (["user", "add", "a@acme.example", "--org", "acme", "--role", "owner",
          "--password-stdin"], "a very good password\n"),
        (["user", "add", "b@acme.example", "--org", "acme", "--role", "editor",
          "--password-stdin"], "a very good password\n"),
    ):
        args = parser.parse_args(argv)
        code = args.func(args) if stdin is None else cmd_user_add(args, io.StringIO(stdin))
        assert code == 0
    capsys.readouterr()

    def run(*argv: str) -> int:
        args = parser.parse_args(list(argv))
        return int(args.func(args))

    assert run("user", "disable", "b@acme.example") == 0
    assert capsys.readouterr().out == "b@acme.example: disabled\n"
    assert run("user", "disable", "b@acme.example") == 0
    assert "already disabled" in capsys.readouterr().out
    assert run("user", "disable", "a@acme.example") == 1  # the org's last owner
    assert "last owner of org 'acme'" in capsys.readouterr().err
    assert run("user", "disable", "nobody@acme.example") == 1
    assert "no account 'nobody@acme.example'" in capsys.readouterr().err
    assert run("user", "enable", "b@acme.example") == 0
    assert capsys.readouterr().out == "b@acme.example: enabled\n"

    import asyncio

    async def audit() -> list[str]:
        db = await Database.open(tmp_path / "cw.db")
        try:
            rows = await db.fetch_all("SELECT action FROM audit_log WHERE action LIKE 'user.%'")
            return [r["action"] for r in rows]
        finally:
            await db.close()

    assert asyncio.run(audit()) == ["user.disable", "user.enable"]
