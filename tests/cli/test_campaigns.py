"""``callwright campaign create|start|pause|resume|cancel|status|export|dial``."""

from __future__ import annotations

import argparse
import csv
import io
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from cli.campaigns import add_campaign_parser
from tests.cli.test_calls import seed
from tests.cli.test_privacy import _no_outside_settings, config  # noqa: F401


def run(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="callwright")
    parser.add_argument("--config")
    add_campaign_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_a_campaign_from_the_command_line(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    assistant = seed(tmp_path)
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("number,first_name\n+15550100100,Ana\nnope,Bo\n+15550100101,=cmd\n")
    base = ["--config", str(config), "campaign"]
    create = [*base, "create", "--assistant", str(assistant), "--name", "Flu shots",
              "--csv", str(contacts), "--window", "00:00-23:59", "--days", "1,2,3,4,5,6,7",
              "--timezone", "UTC", "--per-minute", "600"]
    assert run(create) == 2
    err = capsys.readouterr().err
    assert "contacts.csv: line 3:" in err and "nothing created" in err
    assert run([*create, "--skip-bad-lines"]) == 0
    assert "campaign 1 created (draft) with 2 contact(s)" in capsys.readouterr().out
    assert run([*base, "pause", "1"]) == 2
    assert "cannot pause a campaign that is draft" in capsys.readouterr().err
    assert run([*base, "start", "1"]) == 0
    assert run([*base, "dial", "--once"]) == 0
    assert "queued 1" in capsys.readouterr().out
    with sqlite3.connect(tmp_path / "var" / "store.db") as conn:
        conn.execute("UPDATE outbound_calls SET status = 'ended', outcome = 'busy', cause = 17,"
                     " cause_text = 'User busy'")
    assert run([*base, "dial", "--once"]) == 0
    capsys.readouterr()
    assert run([*base, "status", "1"]) == 0
    out = capsys.readouterr().out
    assert "running, 2 contact(s)" in out and "last outcomes: busy 1" in out
    assert run([*base, "export", "1"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["number"], r["status"], r["last_outcome"], r["first_name"]) for r in rows] == [
        ("+15550100100", "pending", "busy", "Ana"), ("+15550100101", "calling", "", "'=cmd")]
    assert run([*base, "cancel", "1"]) == 0
    assert run([*base, "status", "9"]) == 2
