"""Checks of this machine: configuration, TLS files, disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from callwright.config import load_config
from callwright.doctor.local import (
    admin_tls,
    ari_tls,
    config_fix,
    disk_check,
    disk_verdict,
    existing_ancestor,
    load_settings,
    recording_bytes_per_hour,
)
from callwright.doctor.report import Status
from callwright.errors import ConfigError
from tests.fakes.certificates import make_certs


def test_a_bad_setting_fails_naming_the_key_the_file_and_the_variable(tmp_path: Path) -> None:
    config = tmp_path / "callwright.toml"
    config.write_text('[media]\ntransport = "sip"\n')
    settings, check = load_settings(config, env={})
    assert settings is None
    assert check.status is Status.FAIL and "media.transport" in check.detail
    assert check.fix == (f"set transport in [media] of {config} (or CALLWRIGHT_MEDIA_TRANSPORT) "
                         "to one of rtp, audiosocket, websocket; callwright.example.toml "
                         "documents it")


def test_config_fixes_for_a_missing_file_and_an_unknown_section(tmp_path: Path) -> None:
    settings, check = load_settings(tmp_path / "absent.toml", env={})
    assert settings is None and "--config FILE or set CALLWRIGHT_CONFIG" in check.fix
    assert "remove or rename [sip]" in config_fix(ConfigError("sip", "a known section"), None)


def test_good_settings_say_where_they_came_from(tmp_path: Path) -> None:
    settings, check = load_settings(None, env={})
    assert settings is not None and check.status is Status.OK
    assert "no file" in check.detail
    config = tmp_path / "c.toml"
    config.write_text("")
    _, check = load_settings(None, env={"CALLWRIGHT_CONFIG": str(config)})
    assert str(config) in check.detail


def test_ari_tls_lines(tmp_path: Path) -> None:
    plain = load_config(None, env={})
    assert ari_tls(plain)[1].status is Status.OK
    bad = load_config(None, env={"CALLWRIGHT_ARI_URL": "https://pbx:8089",
                                 "CALLWRIGHT_ARI_PASSWORD": "p",
                                 "CALLWRIGHT_ARI_CA_FILE": str(tmp_path / "absent.pem")})
    context, check = ari_tls(bad)
    assert context is None and check.status is Status.FAIL
    assert "ari.ca_file" in check.detail and "CALLWRIGHT_ARI_CA_FILE" in check.fix
    unchecked = load_config(None, env={"CALLWRIGHT_ARI_URL": "https://pbx:8089",
                                       "CALLWRIGHT_ARI_PASSWORD": "p",
                                       "CALLWRIGHT_ARI_VERIFY": "false"})
    context, check = ari_tls(unchecked)
    assert context is not None and check.status is Status.WARN
    assert "[ari] verify = true" in check.fix


def test_admin_certificate_lines(tmp_path: Path) -> None:
    assert admin_tls(load_config(None, env={})).status is Status.OK
    certs = make_certs(tmp_path / "tls")
    other = make_certs(tmp_path / "other")
    good = load_config(None, env={"CALLWRIGHT_ADMIN_TLS_CERT": str(certs.cert),
                                  "CALLWRIGHT_ADMIN_TLS_KEY": str(certs.key)})
    assert admin_tls(good).status is Status.OK
    mismatched = load_config(None, env={"CALLWRIGHT_ADMIN_TLS_CERT": str(certs.cert),
                                        "CALLWRIGHT_ADMIN_TLS_KEY": str(other.key)})
    check = admin_tls(mismatched)
    assert check.status is Status.FAIL and "admin.tls_key" in check.detail
    assert "[admin]" in check.fix


GIB = 2**30


@pytest.mark.parametrize(("free", "status"), [
    (50 * GIB, Status.OK), (500 * 2**20, Status.WARN), (50 * 2**20, Status.FAIL)])
def test_disk_room_in_call_hours(free: int, status: Status) -> None:
    per_hour = recording_bytes_per_hour(load_config(None, env={}).media)
    assert per_hour == 8000 * 2 * 2 * 3600
    check = disk_verdict(Path("/var/rec"), free, per_hour, writable=True)
    assert check.status is status and "call-hour(s)" in check.detail
    if status is not Status.OK:
        assert "[recordings] dir" in check.fix


def test_an_unwritable_recordings_directory_fails() -> None:
    check = disk_verdict(Path("/var/rec"), 100 * GIB, 115_200_000, writable=False)
    assert check.status is Status.FAIL and "chown" in check.fix


def test_a_directory_not_made_yet_is_checked_where_it_will_be(tmp_path: Path) -> None:
    assert existing_ancestor(tmp_path / "a" / "b") == tmp_path
    settings = load_config(None, env={"CALLWRIGHT_RECORDINGS_DIR": str(tmp_path / "rec" / "x")})
    check = disk_check(settings)
    assert check.status is Status.OK and str(tmp_path) in check.detail
