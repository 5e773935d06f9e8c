"""``callwright privacy hold set|lift|list`` and ``privacy retention run --dry-run``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_privacy import (  # noqa: F401  (the config fixture is used by these tests)
    NUMBER,
    _no_outside_settings,
    config,
    query,
    run,
    seed,
)


def uid(tmp_path: Path, call_id: int) -> str:
    [(value,)] = query(tmp_path, f"SELECT uid FROM calls WHERE id = {call_id}")
    return str(value)


def test_a_held_call_survives_the_run_until_lifted(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    old, recent = seed(tmp_path)
    base = ["--config", str(config), "privacy"]
    call_uid = uid(tmp_path, old)
    target = ["--call", call_uid, "--org", "acme"]
    assert run([*base, "hold", "set", *target, "--reason", "dispute 42"]) == 0
    assert f"held: call:{call_uid}" in capsys.readouterr().out
    assert run([*base, "hold", "set", *target]) == 0
    assert "already held" in capsys.readouterr().out
    assert run([*base, "hold", "list", "--org", "acme"]) == 0
    assert "(dispute 42)" in capsys.readouterr().out

    assert run([*base, "retention", "run"]) == 0
    assert "1 on legal hold" in capsys.readouterr().out
    assert query(tmp_path, "SELECT id FROM calls ORDER BY id") == [(old,), (recent,)]

    assert run([*base, "hold", "lift", *target]) == 0
    assert "lifted" in capsys.readouterr().out
    assert run([*base, "hold", "lift", *target]) == 0
    assert "nothing to lift" in capsys.readouterr().out
    assert run([*base, "retention", "run"]) == 0
    assert query(tmp_path, "SELECT id FROM calls") == [(recent,)]
    rows = query(tmp_path, "SELECT actor, action, target, detail FROM audit_log"
                 " WHERE action LIKE 'legal_hold.%' ORDER BY id")
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("cli", "legal_hold.set", f"call:{call_uid}"),
        ("cli", "legal_hold.lift", f"call:{call_uid}"),
    ]
    assert json.loads(str(rows[0][3])) == {"reason": "dispute 42"}


def test_a_held_number_and_the_dry_run(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    old, recent = seed(tmp_path)
    base = ["--config", str(config), "privacy"]
    assert run([*base, "retention", "run", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run" in out and "acme: would delete 1 call(s) (1 turn(s))" in out
    assert "oldest call " in out
    assert query(tmp_path, "SELECT count(*) FROM calls") == [(2,)]
    assert query(tmp_path, "SELECT count(*) FROM audit_log WHERE action = 'retention.run'") == [
        (0,)]

    assert run([*base, "hold", "set", "--number", NUMBER, "--org", "acme"]) == 0
    assert run([*base, "retention", "run", "--dry-run"]) == 0
    assert "would delete 0 call(s) (0 turn(s)), 0 transcript(s) of kept calls, 0 recording(s)," \
           " 0 note(s), 0 webhook deliveries; 1 on legal hold" in capsys.readouterr().out
    assert run([*base, "retention", "run"]) == 0
    assert query(tmp_path, "SELECT id FROM calls ORDER BY id") == [(old,), (recent,)]
    assert run([*base, "hold", "lift", "--number", NUMBER, "--org", "acme"]) == 0
    assert run([*base, "retention", "run"]) == 0
    assert query(tmp_path, "SELECT id FROM calls") == [(recent,)]


def test_bad_hold_requests_fail_cleanly(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    seed(tmp_path)
    base = ["--config", str(config), "privacy", "hold"]
    assert run([*base, "set", "--call", "nope", "--org", "acme"]) == 1
    assert "call nope not found" in capsys.readouterr().err
    assert run([*base, "set", "--number", NUMBER, "--org", "nope"]) == 1
    assert "'nope'" in capsys.readouterr().err
    assert run([*base, "set", "--number", "+1 555", "--org", "acme"]) == 2
    assert "without spaces" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # neither --call nor --number: argparse refuses
        run([*base, "set", "--org", "acme"])
    with pytest.raises(SystemExit):
        run([*base, "set", "--call", "x", "--number", NUMBER, "--org", "acme"])
    assert query(tmp_path, "SELECT count(*) FROM legal_holds") == [(0,)]
