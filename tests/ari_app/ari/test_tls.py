"""ARI over https/wss: the REST client and the events stream against the PBX simulator serving TLS
with a certificate from a test CA, through one session whose connector carries the context built
from ``[ari] ca_file`` and ``verify`` (as the call service builds it)."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from ari_app.ari import events as ev
from ari_app.ari.connection import AriEventStream
from ari_app.ari.rest import AriRestClient
from ari_app.simulator.server import PbxSimulator
from callwright.config import AriSettings
from callwright.errors import AriUnavailable
from callwright.tls import ari_client_context
from tests.fakes.certificates import CertFiles, make_certs

APP = "callwright"
PASSWORD = "tls-secret"


@pytest.fixture
def certs(tmp_path: Path) -> CertFiles:
    return make_certs(tmp_path / "pbx")


@pytest.fixture
def wrong_ca(tmp_path: Path) -> Path:
    """A CA that did not sign the simulator's certificate."""
    return make_certs(tmp_path / "stranger", "stranger").ca


@pytest.fixture
async def tls_sim(certs: CertFiles) -> AsyncIterator[PbxSimulator]:
    async with PbxSimulator(password=PASSWORD, seed=1,
                            ssl_context=certs.server_context()) as simulator:
        yield simulator


@asynccontextmanager
async def ari_session(ari: AriSettings) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(ssl=ari_client_context(ari))
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


def settings_for(sim: PbxSimulator, **tls: object) -> AriSettings:
    return AriSettings(url=sim.ari_url, username=sim.username, password=PASSWORD,
                       **tls)  # type: ignore[arg-type]


def stream_for(session: aiohttp.ClientSession, sim: PbxSimulator,
               seen: list[ev.AriEvent], **options: float) -> AriEventStream:
    async def on_event(event: ev.AriEvent) -> None:
        seen.append(event)

    return AriEventStream(session, sim.ari_url, sim.username, PASSWORD, APP, on_event=on_event,
                          rng=random.Random(3), **options)  # type: ignore[arg-type]


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def run_a_call(session: aiohttp.ClientSession, sim: PbxSimulator) -> None:
    """Events over wss and REST over https, both through ``session``: a call arrives, is seen
    and hung up."""
    seen: list[ev.AriEvent] = []
    stream = stream_for(session, sim, seen)
    rest = AriRestClient(session, sim.ari_url, sim.username, PASSWORD)
    await stream.start()
    try:
        call = await sim.place_call(app=APP)
        await wait_until(lambda: any(isinstance(e, ev.StasisStart) for e in seen))
        assert call.channel_id in [c.id for c in await rest.list_channels()]
        await rest.hangup(call.channel_id)
        await wait_until(lambda: any(isinstance(e, ev.StasisEnd) for e in seen))
        assert stream.connect_failures == 0
    finally:
        await stream.stop()


async def test_https_and_wss_with_the_ca_file(tls_sim: PbxSimulator, certs: CertFiles) -> None:
    assert tls_sim.ari_url.startswith("https://")
    async with ari_session(settings_for(tls_sim, ca_file=certs.ca)) as session:
        await run_a_call(session, tls_sim)


async def test_verify_false_accepts_the_certificate(tls_sim: PbxSimulator) -> None:
    async with ari_session(settings_for(tls_sim, verify=False)) as session:
        await run_a_call(session, tls_sim)


async def test_plain_http_keeps_working_with_the_same_session(certs: CertFiles) -> None:
    async with PbxSimulator(password=PASSWORD, seed=1) as sim, \
            ari_session(settings_for(sim, ca_file=certs.ca)) as session:
        assert sim.ari_url.startswith("http://")
        await run_a_call(session, sim)


async def test_rest_with_a_wrong_ca_is_unavailable_with_the_reason(
    tls_sim: PbxSimulator, wrong_ca: Path
) -> None:
    async with ari_session(settings_for(tls_sim, ca_file=wrong_ca)) as session:
        rest = AriRestClient(session, tls_sim.ari_url, tls_sim.username, PASSWORD)
        with pytest.raises(AriUnavailable) as info:
            await rest.list_channels()
    message = str(info.value)
    assert "TLS certificate of 127.0.0.1:" in message and "not trusted" in message
    assert "unable to get local issuer certificate" in message and "ari.ca_file" in message


async def test_the_system_cas_do_not_trust_a_private_ca(tls_sim: PbxSimulator) -> None:
    async with ari_session(settings_for(tls_sim)) as session:
        rest = AriRestClient(session, tls_sim.ari_url, tls_sim.username, PASSWORD)
        with pytest.raises(AriUnavailable, match="not trusted"):
            await rest.get_info()


async def test_stream_with_a_wrong_ca_keeps_retrying_and_says_why(
    tls_sim: PbxSimulator, wrong_ca: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ari_app.ari.connection")
    seen: list[ev.AriEvent] = []
    async with ari_session(settings_for(tls_sim, ca_file=wrong_ca)) as session:
        stream = stream_for(session, tls_sim, seen, reconnect_initial_s=0.05,
                            reconnect_max_s=0.1, start_timeout_s=1.0)
        with pytest.raises(AriUnavailable) as info:
            await stream.start()
    assert "not connected within 1 s" in str(info.value)
    assert "not trusted" in str(info.value) and "ari.ca_file" in str(info.value)
    assert stream.connect_failures >= 3  # it kept trying, as for a refused connection
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "not trusted" in errors[0].getMessage()  # said once, loudly
    assert seen == []


async def test_https_to_a_plain_http_port_says_so(certs: CertFiles) -> None:
    async with PbxSimulator(password=PASSWORD, seed=1) as sim, \
            ari_session(settings_for(sim, ca_file=certs.ca)) as session:
        url = sim.ari_url.replace("http://", "https://")
        rest = AriRestClient(session, url, sim.username, PASSWORD)
        with pytest.raises(AriUnavailable, match="TLS handshake with 127.0.0.1:.* failed.*"
                                                 "http.conf"):
            await rest.get_info()
