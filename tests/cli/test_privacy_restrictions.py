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
