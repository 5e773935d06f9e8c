"""``callwright demo`` with a PBX configured (``[ari] url``): the demo call goes through it.

The PBX here is the project's simulator started as if it were a real Asterisk: the demo knows
only its URL and password, places ``Local/100@callwright-inbound`` with ``POST /channels``, and
the simulator runs that context as dialplan/extensions_callwright.conf does.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from ari_app import demo
from ari_app.demo import DEMO_CALLER, DEMO_NUMBER, run_demo
from ari_app.service import CallService
from ari_app.simulator.http import Phase
from ari_app.simulator.server import PbxSimulator
from callwright.config import Settings, load_config
from callwright.dialog.demo_flow import DEMO_FLOW
from callwright.errors import ConfigError
from callwright.speech.vosk_stt import VoskModelCache
from callwright.store.calls import CallRepository
from callwright.store.db import Database
from tests.fakes.certificates import make_certs

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "demo-pbx-secret"


def store_env(tmp_path: Path) -> dict[str, str]:
    return {
        "CALLWRIGHT_SERVER_DATA_DIR": str(tmp_path),
        "CALLWRIGHT_STORE_PATH": str(tmp_path / "callwright.db"),
        "CALLWRIGHT_RECORDINGS_DIR": str(tmp_path / "recordings"),
        "CALLWRIGHT_SERVER_MASTER_KEY_FILE": str(tmp_path / "master.key"),
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_demo_once_calls_through_the_configured_pbx_and_exits(tmp_path: Path) -> None:
    """What the issue asked: ``callwright demo --once`` with CALLWRIGHT_ARI_URL set places the
    demo call through that PBX, prints its transcript and exits 0 when the call is over."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLWRIGHT_")}
    env.update(store_env(tmp_path))
    pbx = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli", "pbx-sim", "--port", str(port), "--password", PASSWORD,
        cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    assert pbx.stdout is not None
    try:
        async with asyncio.timeout(30):
            banner = (await pbx.stdout.readline()).decode()
        assert f"127.0.0.1:{port}/ari" in banner
        env.update(CALLWRIGHT_ARI_URL=f"http://127.0.0.1:{port}", CALLWRIGHT_ARI_PASSWORD=PASSWORD)
        done = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cli", "demo", "--once", "--no-admin", cwd=REPO, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(110):
            out, err = await done.communicate()
    finally:
        pbx.terminate()
        await pbx.wait()
    text = out.decode()
    assert done.returncode == 0, text + err.decode()
    assert f"Local/{DEMO_NUMBER}@callwright-inbound" in text
    nodes = DEMO_FLOW["nodes"]
    said = re.findall(r"^  assistant │ (.*?)(?:  \(.*\))?$", text, re.MULTILINE)
    assert said[0] == nodes["greet"]["prompt"]
    assert said[-1] == nodes["give_up"]["text"]  # the demo caller on a PBX stays silent
    assert re.search(r"^call \S+: completed \(demo_no_answer\), \d+\.\d s$", text, re.MULTILINE)

    db = await Database.open(tmp_path / "callwright.db")
    try:
        [call] = await CallRepository(db).list_recent_all_orgs(5)
    finally:
        await db.close()
    assert (call.dialed, call.caller_number, call.status) == (DEMO_NUMBER, DEMO_CALLER,
                                                              "completed")


@pytest.fixture
async def pbx() -> AsyncIterator[PbxSimulator]:
    sim = PbxSimulator(password=PASSWORD)
    await sim.start()
    yield sim
    await sim.stop()


def pbx_settings(tmp_path: Path, sim: PbxSimulator, **env: str) -> Settings:
    return load_config(None, env={
        **store_env(tmp_path),
        "CALLWRIGHT_ARI_URL": sim.ari_url,
        "CALLWRIGHT_ARI_PASSWORD": PASSWORD,
        **env,
    })


class ShutsDownOnPlacing(io.StringIO):
    """The demo's output; Asterisk starts shutting down as the demo places its call."""

    def __init__(self, sim: PbxSimulator) -> None:
        super().__init__()
        self.sim = sim

    def write(self, text: str) -> int:
        if text.startswith("\nplacing the demo call"):
            self.sim.http.phase = Phase.SHUTTING_DOWN
        return super().write(text)


async def test_a_refused_originate_is_reported_and_exits_1(
    tmp_path: Path, pbx: PbxSimulator, vosk_models: VoskModelCache
) -> None:
    out = ShutsDownOnPlacing(pbx)
    code = await run_demo(pbx_settings(tmp_path, pbx), once=True, admin=False, out=out,
                          vosk_models=vosk_models)
    assert code == 1
    last = out.getvalue().splitlines()[-1]
    assert last.startswith("the demo call could not be placed: ARI POST /channels -> 503")
    assert last.endswith("Shutdown in progress")


async def test_a_dialplan_that_does_not_reach_our_app_is_reported_and_exits_1(
    tmp_path: Path, pbx: PbxSimulator, vosk_models: VoskModelCache
) -> None:
    # Our app is "frontdesk", but the PBX's [callwright-inbound] runs Stasis(callwright,...):
    # the call fails in the dialplan and never reaches the assistant.
    settings = pbx_settings(tmp_path, pbx, CALLWRIGHT_ARI_APP="frontdesk")
    out = io.StringIO()
    async with asyncio.timeout(60):
        code = await run_demo(settings, once=True, admin=False, out=out, vosk_models=vosk_models)
    assert code == 1
    assert ("the demo call ended without reaching the assistant: check that context "
            "'callwright-inbound' ([demo] context) exists on Asterisk and sends 100 to "
            "Stasis(frontdesk,${EXTEN})") in out.getvalue()
    assert pbx.pbx.channels == {}


async def test_a_call_that_never_reaches_the_assistant_is_hung_up_in_time(
    tmp_path: Path, pbx: PbxSimulator, vosk_models: VoskModelCache,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # [demo] context names a context that just answers (a phone, say): nothing reaches the app.
    monkeypatch.setattr(demo, "PBX_REACH_S", 1)
    settings = pbx_settings(tmp_path, pbx, CALLWRIGHT_DEMO_CONTEXT="caller")
    out = io.StringIO()
    async with asyncio.timeout(60):
        code = await run_demo(settings, once=True, admin=False, out=out, vosk_models=vosk_models)
    assert code == 1
    text = out.getvalue()
    assert "Local/100@caller" in text
    assert "no call reached the assistant within 1 s; the demo call was hung up" in text
    assert "the demo call ended without reaching the assistant" in text
    assert pbx.pbx.channels == {}


def demo_settings(tmp_path: Path, **env: str) -> Settings:
    """No ``[ari] url``: the demo runs its own simulator; the admin on a free local port."""
    return load_config(None, env={
        **store_env(tmp_path), "CALLWRIGHT_ADMIN_HOST": "127.0.0.1",
        "CALLWRIGHT_ADMIN_PORT": str(free_port()), **env,
    })


async def test_the_demo_serves_its_admin_over_https_with_a_certificate(
    tmp_path: Path, vosk_models: VoskModelCache
) -> None:
    """``callwright demo`` (simulator) with ``[admin] tls_cert``/``tls_key``: the demo call, then
    the admin on https:// (said so), reachable by a client trusting the certificate's CA; the
    service warmed one recognizer only; SIGTERM ends the demo with the call's exit code."""
    certs = make_certs(tmp_path / "tls")
    settings = demo_settings(tmp_path, CALLWRIGHT_ADMIN_TLS_CERT=str(certs.cert),
                             CALLWRIGHT_ADMIN_TLS_KEY=str(certs.key))
    out = io.StringIO()
    made: list[int] = []

    def service(settings: Settings, *, vosk_models: VoskModelCache,
                warm_streams: int) -> CallService:
        made.append(warm_streams)
        return CallService(settings, vosk_models=vosk_models, warm_streams=warm_streams)

    mp = pytest.MonkeyPatch()
    mp.setattr(demo, "CallService", service)
    running = asyncio.create_task(run_demo(settings, once=False, admin=True, out=out,
                                           vosk_models=vosk_models))
    try:
        deadline = time.monotonic() + 120
        while "press Ctrl-C to stop" not in out.getvalue():
            assert not running.done(), out.getvalue()
            assert time.monotonic() < deadline, out.getvalue()
            await asyncio.sleep(0.1)
        url = f"https://127.0.0.1:{settings.admin.port}/"
        assert f"\nadmin: {url}\n" in out.getvalue()
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "login", ssl=certs.client_context()) as response:
                assert response.status == 200
            with pytest.raises(aiohttp.ClientError):  # no plain HTTP on that port
                async with http.get(f"http://127.0.0.1:{settings.admin.port}/login"):
                    pass
        # wait_for_signal has its handlers on the loop: this ends the demo, not the tests.
        os.kill(os.getpid(), signal.SIGTERM)
        async with asyncio.timeout(30):
            code = await running
    finally:
        mp.undo()
        if not running.done():
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
    assert code == 0, out.getvalue()
    assert "completed (demo_booked)" in out.getvalue()
    assert made == [demo.DEMO_WARM_STREAMS] == [1]


async def test_a_wrong_admin_key_stops_the_demo_before_anything_starts(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "tls")
    other = make_certs(tmp_path / "other", "other")
    settings = demo_settings(tmp_path, CALLWRIGHT_ADMIN_TLS_CERT=str(certs.cert),
                             CALLWRIGHT_ADMIN_TLS_KEY=str(other.key))
    out = io.StringIO()
    with pytest.raises(ConfigError, match="admin.tls_key"):
        await run_demo(settings, once=False, admin=True, out=out)
    assert out.getvalue() == ""
    assert not (tmp_path / "callwright.db").exists()
