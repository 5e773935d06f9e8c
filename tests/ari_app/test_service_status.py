"""Health, readiness and metrics of the real call service against the PBX simulator: /readyz
follows ARI, the store and draining, a whole call moves the metrics, recoveries are counted by
action, and a call's log lines carry its uid."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
import sqlite3
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ari_app.demo import DEMO_CALLER, DEMO_NUMBER, DEMO_PHRASES
from ari_app.demo_caller import converse, heard_speech_after, synthesize_phrases
from ari_app.service import CallService
from ari_app.simulator.calls import ContinuedTo
from ari_app.simulator.server import PbxSimulator
from callwright.config import load_config
from callwright.dialog.demo_flow import DEMO_FLOW
from callwright.observability.logs import log_handler
from callwright.speech.vosk_stt import VoskModelCache
from callwright.store.assistants import AssistantRepository
from callwright.store.db import Database
from callwright.store.numbers import NumberRepository
from callwright.store.seed import seed_demo
from tests.ari_app.conftest import PASSWORD, Harness, MakeHarness
from tests.ari_app.simulator.conftest import AppSide
from tests.ari_app.simulator.media_helpers import RtpPeer
from tests.ari_app.simulator.test_inbound_call import bridge_with_media

pytestmark = pytest.mark.slow

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def with_status(make_harness: MakeHarness) -> tuple[Harness, str]:
    port = free_port()
    h = await make_harness(env={"CALLWRIGHT_SERVER_STATUS_PORT": str(port)})
    return h, f"http://127.0.0.1:{port}"


async def readyz(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/readyz") as response:
        return response.status, await response.json()


async def wait_readyz(url: str, check: Callable[[int, dict[str, Any]], bool],
                      within_s: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + within_s
    while True:
        status, body = await readyz(url)
        if check(status, body):
            return body
        assert time.monotonic() < deadline, f"/readyz still {status} {body}"
        await asyncio.sleep(0.1)


async def scrape(url: str) -> Samples:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as response:
        assert response.status == 200
        text = await response.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text) for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


async def test_the_status_listener_is_off_unless_configured(make_harness: MakeHarness) -> None:
    h = await make_harness()
    assert h.service.status.server is None


async def test_readyz_follows_the_store_and_the_ari_connection(
    make_harness: MakeHarness,
) -> None:
    h, url = await with_status(make_harness)
    async with aiohttp.ClientSession() as session, session.get(f"{url}/healthz") as response:
        assert response.status == 200
    status, body = await readyz(url)
    assert status == 200, body
    assert body["checks"] == {name: {"ready": True, "detail": "ok"}
                              for name in ("ari", "store", "models", "draining")}

    # Another process holds the store's write lock: not ready, then ready again once it lets go.
    other = sqlite3.connect(h.settings.store.path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        status, body = await readyz(url)
        assert status == 503 and body["not_ready"] == ["store"], body
        assert body["checks"]["store"]["detail"].startswith("no answer within")
        other.execute("ROLLBACK")
    finally:
        other.close()
    await wait_readyz(url, lambda status, _: status == 200)

    # Asterisk restarts: the events WebSocket drops (503 naming ari), then reconnects (200).
    restarting = asyncio.create_task(h.sim.restart(down_s=2.0))
    body = await wait_readyz(url, lambda status, _: status == 503)
    assert body["not_ready"] == ["ari"]
    assert body["checks"]["ari"]["detail"].startswith("events WebSocket down")
    await restarting
    await wait_readyz(url, lambda status, _: status == 200)
    samples = await scrape(url)
    assert value(samples, "callwright_ari_reconnects_total") == 1
    assert value(samples, "callwright_ari_connected") == 1


async def test_a_closed_store_is_not_ready(make_harness: MakeHarness) -> None:
    h, url = await with_status(make_harness)
    assert h.service.db is not None
    await h.service.db.close()
    status, body = await readyz(url)
    assert status == 503 and body["not_ready"] == ["store"]
    assert "closed" in body["checks"]["store"]["detail"]


async def test_a_call_moves_the_metrics_and_its_log_lines_carry_its_uid(
    make_harness: MakeHarness, caplog: pytest.LogCaptureFixture,
) -> None:
    h, url = await with_status(make_harness)
    before = await scrape(url)
    assert value(before, "callwright_calls_total", status="completed") == 0

    lines = io.StringIO()
    handler = log_handler("json", lines)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with caplog.at_level(logging.INFO):
            audio = await synthesize_phrases(await h.caller_voice(), DEMO_PHRASES, "ko")
            call = await h.sim.place_call(dialed=DEMO_NUMBER, caller_number=DEMO_CALLER,
                                          app=h.settings.ari.app)
            conversing = asyncio.create_task(
                converse(call, DEMO_PHRASES, audio, placed_at=time.monotonic(),
                         turn_timeout_s=25))
            await asyncio.sleep(1.0)
            during = await scrape(url)
            report = await conversing
            row = await h.closed_call()
    finally:
        root.removeHandler(handler)
    assert report.ended_by_assistant and row.status == "completed"

    assert value(during, "callwright_calls_in_progress") == 1
    assert value(during, "callwright_rtp_streams") == 1
    after = await scrape(url)
    assert value(after, "callwright_calls_in_progress") == 0
    assert value(after, "callwright_calls_total", status="completed") == 1
    assert value(after, "callwright_calls_total", status="failed") == 0
    # Two caller turns, each answered: every stage of both turns was observed.
    for stage in ("stt_final", "first_frame", "heard_gap", "dialog", "tts"):
        assert value(after, "callwright_turn_latency_seconds_count", stage=stage) >= 2, stage
    gap = value(after, "callwright_turn_latency_seconds_sum", stage="heard_gap")
    first_frame = value(after, "callwright_turn_latency_seconds_sum", stage="first_frame")
    assert gap > first_frame  # the caller also hears the endpointing silence
    assert value(after, "callwright_rtp_streams") == 0
    # The caller's side sends only while they speak: two short phrases, 20 ms a packet.
    assert value(after, "callwright_rtp_packets_received_total") > 50
    assert value(after, "callwright_rtp_packets_expected_total") >= \
        value(after, "callwright_rtp_packets_received_total")
    assert value(after, "callwright_rtp_jitter_seconds_count") == 1
    ticks = "callwright_pacer_ticks_total"
    assert value(after, ticks) > value(before, ticks)
    assert value(after, "callwright_event_loop_lag_seconds_count") > 0
    assert ("callwright_stt_queued_audio_seconds", ()) in after
    assert value(after, "callwright_pacer_late_ticks_total") >= 0

    records = [json.loads(line) for line in lines.getvalue().splitlines()]
    of_call = [r for r in records if r.get("call_uid") == row.uid]
    assert any(r["message"] == f"call {row.uid} ended: completed (demo_booked)" for r in of_call)
    # Every line that names the call is tagged with it; lines outside the call are not.
    naming = [r for r in records if row.uid in r["message"]]
    assert naming and all(r.get("call_uid") == row.uid for r in naming)
    assert all(r.get("call_uid") in (None, row.uid) for r in records)


async def test_readyz_is_not_ready_once_the_service_drains(make_harness: MakeHarness) -> None:
    h, url = await with_status(make_harness)
    await wait_readyz(url, lambda status, _: status == 200)
    await h.service.drain()  # no call in progress: the wait is over at once, draining stays
    status, body = await readyz(url)
    assert status == 503 and body["not_ready"] == ["draining"], body
    assert body["checks"]["draining"]["detail"].startswith("draining")
    assert body["checks"]["ari"]["ready"], "still connected while draining"


async def test_recoveries_are_counted_by_action(
    tmp_path: Path, vosk_models: VoskModelCache
) -> None:
    """Two callers left in our app by a process that died (bridged with its media channel): the
    new service resumes the demo assistant's caller and hands the other assistant's caller to the
    dialplan, and /metrics counts one of each."""
    settings = load_config(None, env={
        "CALLWRIGHT_SERVER_DATA_DIR": str(tmp_path),
        "CALLWRIGHT_STORE_PATH": str(tmp_path / "callwright.db"),
        "CALLWRIGHT_RECORDINGS_DIR": str(tmp_path / "recordings"),
        "CALLWRIGHT_SERVER_MASTER_KEY_FILE": str(tmp_path / "master.key"),
    })
    async with PbxSimulator(username=settings.ari.username, password=PASSWORD) as sim:
        settings = replace(settings, ari=replace(settings.ari, url=sim.ari_url, password=PASSWORD))
        db = await Database.open(settings.store.path)
        try:
            org, _, _ = await seed_demo(db, number=DEMO_NUMBER, language="ko", greeting="",
                                        flow=dict(DEMO_FLOW), record_calls=False)
            desk = await AssistantRepository(db).create(
                org.id, "Desk", "ko", "", flow=dict(DEMO_FLOW), on_recovery="dialplan",
                recovery_target="operators,s,1")
            await NumberRepository(db).create(org.id, "200", assistant_id=desk.id)
        finally:
            await db.close()
        auth = aiohttp.encode_basic_auth(sim.username, sim.password)
        peer = await RtpPeer.open()
        try:
            async with aiohttp.ClientSession(headers={"Authorization": auth}) as raw:
                dead = AppSide(sim, raw, settings.ari.app)
                await dead.connect()
                calls = []
                for dialed in (DEMO_NUMBER, "200"):
                    calls.append(await sim.place_call(dialed=dialed, app=settings.ari.app))
                    caller = (await dead.next_event("StasisStart"))["channel"]["id"]
                    await bridge_with_media(dead, caller, peer)
                assert dead.ws is not None
                dead.ws.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
                await asyncio.sleep(0.1)
        finally:
            peer.close()
        resumed, handed = calls
        service = CallService(settings, vosk_models=vosk_models, warm_streams=1)
        await service.start()
        try:
            registry = service.status.registry

            def counted(action: str) -> float | None:
                return registry.get_sample_value("callwright_recoveries_total",
                                                 {"action": action})

            assert counted("resume") == 0
            await heard_speech_after(resumed.caller, time.monotonic(), 5.0)
            await asyncio.wait_for(handed.ended(), 5.0)  # 1 s in the dialplan, then the end
            assert handed.continued_to == ContinuedTo("operators", "s", 1)
            assert (counted("resume"), counted("dialplan"), counted("hangup")) == (1, 1, 0)
        finally:
            await service.stop()
