"""Several PBXs and several call nodes on one store (issue 13), with the real call service on
PBX simulators: one node serving two Asterisk servers ([[pbx]]), and two nodes on two
simulators sharing one SQLite store, one of them going silent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

import ari_app.service as service_module
from ari_app.demo import DEMO_CALLER, DEMO_NUMBER, DEMO_PHRASES
from ari_app.demo_caller import converse, synthesize_phrases
from ari_app.service import CallService
from ari_app.simulator.server import PbxSimulator
from callwright.config import Settings, load_config
from callwright.dialog.demo_flow import DEMO_FLOW
from callwright.speech.registry import SpeechEngines
from callwright.speech.vosk_stt import VoskModelCache
from callwright.speech.warmup import EngineUse, warm_engines
from callwright.store.calls import Call, CallRepository
from callwright.store.db import Database
from callwright.store.job_leases import JobLeaseRepository
from callwright.store.seed import DEMO_ASSISTANT_NAME, seed_demo
from tests.ari_app.conftest import PASSWORD

pytestmark = pytest.mark.slow

MakeSim = Callable[[], Awaitable[PbxSimulator]]


@pytest.fixture
async def make_sim() -> AsyncIterator[MakeSim]:
    made: list[PbxSimulator] = []

    async def make() -> PbxSimulator:
        sim = PbxSimulator(username="callwright", password=PASSWORD)
        await sim.start()
        made.append(sim)
        return sim

    yield make
    for sim in made:
        await sim.stop()


def node_settings(tmp_path: Path, node: str, sims: dict[str, PbxSimulator],
                  rtp_base: int) -> Settings:
    """A node's settings: the shared store and recordings in ``tmp_path``, one [[pbx]] per
    simulator (RTP ranges apart), a 3 s lost-node delay."""
    entries = []
    for i, (name, sim) in enumerate(sims.items()):
        low = rtp_base + 200 * i
        entries.append(f'[[pbx]]\nname = "{name}"\nurl = "{sim.ari_url}"\npassword = "{PASSWORD}"'
                       f'\n[pbx.media]\nrtp_port_min = {low}\nrtp_port_max = {low + 198}\n'
                       f'audiosocket_port = {19000 + rtp_base // 100 + i}\n')
    config = tmp_path / f"{node}.toml"
    config.write_text(f'[server]\nnode_id = "{node}"\nnode_lost_s = 3.0\n\n' + "\n".join(entries),
                      encoding="utf-8")
    return load_config(config, env={
        "CALLWRIGHT_SERVER_DATA_DIR": str(tmp_path / node),
        "CALLWRIGHT_STORE_PATH": str(tmp_path / "callwright.db"),
        "CALLWRIGHT_RECORDINGS_DIR": str(tmp_path / "recordings"),
        "CALLWRIGHT_SERVER_MASTER_KEY_FILE": str(tmp_path / "master.key"),
    })


async def seed(path: Path) -> None:
    db = await Database.open(path)
    try:
        await seed_demo(db, number=DEMO_NUMBER, language="ko", flow=dict(DEMO_FLOW),
                        record_calls=True)
        await db.execute("UPDATE orgs SET encrypt_recordings = 0")
    finally:
        await db.close()


async def closed_calls(calls: CallRepository, count: int, within_s: float = 10.0) -> list[Call]:
    deadline = time.monotonic() + within_s
    while True:
        rows = [c for c in await calls.list_recent_all_orgs(10) if c.status != "in_progress"]
        if len(rows) >= count:
            return rows
        assert time.monotonic() < deadline, f"calls not closed: {rows}"
        await asyncio.sleep(0.05)


async def test_one_node_serves_two_pbxes_each_with_its_own_connection_and_media(
    tmp_path: Path, vosk_models: VoskModelCache, make_sim: MakeSim
) -> None:
    sims = {"pbx-a": await make_sim(), "pbx-b": await make_sim()}
    settings = node_settings(tmp_path, "node-1", sims, 42000)
    await seed(settings.store.path)
    service = CallService(settings, vosk_models=vosk_models, warm_streams=1)
    await service.start()
    try:
        assert service.db is not None
        assert [link.name for link in service.links] == ["pbx-a", "pbx-b"]
        tts = await service.speech.tts_for({"engine": "espeak-ng", "voice": "ko"})
        audio = await synthesize_phrases(tts, DEMO_PHRASES, "ko")
        placed = time.monotonic()
        on_a, on_b = [await sim.place_call(dialed=DEMO_NUMBER, caller_number=DEMO_CALLER,
                                           app="callwright") for sim in sims.values()]
        # Two Asterisk servers number their channels alike: each call is found on its own.
        reports = await asyncio.gather(
            converse(on_a, DEMO_PHRASES, audio, placed_at=placed, turn_timeout_s=25),
            converse(on_b, DEMO_PHRASES, audio, placed_at=placed, turn_timeout_s=25))
        assert all(r.ended_by_assistant for r in reports)
        calls = CallRepository(service.db)
        rows = await closed_calls(calls, 2)
        assert sorted((c.node_id, c.pbx, c.status) for c in rows) == [
            ("node-1", "pbx-a", "completed"), ("node-1", "pbx-b", "completed")]
        assert all(c.recording_node == "node-1" and c.recording_path for c in rows)
        report = await service.status.readiness.check()
        assert {"ari:pbx-a", "ari:pbx-b"} <= set(report.as_json()["checks"])
        assert report.ready, report.as_json()
        await sims["pbx-b"].stop()  # one Asterisk goes away: /readyz names it
        deadline = time.monotonic() + 10
        while "ari:pbx-b" not in (report := await service.status.readiness.check()).not_ready:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        assert report.not_ready == ["ari:pbx-b"]
    finally:
        await service.stop()


async def test_two_nodes_on_one_store_and_one_goes_silent(
    tmp_path: Path, vosk_models: VoskModelCache, make_sim: MakeSim
) -> None:
    sim_a, sim_b = await make_sim(), await make_sim()
    settings_a = node_settings(tmp_path, "node-a", {"pbx-a": sim_a}, 43000)
    settings_b = node_settings(tmp_path, "node-b", {"pbx-b": sim_b}, 44000)
    await seed(settings_a.store.path)
    node_a = CallService(settings_a, vosk_models=vosk_models, warm_streams=1)
    node_b = CallService(settings_b, vosk_models=vosk_models, warm_streams=1)
    await node_a.start()
    await node_b.start()
    try:
        assert node_a.db is not None and node_b.db is not None
        assert node_a.node_jobs is not None and node_b.node_jobs is not None
        # Each job runs on exactly one of the two nodes.
        for name in node_a.node_jobs.jobs:
            holders = [n.node_id for n in (node_a, node_b)
                       if n.node_jobs is not None and name in n.node_jobs.running()]
            assert len(holders) == 1, (name, holders)
        # node-b started second: node-a (which took the jobs at its start) runs them.
        assert node_a.node_jobs.running() and not node_b.node_jobs.running()
        call_a = await sim_a.place_call(dialed=DEMO_NUMBER, caller_number="5550001",
                                        app="callwright")
        call_b = await sim_b.place_call(dialed=DEMO_NUMBER, caller_number="5550002",
                                        app="callwright")
        calls = CallRepository(node_b.db)
        deadline = time.monotonic() + 10
        while len(live := await calls.list_in_progress()) < 2:
            assert time.monotonic() < deadline, live
            await asyncio.sleep(0.05)
        assert sorted((c.node_id, c.pbx) for c in live) == [("node-a", "pbx-a"),
                                                            ("node-b", "pbx-b")]
        on_a, on_b = sorted(live, key=lambda c: c.node_id)
        # node-a goes silent (as a process that froze or died: no heartbeat, no lock renewed).
        await node_a.node_jobs.heartbeat.stop(mark_stopped=False)
        for job in node_a.node_jobs.jobs.values():
            await job.stop(release=False)
        deadline = time.monotonic() + 15
        while "retention" not in node_b.node_jobs.running() or \
                (await calls.get(on_a.id)).status == "in_progress":
            assert time.monotonic() < deadline, node_b.node_jobs.running()
            await asyncio.sleep(0.1)
        lost = await calls.get(on_a.id)
        assert (lost.status, lost.end_reason) == ("failed", "node_lost")
        assert (await calls.get(on_b.id)).status == "in_progress"  # node-b's goes on
        assert await JobLeaseRepository(node_b.db).holder("retention") == "node-b"
        assert sorted(node_b.node_jobs.running()) == sorted(node_b.node_jobs.jobs)
        await asyncio.wait_for(call_b.caller.hangup(), 5)
        await asyncio.wait_for(call_a.caller.hangup(), 5)
    finally:
        await node_b.stop()
        await node_a.stop()


async def test_engines_are_warmed_at_the_rate_of_every_pbx(
    tmp_path: Path, vosk_models: VoskModelCache, make_sim: MakeSim,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    narrow, wide = await make_sim(), await make_sim()
    config = tmp_path / "node.toml"
    config.write_text(
        f'[server]\nnode_id = "node-1"\n\n'
        f'[[pbx]]\nname = "narrow"\nurl = "{narrow.ari_url}"\npassword = "{PASSWORD}"\n'
        f'[pbx.media]\nrtp_port_min = 45600\nrtp_port_max = 45798\n\n'
        f'[[pbx]]\nname = "wide"\nurl = "{wide.ari_url}"\npassword = "{PASSWORD}"\n'
        f'[pbx.media]\ntransport = "websocket"\nformat = "slin16"\n', encoding="utf-8")
    settings = load_config(config, env={
        "CALLWRIGHT_SERVER_DATA_DIR": str(tmp_path),
        "CALLWRIGHT_STORE_PATH": str(tmp_path / "callwright.db"),
        "CALLWRIGHT_SERVER_MASTER_KEY_FILE": str(tmp_path / "master.key"),
    })
    await seed(settings.store.path)
    seen: list[tuple[str, int]] = []
    async def watched(speech: SpeechEngines, uses: Sequence[EngineUse], *, streams: int) -> Any:
        seen.extend((use.name, use.sample_rate) for use in uses)
        return await warm_engines(speech, uses, streams=streams)

    monkeypatch.setattr(service_module, "warm_engines", watched)
    service = CallService(settings, vosk_models=vosk_models, warm_streams=1)
    await service.start()
    try:
        # Calls from the narrowband PBX are at 8 kHz, from the wideband one at 16 kHz: both
        # warmed before the first call, for unknown numbers and for the demo assistant alike.
        assert sorted(seen) == sorted([("calls to unknown numbers", 8000),
                                       ("calls to unknown numbers", 16000),
                                       (DEMO_ASSISTANT_NAME, 8000),
                                       (DEMO_ASSISTANT_NAME, 16000)])
    finally:
        await service.stop()
