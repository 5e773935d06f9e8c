"""The ``callwright`` command's parser, and ``python -m cli`` as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agi.cli import cmd_agi_serve
from cli.accounts import cmd_org_add, cmd_user_add
from cli.main import (
    build_parser,
    cmd_check,
    cmd_db_migrate,
    cmd_demo,
    cmd_pbx_sim,
    cmd_serve,
)
from cli.models import cmd_models_list
from cli.privacy import cmd_retention_run

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("argv", "handler"),
    [
        (["serve"], cmd_serve),
        (["demo", "--once", "--no-admin"], cmd_demo),
        (["pbx-sim", "--port", "0"], cmd_pbx_sim),
        (["db", "migrate"], cmd_db_migrate),
        (["check"], cmd_check),
        (["models", "list"], cmd_models_list),
        (["privacy", "retention", "run"], cmd_retention_run),
        (["user", "add", "a@example.com", "--org", "acme", "--role", "owner"], cmd_user_add),
        (["org", "add", "Acme", "--slug", "acme"], cmd_org_add),
        (["agi", "serve"], cmd_agi_serve),
    ],
)
def test_every_sub_command_reaches_its_handler(argv: list[str], handler: object) -> None:
    args = build_parser().parse_args(["--config", "x.toml", *argv])
    assert (args.func, args.config) == (handler, "x.toml")


def run_cli(tmp_path: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CALLWRIGHT_")}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-m", "cli", *argv], cwd=REPO, env=clean,
        capture_output=True, text=True, timeout=60,
    )


def test_python_m_cli_checks_the_configuration_with_secrets_masked(tmp_path: Path) -> None:
    done = run_cli(
        tmp_path, "check",
        CALLWRIGHT_ARI_PASSWORD="hunter2", CALLWRIGHT_SERVER_DATA_DIR=str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert "ari.password = '********'" in done.stdout
    assert "hunter2" not in done.stdout
    assert done.stdout.rstrip().endswith("configuration OK")


def test_python_m_cli_reports_a_bad_setting_with_exit_code_2(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "check", CALLWRIGHT_MEDIA_TRANSPORT="carrier-pigeon")
    assert done.returncode == 2
    assert done.stderr.startswith("callwright: configuration error: ")
    assert "media.transport" in done.stderr
    assert done.stdout == ""


def test_check_shows_the_tls_settings(tmp_path: Path) -> None:
    done = run_cli(
        tmp_path, "check",
        CALLWRIGHT_ARI_URL="https://pbx.example:8089", CALLWRIGHT_ARI_PASSWORD="hunter2",
        CALLWRIGHT_ARI_CA_FILE=str(tmp_path / "pbx-ca.pem"),
        CALLWRIGHT_ADMIN_TLS_CERT=str(tmp_path / "admin.pem"),
        CALLWRIGHT_ADMIN_TLS_KEY=str(tmp_path / "admin-key.pem"),
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert f"ari.ca_file = PosixPath('{tmp_path / 'pbx-ca.pem'}')" in lines
    assert "ari.verify = True" in lines
    assert f"admin.tls_cert = PosixPath('{tmp_path / 'admin.pem'}')" in lines
    assert f"admin.tls_key = PosixPath('{tmp_path / 'admin-key.pem'}')" in lines
    assert "ari.password = '********'" in lines and "hunter2" not in done.stdout
