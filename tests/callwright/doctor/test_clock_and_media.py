"""Clock verdicts (skew against Asterisk, the local clock) and media-probe verdicts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from callwright.config import load_config
from callwright.doctor.clock import (
    local_clock_verdict,
    parse_ari_time,
    skew_verdict,
)
from callwright.doctor.media import MediaProblem, media_failure, media_reached, with_leftovers
from callwright.doctor.report import Status

NOW = datetime(2026, 11, 22, 5, 44, 16, tzinfo=UTC).timestamp()


def test_ari_timestamps_parse() -> None:
    assert parse_ari_time("2026-11-22T05:44:16.180+0000") == pytest.approx(NOW + 0.18)
    assert parse_ari_time("2026-11-22T06:44:16.000+0100") == pytest.approx(NOW)
    with pytest.raises(ValueError):
        parse_ari_time("yesterday")


@pytest.mark.parametrize(("skew", "uncertainty", "status"), [
    (0.004, 0.002, Status.OK),
    (-0.9, 0.01, Status.OK),
    (1.5, 0.01, Status.WARN),
    (1.5, 0.6, Status.OK),  # within what the round trip cannot tell apart
    (-45.0, 0.01, Status.FAIL),
])
def test_skew(skew: float, uncertainty: float, status: Status) -> None:
    check = skew_verdict(skew, uncertainty)
    assert check.status is status
    assert ("ahead of" if skew > 0 else "behind") in check.detail
    if status is not Status.OK:
        assert "timedatectl" in check.fix


def test_local_clock() -> None:
    assert local_clock_verdict(NOW, 2.0, 2.0).status is Status.OK
    stepped = local_clock_verdict(NOW, 3.2, 2.0)
    assert stepped.status is Status.WARN and "+1.200 s" in stepped.detail
    unset = local_clock_verdict(86400.0, 1.0, 1.0)
    assert unset.status is Status.FAIL and "1970-01-02" in unset.detail


MEDIA = load_config(None, env={"CALLWRIGHT_MEDIA_ADVERTISE_HOST": "10.0.0.5"}).media


@pytest.mark.parametrize(("transport", "ports"), [
    ("rtp", "UDP 40000-40999"), ("audiosocket", "TCP 9092")])
def test_not_reached_names_the_settings_and_the_ports(transport: str, ports: str) -> None:
    check = media_failure(MediaProblem.NOT_REACHED, MEDIA, transport, "no RTP")
    assert check.status is Status.FAIL and check.id == "media"
    assert check.detail == "nothing arrived: no RTP"
    assert "[media] advertise_host" in check.fix and "'10.0.0.5'" in check.fix
    assert ports in check.fix


def test_every_media_problem_has_a_fix() -> None:
    for problem in MediaProblem:
        for transport in ("rtp", "audiosocket", "websocket"):
            assert media_failure(problem, MEDIA, transport, "x").fix
    missing = media_failure(MediaProblem.MODULE_MISSING, MEDIA, "websocket", "x")
    assert "load = chan_websocket.so" in missing.fix


def test_leftovers_are_named_with_the_command_that_deletes_them() -> None:
    good = media_reached("rtp", "fine")
    assert with_leftovers(good, []) is good
    left = with_leftovers(good, ["cw-doctor-1"])
    assert left.status is Status.WARN and "cw-doctor-1" in left.detail
    assert left.fix == "`asterisk -rx 'channel request hangup cw-doctor-1'`"
    failed = with_leftovers(media_failure(MediaProblem.OTHER, MEDIA, "rtp", "x"), ["c"])
    assert failed.status is Status.FAIL
    assert failed.fix.endswith("; also `asterisk -rx 'channel request hangup c'`")
