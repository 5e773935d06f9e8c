"""``callwright doctor`` with a ``[[pbx]]`` list (issue 13): every entry is checked through its
own ARI and media settings, each line named by its PBX; a PBX refusing our credentials fails on
its own lines with a fix naming its entry, the other PBX's lines stay ok."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from ari_app.ari.connection import AriEventStream
from ari_app.ari.events import AriEvent
from ari_app.doctor import ari_checks
from ari_app.simulator.server import PbxSimulator
from callwright.config import load_config
from callwright.doctor.report import Status

PASSWORD = "doctor-secret"
CHECKS = ("ari", "app", "modules", "media", "clock-asterisk")


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _ignore(event: AriEvent) -> None:
    return None


@pytest.fixture
async def sims() -> AsyncIterator[tuple[PbxSimulator, PbxSimulator]]:
    a, b = PbxSimulator(password=PASSWORD), PbxSimulator(password=PASSWORD)
    await a.start()
    await b.start()
    yield a, b
    await a.stop()
    await b.stop()


async def test_each_pbx_is_checked_and_named(
    tmp_path: Path, sims: tuple[PbxSimulator, PbxSimulator]
) -> None:
    a, b = sims
    config = tmp_path / "callwright.toml"
    config.write_text(
        f'[[pbx]]\nname = "pbx-a"\nurl = "{a.ari_url}"\npassword = "{PASSWORD}"\n'
        f'[pbx.media]\nrtp_port_min = 31000\nrtp_port_max = 31198\n'
        f'audiosocket_port = {free_tcp_port()}\n\n'
        f'[[pbx]]\nname = "pbx-b"\nurl = "{b.ari_url}"\npassword = "wrong"\n'
        f'[pbx.media]\nrtp_port_min = 31200\nrtp_port_max = 31398\n'
        f'audiosocket_port = {free_tcp_port()}\n', encoding="utf-8")
    settings = load_config(config, env={})
    async with aiohttp.ClientSession() as session:
        serve = AriEventStream(session, a.ari_url, a.username, PASSWORD, "callwright",
                               on_event=_ignore)
        await serve.start()  # pbx-a has the app registered, as `callwright serve` would
        try:
            checks = {c.id: c for c in await ari_checks(settings, session, step_timeout_s=2.0,
                                                         audio_timeout_s=1.0)}
        finally:
            await serve.stop()
    assert list(checks) == [f"{c}.{p}" for p in ("pbx-a", "pbx-b") for c in CHECKS]
    assert {c: checks[f"{c}.pbx-a"].status for c in CHECKS} == dict.fromkeys(CHECKS, Status.OK)
    assert all(checks[f"{c}.pbx-a"].title.startswith("pbx-a: ") for c in CHECKS)
    refused = checks["ari.pbx-b"]
    assert refused.status is Status.FAIL and refused.title.startswith("pbx-b: ")
    assert "401" in refused.detail
    assert refused.fix.startswith("pbx-b: ") and "[ari]" not in refused.fix
    assert '[[pbx]] "pbx-b"' in refused.fix
    assert {checks[f"{c}.pbx-b"].status for c in CHECKS[1:]} == {Status.SKIP}


async def test_a_pbx_with_its_own_bad_tls_settings_fails_alone(
    tmp_path: Path, sims: tuple[PbxSimulator, PbxSimulator]
) -> None:
    a, b = sims
    bad_ca = tmp_path / "not-a-ca.pem"
    bad_ca.write_text("not a certificate\n", encoding="utf-8")
    config = tmp_path / "callwright.toml"
    config.write_text(
        f'[[pbx]]\nname = "pbx-a"\nurl = "{a.ari_url}"\npassword = "{PASSWORD}"\n'
        f'[pbx.media]\nrtp_port_min = 31400\nrtp_port_max = 31598\n'
        f'audiosocket_port = {free_tcp_port()}\n\n'
        f'[[pbx]]\nname = "pbx-b"\nurl = "{b.ari_url.replace("http:", "https:")}"\n'
        f'password = "{PASSWORD}"\nca_file = "{bad_ca}"\n'
        f'[pbx.media]\nrtp_port_min = 31600\nrtp_port_max = 31798\n'
        f'audiosocket_port = {free_tcp_port()}\n', encoding="utf-8")
    settings = load_config(config, env={})
    async with aiohttp.ClientSession() as session:
        checks = {c.id: c for c in await ari_checks(settings, session, step_timeout_s=2.0,
                                                     audio_timeout_s=1.0)}
    assert checks["ari.pbx-a"].status is Status.OK
    bad = checks["ari.pbx-b"]
    assert bad.status is Status.FAIL and "TLS settings" in bad.detail
    assert {checks[f"{c}.pbx-b"].status for c in CHECKS[1:]} == {Status.SKIP}
