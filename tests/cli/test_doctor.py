"""``callwright doctor``: the whole checklist against the PBX simulator, and ``python -m cli
doctor`` as a real process on a machine with no Asterisk."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from ari_app.ari.connection import AriEventStream
from ari_app.ari.events import AriEvent
from ari_app.simulator.server import PbxSimulator
from callwright.doctor.report import Report, Status
from callwright.store.db import Database
from cli.doctor import cmd_doctor, run_doctor
from cli.main import build_parser

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "doctor-secret"


def test_the_sub_command_and_its_options() -> None:
    args = build_parser().parse_args(["doctor", "--json", "--timeout", "2.5"])
    assert (args.func, args.json, args.timeout) == (cmd_doctor, True, 2.5)
    assert build_parser().parse_args(["doctor"]).timeout == 5.0
    with pytest.raises(SystemExit):
        build_parser().parse_args(["doctor", "--timeout", "0"])


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def local_env(tmp_path: Path) -> dict[str, str]:
    return {
        "CALLWRIGHT_ARI_PASSWORD": PASSWORD,
        "CALLWRIGHT_STORE_PATH": str(tmp_path / "var" / "callwright.db"),
        "CALLWRIGHT_RECORDINGS_DIR": str(tmp_path / "var" / "recordings"),
        "CALLWRIGHT_SERVER_DATA_DIR": str(tmp_path / "var"),
    }


async def _ignore(event: AriEvent) -> None:
    return None


@pytest.fixture
async def served_pbx() -> AsyncIterator[PbxSimulator]:
    """The simulator with the app registered, as while `callwright serve` runs."""
    sim = PbxSimulator(password=PASSWORD)
    await sim.start()
    async with aiohttp.ClientSession() as session:
        serve = AriEventStream(session, sim.ari_url, sim.username, PASSWORD, "callwright",
                               on_event=_ignore)
        await serve.start()
        yield sim
        await serve.stop()
    await sim.stop()


def by_title(report: Report) -> dict[str, Status]:
    return {c.title: c.status for c in report.checks}


async def test_every_check_ok(served_pbx: PbxSimulator, tmp_path: Path) -> None:
    env = {**local_env(tmp_path), "CALLWRIGHT_ARI_URL": served_pbx.ari_url}
    db = await Database.open(env["CALLWRIGHT_STORE_PATH"])
    await db.close()
    report = await run_doctor(None, env, step_timeout_s=2.0, audio_timeout_s=1.0)
    assert set(by_title(report).values()) == {Status.OK}, report.checks
    assert [c.id for c in report.checks] == [
        "config", "ari-tls", "ari", "app", "modules", "media", "clock-asterisk", "admin-tls",
        "store", "speech", "speech", "disk", "clock-local"]
    assert report.exit_code == 0


async def test_a_missing_model_fails_with_the_fetch_command(
    served_pbx: PbxSimulator, tmp_path: Path
) -> None:
    env = {**local_env(tmp_path), "CALLWRIGHT_ARI_URL": served_pbx.ari_url,
           "CALLWRIGHT_SPEECH_VOSK_MODEL": "vosk-model-small-en-us-0.15",
           "CALLWRIGHT_SPEECH_MODELS_DIR": str(tmp_path / "models")}
    report = await run_doctor(None, env, step_timeout_s=2.0, audio_timeout_s=1.0)
    model = next(c for c in report.checks if c.title == "speech model vosk-model-small-en-us-0.15")
    assert model.status is Status.FAIL
    assert "`callwright models fetch vosk-model-small-en-us-0.15`" in model.fix
    assert report.exit_code == 1


async def test_a_configuration_that_does_not_load_skips_the_rest(tmp_path: Path) -> None:
    env = {**local_env(tmp_path), "CALLWRIGHT_MEDIA_FORMAT": "mp3"}
    report = await run_doctor(None, env)
    statuses = by_title(report)
    assert statuses.pop("configuration") is Status.FAIL
    assert statuses.pop("local clock") is Status.OK
    assert set(statuses.values()) == {Status.SKIP}
    assert "CALLWRIGHT_MEDIA_FORMAT" in report.checks[0].fix
    assert report.exit_code == 1


def run_cli(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLWRIGHT_")}
    env.update(local_env(tmp_path))
    env["CALLWRIGHT_ARI_URL"] = f"http://127.0.0.1:{closed_port()}"
    return subprocess.run([sys.executable, "-m", "cli", *argv], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def test_python_m_cli_doctor_on_a_machine_without_asterisk(tmp_path: Path) -> None:
    started = time.monotonic()
    done = run_cli(tmp_path, "doctor", "--timeout", "3")
    took = time.monotonic() - started
    print(f"\n$ python -m cli doctor  (no Asterisk; exit {done.returncode}, {took:.1f} s)\n"
          f"{done.stdout}")
    assert done.returncode == 1, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[0] == "callwright doctor (no config file)"
    ari = next(i for i, line in enumerate(lines) if line.startswith("[FAIL] ARI reachable"))
    assert "connection refused" in lines[ari]
    assert lines[ari + 1].lstrip().startswith("fix: start Asterisk")
    for title in ("Stasis app registered", "Asterisk modules", "Asterisk reaches our media",
                  "clock agrees with Asterisk's"):
        assert any(line.startswith(f"[skip] {title}") for line in lines), title
    assert lines[-1].startswith("1 failed, 1 warning(s)")  # the store is not created yet
    assert not (tmp_path / "var" / "callwright.db").exists()


def test_python_m_cli_doctor_json(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "doctor", "--json", "--timeout", "3")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is False
    ari = next(c for c in report["checks"] if c["id"] == "ari")
    assert ari["status"] == "fail" and "connection refused" in ari["detail"]
    assert "http.conf" in ari["fix"]
