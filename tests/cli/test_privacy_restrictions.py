"""``callwright privacy restrict|unrestrict|restrictions``."""

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


def test_restrict_list_and_lift_audited_without_the_number(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    seed(tmp_path)
    base = ["--config", str(config), "privacy"]
    assert run([*base, "restrict", NUMBER, "--org", "acme", "--what", "record,transcribe",
                "--reason", "asked on the phone"]) == 0
    assert f"restricted: {NUMBER}: record,transcribe since" in capsys.readouterr().out
    assert run([*base, "restrict", NUMBER, "--org", "acme", "--what", "object"]) == 0
    capsys.readouterr()
    assert run([*base, "restrictions", "--org", "acme"]) == 0
    assert f"{NUMBER}: record,transcribe,object since" in capsys.readouterr().out
    [(rec, tr, st, obj)] = query(tmp_path, "SELECT do_not_record, do_not_transcribe,"
                                 " do_not_store, object FROM caller_restrictions")
    assert (rec, tr, st, obj) == (1, 1, 0, 1)

    assert run([*base, "unrestrict", NUMBER, "--org", "acme"]) == 0
    assert f"lifted: {NUMBER}" in capsys.readouterr().out
    assert query(tmp_path, "SELECT * FROM caller_restrictions") == []
    assert run([*base, "unrestrict", NUMBER, "--org", "acme"]) == 0
    assert "no restriction" in capsys.readouterr().out

    rows = query(tmp_path, "SELECT actor, action, target, detail FROM audit_log"
                 " WHERE action LIKE 'restriction.%' ORDER BY id")
    assert [(r[0], r[1]) for r in rows] == [
        ("cli", "restriction.set"), ("cli", "restriction.set"), ("cli", "restriction.lift")]
    assert all(str(r[2]).startswith("caller:erased:hmac-sha256:") for r in rows)
    assert all(NUMBER not in str(r[2]) + str(r[3]) for r in rows)
    assert json.loads(str(rows[0][3])) == {
        "kinds": ["record", "transcribe"], "now": ["record", "transcribe"],
        "reason": "asked on the phone"}
    assert json.loads(str(rows[2][3]))["lifted"] == ["object", "record", "transcribe"]


def test_bad_input_is_refused_clearly(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    seed(tmp_path)
    base = ["--config", str(config), "privacy"]
    assert run([*base, "restrict", NUMBER, "--org", "acme", "--what", "record,nope"]) == 2
    assert "unknown restriction nope" in capsys.readouterr().err
    assert run([*base, "restrict", NUMBER, "--org", "nosuch", "--what", "record"]) == 1
    assert "'nosuch'" in capsys.readouterr().err
    assert run([*base, "restrict", " ", "--org", "acme", "--what", "record"]) == 2
    assert "caller number is required" in capsys.readouterr().err
    assert query(tmp_path, "SELECT * FROM caller_restrictions") == []


def test_restrict_and_lift_one_call_audited(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    _, recent = seed(tmp_path)
    [(uid,)] = query(tmp_path, f"SELECT uid FROM calls WHERE id = {recent}")
    base = ["--config", str(config), "privacy"]
    assert run([*base, "restrict", "--call", str(uid), "--org", "acme", "--what", "transcribe",
                "--reason", "art. 18"]) == 0
    assert f"restricted: call {uid}: transcribe since" in capsys.readouterr().out
    assert run([*base, "restrict", "--call", str(uid), "--org", "acme", "--what", "record"]) == 0
    assert f"call {uid}: transcribe,record since" in capsys.readouterr().out
    assert run([*base, "restrictions", "--org", "acme"]) == 0
    assert f"call {uid}: transcribe,record since" in capsys.readouterr().out
    assert query(tmp_path, "SELECT transcript, recording, reason, set_by FROM call_restrictions"
                 ) == [(1, 1, "art. 18", "cli")]

    assert run([*base, "unrestrict", "--call", str(uid), "--org", "acme"]) == 0
    assert f"lifted: call {uid}" in capsys.readouterr().out
    assert query(tmp_path, "SELECT * FROM call_restrictions") == []
    rows = query(tmp_path, "SELECT actor, action, target FROM audit_log"
                 " WHERE action LIKE 'call_restriction.%' ORDER BY id")
    assert rows == [("cli", "call_restriction.set", f"call:{uid}"),
                    ("cli", "call_restriction.set", f"call:{uid}"),
                    ("cli", "call_restriction.lift", f"call:{uid}")]


@pytest.mark.parametrize("argv, message", [
    (["restrict", "--call", "x", "--what", "store"], "restrict the number"),
    (["restrict", "--call", "x", "--what", "sing"], "unknown restriction"),
    (["restrict", "--what", "record"], "either a caller NUMBER or --call"),
    (["restrict", "+1555", "--call", "x", "--what", "record"], "either a caller NUMBER"),
    (["unrestrict"], "either a caller NUMBER or --call"),
])
def test_call_restriction_bad_input_is_refused_clearly(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str],  # noqa: F811
    argv: list[str], message: str,
) -> None:
    seed(tmp_path)
    assert run(["--config", str(config), "privacy", *argv, "--org", "acme"]) == 2
    assert message in capsys.readouterr().err


def test_restricting_an_unknown_call_says_so(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    seed(tmp_path)
    assert run(["--config", str(config), "privacy", "restrict", "--call", "nope", "--org", "acme",
                "--what", "record"]) == 1
    assert "call 'nope' not found" in capsys.readouterr().err
