"""deploy/callwright.service: the upgrade recipe's unit must let a drain finish."""

from __future__ import annotations

import configparser
from pathlib import Path

from ari_app.application import HANDBACK_LIMIT_S, HANDBACK_NOW_LIMIT_S
from callwright.config import CallsSettings

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "callwright.service"


def test_the_unit_drains_on_stop_and_restarts_after_a_crash() -> None:
    unit = configparser.ConfigParser(interpolation=None, strict=True)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(UNIT.read_text())
    service = unit["Service"]
    assert service["ExecStart"].split()[-1] == "serve"
    assert service["KillSignal"] == "SIGTERM"
    assert service["KillMode"] == "mixed"
    assert service["Restart"] == "on-failure"
    # systemd must not SIGKILL a service that is still draining and handing callers back.
    needed = CallsSettings().drain_s + HANDBACK_LIMIT_S + HANDBACK_NOW_LIMIT_S
    assert float(service["TimeoutStopSec"]) > needed


def test_the_unit_limits_glibc_to_two_heaps_and_maps_big_blocks_alone() -> None:
    unit = configparser.ConfigParser(interpolation=None, strict=True)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(UNIT.read_text())
    assignments = dict(a.partition("=")[::2] for a in unit["Service"]["Environment"].split())
    assert assignments["MALLOC_ARENA_MAX"] == "2"
    assert assignments["MALLOC_MMAP_THRESHOLD_"] == "65536"
    assert assignments["CALLWRIGHT_CONFIG"] == "/etc/callwright/callwright.toml"
