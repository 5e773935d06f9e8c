"""``callwright privacy ...`` handlers, run with parsed arguments against a real store."""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import zipfile
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from callwright.privacy.recording_crypto import encrypt_file
from callwright.privacy.secrets import MasterKey
from callwright.store.calls import CallRepository
from callwright.store.clock import format_iso, utc_now
from callwright.store.db import Database
from callwright.store.orgs import OrgRepository
from callwright.store.turns import NewTurn
from cli.privacy import add_privacy_parser

NUMBER = "+15550102030"


def run(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="callwright")
    parser.add_argument("--config")
    add_privacy_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


@pytest.fixture(autouse=True)
def _no_outside_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CALLWRIGHT_"):
            monkeypatch.delenv(name)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "callwright.toml"
    path.write_text('[server]\nmaster_key_file = "secret/master.key"\n'
                    '[store]\npath = "var/store.db"\n')
    return path


def seed(tmp_path: Path) -> tuple[int, int]:
    """An org "acme" with an old call and a recent one from NUMBER: (old id, recent id)."""

    async def main() -> tuple[int, int]:
        db = await Database.open(tmp_path / "var" / "store.db")
        try:
            org = await OrgRepository(db).create("Acme", "acme")
            ids = []
            for age in (800, 1):
                started = format_iso(utc_now() - timedelta(days=age))
                repo = CallRepository(db, now=functools.partial(str, started))
                call = await repo.create_call(org.id, None, None, "100", NUMBER, "Pat", "ch")
                await repo.add_turn(call.id, NewTurn(0, "caller", "hello there", started))
                await repo.close_call(call.id, "completed", "caller_hangup")
                ids.append(call.id)
            return ids[0], ids[1]
        finally:
            await db.close()

    return asyncio.run(main())


def query(tmp_path: Path, sql: str) -> list[tuple[object, ...]]:
    async def main() -> list[tuple[object, ...]]:
        db = await Database.open(tmp_path / "var" / "store.db")
        try:
            return [tuple(row) for row in await db.fetch_all(sql)]
        finally:
            await db.close()

    return asyncio.run(main())


def test_retention_run(tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, recent = seed(tmp_path)
    assert run(["--config", str(config), "privacy", "retention", "run"]) == 0
    assert "acme: 1 call(s)" in capsys.readouterr().out
    assert query(tmp_path, "SELECT id FROM calls") == [(recent,)]
    assert query(tmp_path, "SELECT actor FROM audit_log WHERE action = 'retention.run'") == [
        ("system",)]


def test_export_and_erase(tmp_path: Path, config: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    seed(tmp_path)
    out = tmp_path / "exports"
    base = ["--config", str(config), "privacy"]
    assert run([*base, "export", "--org", "acme", "--caller", NUMBER, "--out", str(out)]) == 0
    [archive] = list(out.iterdir())
    assert str(archive) in capsys.readouterr().out
    with zipfile.ZipFile(archive) as handle:
        document = json.loads(handle.read("calls.json"))
    assert len(document["calls"]) == 2
    assert (tmp_path / "secret" / "master.key").exists()

    assert run([*base, "erase", "--org", "acme", "--caller", NUMBER]) == 2
    assert "--yes" in capsys.readouterr().err
    assert query(tmp_path, "SELECT caller_number FROM calls") == [(NUMBER,), (NUMBER,)]

    assert run([*base, "erase", "--org", "acme", "--caller", NUMBER, "--yes"]) == 0
    assert "2 call(s) anonymised" in capsys.readouterr().out
    assert query(tmp_path, "SELECT caller_number FROM calls") == [("erased",), ("erased",)]
    assert query(tmp_path, "SELECT actor FROM audit_log WHERE action = 'caller.erase'") == [
        ("cli",)]


def test_unknown_org(tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(tmp_path)
    argv = ["--config", str(config), "privacy", "erase", "--org", "nope", "--caller", NUMBER,
            "--yes"]
    assert run(argv) == 1
    assert "no org with slug 'nope'" in capsys.readouterr().err


def test_decrypt_recording(tmp_path: Path, config: Path) -> None:
    key = MasterKey.load_or_create(tmp_path / "secret" / "master.key")
    data = os.urandom(200_000)
    plain = tmp_path / "call.wav"
    plain.write_bytes(data)
    sealed, _ = encrypt_file(plain, key)
    out = tmp_path / "back.wav"
    argv = ["--config", str(config), "privacy", "decrypt-recording", str(sealed), "--out",
            str(out)]
    assert run(argv) == 0
    assert out.read_bytes() == data
    assert run(argv) == 1, "an existing output file is not overwritten"
    missing = ["--config", str(config), "privacy", "decrypt-recording",
               str(tmp_path / "none.cwenc"), "--out", str(tmp_path / "x.wav")]
    assert run(missing) == 1
