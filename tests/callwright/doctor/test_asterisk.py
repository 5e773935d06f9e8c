"""Verdicts on ARI, the app and the modules; the fixes quote asterisk.conf.example truly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from callwright.config import load_config
from callwright.doctor.asterisk import (
    CONF_LINES,
    AriProblem,
    app_verdict,
    ari_failure,
    ari_reached,
    module_needs,
    modules_verdict,
)
from callwright.doctor.media import CHANNEL_MODULES
from callwright.doctor.report import Status

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = (REPO / "asterisk.conf.example").read_text()
ARI = load_config(None, env={"CALLWRIGHT_ARI_URL": "http://pbx.example:8088",
                             "CALLWRIGHT_ARI_PASSWORD": "p"}).ari


def example_sections() -> dict[str, list[str]]:
    """asterisk.conf.example's lines (comments dropped) by the file they belong in."""
    sections: dict[str, list[str]] = {}
    current = ""
    for raw in EXAMPLE.splitlines():
        header = re.match(r"^;-+ (\S+\.conf)", raw)
        if header:
            current = header.group(1)
            continue
        line = raw.split(";", 1)[0].strip()
        if current and line:
            sections.setdefault(current, []).append(line)
    return sections


def test_the_quoted_conf_lines_are_in_asterisk_conf_example() -> None:
    sections = example_sections()
    for conf, lines in CONF_LINES.items():
        for line in lines:
            commented = any(line in raw for raw in EXAMPLE.splitlines())
            assert line in sections.get(conf, []) or commented, (conf, line)


@pytest.mark.parametrize("transport", ["rtp", "audiosocket", "websocket"])
@pytest.mark.parametrize("fmt", ["ulaw", "alaw", "slin", "slin16"])
def test_every_module_a_fix_asks_to_load_is_in_the_example(transport: str, fmt: str) -> None:
    loads = set(example_sections()["modules.conf"])
    for need in module_needs(transport, fmt):
        assert f"load = {need.names[0]}" in loads, need
    assert f"load = {CHANNEL_MODULES[transport]}" in loads


def test_modules_all_there_with_or_without_so() -> None:
    names = [n.names[0] for n in module_needs("rtp", "ulaw")]
    assert modules_verdict(names, "rtp", "ulaw").status is Status.OK
    bare = [n.removesuffix(".so") for n in names]
    assert modules_verdict(bare, "rtp", "ulaw").status is Status.OK


def test_a_missing_required_module_fails_with_its_load_line() -> None:
    names = {n.names[0] for n in module_needs("audiosocket", "slin16")} - {"chan_audiosocket.so"}
    check = modules_verdict(names, "audiosocket", "slin16")
    assert check.status is Status.FAIL
    assert check.detail == "not loaded: chan_audiosocket.so (ExternalMedia over AudioSocket)"
    assert "modules.conf: load = chan_audiosocket.so" in check.fix
    assert "`asterisk -rx 'module load chan_audiosocket.so'`" in check.fix


def test_a_missing_optional_module_warns_and_any_timing_module_will_do() -> None:
    names = {n.names[0] for n in module_needs("rtp", "ulaw")}
    assert modules_verdict(names - {"codec_ulaw.so"}, "rtp", "ulaw").status is Status.WARN
    no_timer = names - {"res_timing_timerfd.so"}
    assert modules_verdict(no_timer, "rtp", "ulaw").status is Status.WARN
    assert modules_verdict(no_timer | {"res_timing_pthread.so"}, "rtp", "ulaw").status \
        is Status.OK
    # a required one missing too: only the required one's line is the fix
    check = modules_verdict(no_timer - {"chan_rtp.so"}, "rtp", "ulaw")
    assert check.status is Status.FAIL and "res_timing" in check.detail
    assert "load = chan_rtp.so" in check.fix and "res_timing" not in check.fix


def test_each_transport_needs_its_channel_module() -> None:
    for transport, module in CHANNEL_MODULES.items():
        names = {n for need in module_needs(transport, "slin") for n in need.names}
        assert module in names
        others = set(CHANNEL_MODULES.values()) - {module}
        assert not names & others


@pytest.mark.parametrize(("problem", "words"), [
    (AriProblem.UNAUTHORIZED, ["[ari] password", "ari.conf", "[callwright]", "type = user"]),
    (AriProblem.REFUSED, ["bindport = 8088", "bindaddr = pbx.example", "enabled = yes"]),
    (AriProblem.TIMEOUT, ["firewall", "TCP 8088"]),
    (AriProblem.TLS_CERTIFICATE, ["[ari] ca_file"]),
    (AriProblem.TLS_HANDSHAKE, ["http://", "tlsenable = yes"]),
    (AriProblem.NO_ARI, ["res_ari.so"]),
    (AriProblem.NOT_CONFIGURED, ["[ari] url"]),
    (AriProblem.UNRESOLVED, ["pbx.example"]),
])
def test_each_ari_failure_has_its_fix(problem: AriProblem, words: list[str]) -> None:
    check = ari_failure(problem, ARI, "detail")
    assert check.status is Status.FAIL and check.id == "ari"
    assert check.detail == f"http://pbx.example:8088: {problem.value}: detail"
    for word in words:
        assert word in check.fix


def test_every_ari_problem_has_a_fix() -> None:
    for problem in AriProblem:
        assert ari_failure(problem, ARI, "").fix


def test_asterisk_before_22_is_a_warning() -> None:
    assert ari_reached(ARI, "22.10.1", "02:fc").status is Status.OK
    assert ari_reached(ARI, "20.5.0", "").status is Status.WARN
    assert ari_reached(ARI, "", "").status is Status.OK  # unknown: no claim


def test_app_not_registered_is_a_warning_naming_serve() -> None:
    assert app_verdict("callwright", True, 2, 1).status is Status.OK
    check = app_verdict("callwright", False)
    assert check.status is Status.WARN
    assert "callwright serve" in check.fix and "Stasis(callwright)" in check.fix
