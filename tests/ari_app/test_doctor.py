"""``callwright doctor``'s ARI checks against the PBX simulator: every check ok for each media
transport, then each failure with its fix, and the probe leaving nothing behind in Asterisk."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from ari_app.ari.connection import AriEventStream
from ari_app.ari.events import AriEvent
from ari_app.ari.rest import AriRestClient
from ari_app.doctor import ari_checks, classify
from ari_app.doctor_media import PROBE_ID_PREFIX, doctor_app
from ari_app.simulator.server import PbxSimulator
from callwright.config import Settings, load_config
from callwright.doctor.asterisk import AriProblem
from callwright.doctor.report import Check, Status
from callwright.errors import AriError, AriUnavailable, ProtocolError
from tests.fakes.certificates import make_certs

PASSWORD = "doctor-secret"
STEP_S = 2.0
AUDIO_S = 1.0

RunChecks = Callable[..., Awaitable[dict[str, Check]]]


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings_for(url: str, env: Mapping[str, str] | None = None) -> Settings:
    return load_config(None, env={
        "CALLWRIGHT_ARI_URL": url, "CALLWRIGHT_ARI_PASSWORD": PASSWORD, **(env or {}),
    })


async def _ignore(event: AriEvent) -> None:
    return None


class Pbx:
    """The simulator, and the app a running `callwright serve` would have registered."""

    def __init__(self, sim: PbxSimulator, session: aiohttp.ClientSession) -> None:
        self.sim = sim
        self.session = session
        self.serve: AriEventStream | None = None

    @property
    def url(self) -> str:
        return self.sim.ari_url

    async def register_app(self, app: str = "callwright") -> None:
        self.serve = AriEventStream(self.session, self.url, self.sim.username, PASSWORD, app,
                                    on_event=_ignore)
        await self.serve.start()

    def doctor_apps(self) -> list[str]:
        return [name for name in self.sim.hub.apps if name.startswith("callwright-doctor")]

    async def leftovers(self) -> tuple[list[Any], list[Any], list[str]]:
        """Channels, bridges, and the doctor's apps Asterisk still knows, once settled."""
        rest = AriRestClient(self.session, self.url, self.sim.username, PASSWORD)
        for _ in range(50):
            channels, bridges = await rest.list_channels(), await rest.list_bridges()
            if not channels and not bridges and not self.doctor_apps():
                break
            await asyncio.sleep(0.02)
        return channels, bridges, self.doctor_apps()


@pytest.fixture
async def pbx() -> AsyncIterator[Pbx]:
    sim = PbxSimulator(password=PASSWORD)
    await sim.start()
    async with aiohttp.ClientSession() as session:
        side = Pbx(sim, session)
        yield side
        if side.serve is not None:
            await side.serve.stop()
    await sim.stop()


@pytest.fixture
async def run_checks() -> AsyncIterator[RunChecks]:
    async with aiohttp.ClientSession() as session:
        async def run(settings: Settings, **kwargs: float) -> dict[str, Check]:
            kwargs.setdefault("step_timeout_s", STEP_S)
            kwargs.setdefault("audio_timeout_s", AUDIO_S)
            checks = await ari_checks(settings, session, **kwargs)
            return {c.id: c for c in checks}

        yield run


def statuses(checks: dict[str, Check]) -> dict[str, Status]:
    return {key: c.status for key, c in checks.items()}


ALL_OK = {k: Status.OK for k in ("ari", "app", "modules", "media", "clock-asterisk")}


@pytest.mark.parametrize(("transport", "fmt"), [
    ("rtp", "ulaw"), ("rtp", "slin"), ("audiosocket", "slin16"), ("websocket", "slin16"),
])
async def test_every_check_passes_and_the_probe_leaves_nothing(
    pbx: Pbx, run_checks: RunChecks, transport: str, fmt: str
) -> None:
    await pbx.register_app()
    settings = settings_for(pbx.url, {
        "CALLWRIGHT_MEDIA_TRANSPORT": transport, "CALLWRIGHT_MEDIA_FORMAT": fmt,
        "CALLWRIGHT_MEDIA_AUDIOSOCKET_PORT": str(free_tcp_port()),
    })
    checks = await run_checks(settings)
    assert statuses(checks) == ALL_OK, checks
    assert "Asterisk 22.10.1" in checks["ari"].detail
    assert "0 channel(s)" in checks["app"].detail
    assert f"for {transport} media" in checks["modules"].title
    assert fmt in checks["media"].detail
    assert "ms after the silence started" in checks["media"].detail
    assert await pbx.leftovers() == ([], [], [])


async def test_the_probe_uses_its_own_app_so_the_service_never_sees_it(
    pbx: Pbx, run_checks: RunChecks
) -> None:
    seen: list[AriEvent] = []

    async def record(event: AriEvent) -> None:
        seen.append(event)

    pbx.serve = AriEventStream(pbx.session, pbx.url, pbx.sim.username, PASSWORD, "callwright",
                               on_event=record)
    await pbx.serve.start()
    checks = await run_checks(settings_for(pbx.url))
    assert checks["media"].status is Status.OK
    assert seen == []


async def test_wrong_password_fails_naming_ari_password(pbx: Pbx, run_checks: RunChecks) -> None:
    settings = settings_for(pbx.url, {"CALLWRIGHT_ARI_PASSWORD": "not-it"})
    checks = await run_checks(settings)
    ari = checks["ari"]
    assert ari.status is Status.FAIL
    assert "credentials refused (401)" in ari.detail
    assert "[ari] password" in ari.fix and "ari.conf" in ari.fix and "[callwright]" in ari.fix
    assert {checks[k].status for k in ("app", "modules", "media", "clock-asterisk")} == {
        Status.SKIP}


async def test_nothing_listening_fails_with_the_http_conf_lines(run_checks: RunChecks) -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    checks = await run_checks(settings_for(f"http://127.0.0.1:{port}"))
    ari = checks["ari"]
    assert ari.status is Status.FAIL and "connection refused" in ari.detail
    assert f"bindport = {port}" in ari.fix and "enabled = yes" in ari.fix
    assert checks["media"].status is Status.SKIP


async def test_a_pbx_that_never_answers_fails_within_the_step_timeout(
    run_checks: RunChecks,
) -> None:
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # accept, read nothing, answer nothing

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    started = loop.time()
    checks = await run_checks(settings_for(f"http://127.0.0.1:{port}"), step_timeout_s=0.5)
    assert loop.time() - started < 2.0
    assert checks["ari"].status is Status.FAIL
    assert "no answer" in checks["ari"].detail and "firewall" in checks["ari"].fix
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_an_untrusted_certificate_fails_naming_ari_ca_file(
    tmp_path: Path, run_checks: RunChecks
) -> None:
    certs = await asyncio.to_thread(make_certs, tmp_path / "tls")
    sim = PbxSimulator(password=PASSWORD, ssl_context=certs.server_context())
    await sim.start()
    try:
        checks = await run_checks(settings_for(sim.ari_url))
    finally:
        await sim.stop()
    assert sim.ari_url.startswith("https://")
    assert checks["ari"].status is Status.FAIL
    assert "certificate not trusted" in checks["ari"].detail
    assert "[ari] ca_file" in checks["ari"].fix


async def test_app_not_registered_is_a_warning(pbx: Pbx, run_checks: RunChecks) -> None:
    checks = await run_checks(settings_for(pbx.url))
    app = checks["app"]
    assert app.status is Status.WARN
    assert "not registered" in app.detail and "callwright serve" in app.fix
    assert checks["media"].status is Status.OK  # the probe has its own app


async def test_media_unreachable_fails_naming_advertise_host(
    pbx: Pbx, run_checks: RunChecks
) -> None:
    settings = settings_for(pbx.url, {"CALLWRIGHT_MEDIA_ADVERTISE_HOST": "127.0.0.2"})
    checks = await run_checks(settings)
    media = checks["media"]
    assert media.status is Status.FAIL
    assert "nothing arrived" in media.detail and "127.0.0.2" in media.detail
    assert "[media] advertise_host" in media.fix and "UDP 40000-40999" in media.fix
    assert await pbx.leftovers() == ([], [], [])


async def test_audiosocket_unreachable_fails_naming_advertise_host(
    pbx: Pbx, run_checks: RunChecks
) -> None:
    settings = settings_for(pbx.url, {
        "CALLWRIGHT_MEDIA_TRANSPORT": "audiosocket", "CALLWRIGHT_MEDIA_FORMAT": "slin16",
        "CALLWRIGHT_MEDIA_AUDIOSOCKET_PORT": str(free_tcp_port()),
        "CALLWRIGHT_MEDIA_ADVERTISE_HOST": "127.0.0.2",
    })
    media = (await run_checks(settings))["media"]
    assert media.status is Status.FAIL and "nothing arrived" in media.detail
    assert "[media] advertise_host" in media.fix and "TCP" in media.fix
    assert await pbx.leftovers() == ([], [], [])


async def test_a_taken_audiosocket_port_is_probed_elsewhere_and_said(
    pbx: Pbx, run_checks: RunChecks
) -> None:
    taken = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = taken.sockets[0].getsockname()[1]
    try:
        settings = settings_for(pbx.url, {
            "CALLWRIGHT_MEDIA_TRANSPORT": "audiosocket", "CALLWRIGHT_MEDIA_FORMAT": "slin",
            "CALLWRIGHT_MEDIA_AUDIOSOCKET_PORT": str(port),
        })
        media = (await run_checks(settings))["media"]
    finally:
        taken.close()
        await taken.wait_closed()
    assert media.status is Status.OK
    assert f"port {port} is taken" in media.detail


async def test_a_missing_module_fails_with_its_modules_conf_line(
    pbx: Pbx, run_checks: RunChecks
) -> None:
    await pbx.register_app()
    del pbx.sim.ctx.modules["chan_rtp.so"]
    checks = await run_checks(settings_for(pbx.url))
    modules = checks["modules"]
    assert modules.status is Status.FAIL
    assert "chan_rtp.so (ExternalMedia over RTP)" in modules.detail
    assert "load = chan_rtp.so" in modules.fix
    assert "module load chan_rtp.so" in modules.fix
    media = checks["media"]
    assert media.status is Status.FAIL and "chan_rtp.so is not loaded" in media.detail
    assert "load = chan_rtp.so" in media.fix
    assert await pbx.leftovers() == ([], [], [])


async def test_an_optional_module_missing_is_a_warning(pbx: Pbx, run_checks: RunChecks) -> None:
    del pbx.sim.ctx.modules["res_timing_timerfd.so"]
    modules = (await run_checks(settings_for(pbx.url)))["modules"]
    assert modules.status is Status.WARN
    assert "load = res_timing_timerfd.so" in modules.fix


async def test_ari_url_unset_fails_and_skips_the_rest(run_checks: RunChecks) -> None:
    checks = await run_checks(load_config(None, env={}))
    assert checks["ari"].status is Status.FAIL
    assert 'url = "http://127.0.0.1:8088"' in checks["ari"].fix
    assert checks["media"].status is Status.SKIP


async def test_the_probe_channel_is_deleted_when_the_wait_is_cut_short(
    pbx: Pbx, run_checks: RunChecks
) -> None:
    """Cancelled while it waits for audio (Ctrl-C): the channel is still deleted."""
    settings = settings_for(pbx.url, {"CALLWRIGHT_MEDIA_ADVERTISE_HOST": "127.0.0.2"})
    task = asyncio.ensure_future(run_checks(settings, audio_timeout_s=5.0))
    for _ in range(200):
        if any(c.id.startswith(PROBE_ID_PREFIX) for c in pbx.sim.pbx.channels.values()):
            break
        await asyncio.sleep(0.01)
    assert any(c.id.startswith(PROBE_ID_PREFIX) for c in pbx.sim.pbx.channels.values())
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await pbx.leftovers() == ([], [], [])


@pytest.mark.parametrize(("error", "problem"), [
    (AriError("GET", "/asterisk/info", 401, "Authentication required"), AriProblem.UNAUTHORIZED),
    (AriError("GET", "/asterisk/info", 403, "Forbidden"), AriProblem.FORBIDDEN),
    (AriError("GET", "/asterisk/info", 500, "Oops"), AriProblem.OTHER),
    (AriUnavailable("ARI GET /asterisk/info -> 503: Asterisk not booted", 503),
     AriProblem.STARTING),
    (AriUnavailable("ARI GET /asterisk/info -> 404: Not Found", 404), AriProblem.NO_ARI),
    (ProtocolError("ARI GET /asterisk/info: response is not JSON"), AriProblem.NOT_ARI),
])
def test_errors_are_told_apart(error: AriError | AriUnavailable | ProtocolError,
                               problem: AriProblem) -> None:
    assert classify(error) is problem


async def test_asterisk_still_booting_says_to_retry(run_checks: RunChecks) -> None:
    """Recorded during a restart: 503 {"message":"Asterisk not booted"}."""
    async def booting(request: web.Request) -> web.Response:
        return web.json_response({"message": "Asterisk not booted"}, status=503)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", booting)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        ari = (await run_checks(settings_for(f"http://127.0.0.1:{port}")))["ari"]
    finally:
        await runner.cleanup()
    assert ari.status is Status.FAIL
    assert ari.detail.endswith("Asterisk is starting or stopping (503): HTTP 503 Asterisk not "
                               "booted")
    assert "again in a few seconds" in ari.fix


async def test_two_doctors_at_once_do_not_disturb_each_other(
    pbx: Pbx, run_checks: RunChecks
) -> None:
    assert doctor_app("callwright").startswith("callwright-doctor-")
    assert doctor_app("callwright") != doctor_app("callwright")
    settings = settings_for(pbx.url)
    first, second = await asyncio.gather(run_checks(settings), run_checks(settings))
    assert first["media"].status is Status.OK and second["media"].status is Status.OK
    assert await pbx.leftovers() == ([], [], [])
