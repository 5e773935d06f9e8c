"""A whole call with ARI over TLS: the real call service against the PBX simulator serving https and
wss with a certificate from a test CA, trusted through ``[ari] ca_file``. REST, the events
WebSocket and the media WebSocket all go through the service's one TLS context."""

from __future__ import annotations

import asyncio
import ssl
import threading
from pathlib import Path

import aiohttp
import pytest

import ari_app.service
from ari_app.ari.rest import AriRestClient
from ari_app.demo import DEMO_CALLER, DEMO_NUMBER
from ari_app.service import CallService
from callwright.config import AriSettings, Settings, load_config
from callwright.errors import ConfigError
from tests.ari_app.conftest import PASSWORD, MakeHarness
from tests.fakes.certificates import CertFiles, make_certs


@pytest.fixture
def certs(tmp_path: Path) -> CertFiles:
    return make_certs(tmp_path / "pbx-tls")


async def test_a_call_over_https_wss_and_wss_media(make_harness: MakeHarness,
                                                   certs: CertFiles) -> None:
    h = await make_harness(
        env={"CALLWRIGHT_ARI_CA_FILE": str(certs.ca), "CALLWRIGHT_MEDIA_TRANSPORT": "websocket",
             "CALLWRIGHT_MEDIA_FORMAT": "slin16"},
        sim_options={"ssl_context": certs.server_context()},
    )
    assert h.settings.ari.url.startswith("https://")
    call = await h.sim.place_call(dialed=DEMO_NUMBER, caller_number=DEMO_CALLER,
                                  app=h.settings.ari.app)
    await call.caller.wait_for_speech(timeout=10)  # the greeting, over the wss media socket
    await call.caller.hangup()
    row = await h.closed_call()
    assert (row.status, row.end_reason) == ("completed", "caller_hangup")
    events = {e.kind: e.detail for e in await h.calls.events(row.id)}
    assert str(events["media_connected"]["media_channel"]).startswith("WebSocket/")
    connector = aiohttp.TCPConnector(ssl=certs.client_context())
    async with aiohttp.ClientSession(connector=connector) as session:
        rest = AriRestClient(session, h.sim.ari_url, h.settings.ari.username, PASSWORD)
        for _ in range(100):
            if not await rest.list_channels() and not await rest.list_bridges():
                break
            await asyncio.sleep(0.03)
        assert await rest.list_channels() == [] and await rest.list_bridges() == []


def test_a_bad_ca_file_stops_the_service_before_it_starts(tmp_path: Path) -> None:
    settings = load_config(None, env={
        "CALLWRIGHT_ARI_URL": "https://127.0.0.1:8089", "CALLWRIGHT_ARI_PASSWORD": "p",
        "CALLWRIGHT_ARI_CA_FILE": str(tmp_path / "absent-ca.pem"),
        "CALLWRIGHT_STORE_PATH": str(tmp_path / "cw.db"),
    })
    with pytest.raises(ConfigError, match="existing file") as info:
        CallService(settings)
    assert info.value.key == "ari.ca_file"
    assert not (tmp_path / "cw.db").exists()


def _https_settings(tmp_path: Path, **env: str) -> Settings:
    return load_config(None, env={
        "CALLWRIGHT_ARI_URL": "https://127.0.0.1:8089", "CALLWRIGHT_ARI_PASSWORD": "p",
        "CALLWRIGHT_STORE_PATH": str(tmp_path / "cw.db"), **env,
    })


async def test_the_tls_context_is_built_on_a_worker_thread_not_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Loading the CA certificates took 150 ms and more inside CallService(): a stalled loop.
    built_on: list[int] = []

    def spy(ari: AriSettings) -> ssl.SSLContext:
        built_on.append(threading.get_ident())
        raise ConfigError("ari.ca_file", "the context the test stops at")

    monkeypatch.setattr(ari_app.service, "ari_client_context", spy)
    service = CallService(_https_settings(tmp_path))
    assert built_on == []
    with pytest.raises(ConfigError, match="the test stops at"):
        await service.start()
    assert len(built_on) == 1 and built_on[0] != threading.get_ident()
    assert not (tmp_path / "cw.db").exists()  # before anything else started


async def test_a_ca_file_holding_no_certificate_stops_the_start_before_the_store(
    tmp_path: Path,
) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("junk\n")
    service = CallService(_https_settings(tmp_path, CALLWRIGHT_ARI_CA_FILE=str(junk)))
    with pytest.raises(ConfigError, match="CA certificates") as info:
        await service.start()
    assert info.value.key == "ari.ca_file"
    assert not (tmp_path / "cw.db").exists()


async def test_a_given_tls_context_is_used_as_is(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def never(ari: AriSettings) -> ssl.SSLContext:
        raise AssertionError("built although given")

    monkeypatch.setattr(ari_app.service, "ari_client_context", never)
    given = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    service = CallService(_https_settings(tmp_path), ari_tls=given)
    assert service.ari_tls is given
