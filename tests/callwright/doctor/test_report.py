"""The checklist's text and JSON forms, and the exit code."""

from __future__ import annotations

import json

from callwright.doctor.report import Report, Status, fail, ok, render_text, skip, to_json, warn


def sample() -> Report:
    report = Report(config_source="config /etc/callwright.toml")
    report.add(ok("config", "configuration", "loaded"))
    report.add([warn("app", "Stasis app registered", "not registered", "start serve"),
                fail("ari", "ARI reachable", "connection refused", "start Asterisk"),
                skip("media", "media path", "ARI cannot be used")])
    return report


def test_one_line_a_check_with_the_fix_under_warnings_and_failures() -> None:
    assert render_text(sample()).splitlines() == [
        "callwright doctor (config /etc/callwright.toml)",
        "[ ok ] configuration: loaded",
        "[warn] Stasis app registered: not registered",
        "       fix: start serve",
        "[FAIL] ARI reachable: connection refused",
        "       fix: start Asterisk",
        "[skip] media path: not checked: ARI cannot be used",
        "",
        "1 failed, 1 warning(s), 1 ok, 1 skipped: calls will not work until the failures are "
        "fixed",
    ]


def test_exit_code_is_1_only_when_something_failed() -> None:
    report = sample()
    assert (report.failed, report.exit_code) == (True, 1)
    report.checks = [c for c in report.checks if c.status is not Status.FAIL]
    assert (report.failed, report.exit_code) == (False, 0)
    assert render_text(report).splitlines()[-1] == "0 failed, 1 warning(s), 1 ok, 1 skipped"


def test_json_form() -> None:
    data = json.loads(json.dumps(to_json(sample())))
    assert data["ok"] is False
    assert data["config"] == "config /etc/callwright.toml"
    assert data["summary"] == {"ok": 1, "warn": 1, "fail": 1, "skip": 1}
    assert data["checks"][2] == {"id": "ari", "title": "ARI reachable", "status": "fail",
                                 "detail": "connection refused", "fix": "start Asterisk"}
    assert [c["status"] for c in data["checks"]] == ["ok", "warn", "fail", "skip"]
