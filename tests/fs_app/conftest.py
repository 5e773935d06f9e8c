"""Factories for whole calls through FreeSWITCH: the real FreeSWITCH call service against the
FreeSWITCH simulator, real Vosk (Korean), espeak-ng and a SQLite file in tmp_path."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ari_app.demo import DEMO_NUMBER
from ari_app.simulator.caller import SimulatedCaller
from callwright.config import Settings, load_config
from callwright.dialog.demo_flow import DEMO_FLOW
from callwright.speech.protocols import TtsEngine
from callwright.speech.vosk_stt import VoskModelCache
from callwright.store.calls import Call, CallRepository
from callwright.store.db import open_store
from callwright.store.seed import seed_demo
from fs_app.service import FreeswitchService, with_ports
from fs_app.simulator.server import FreeswitchSimulator, SimCall, socket_dialplan


@dataclass
class FsHarness:
    settings: Settings
    sim: FreeswitchSimulator
    service: FreeswitchService
    calls: CallRepository

    async def caller_voice(self) -> TtsEngine:
        return await self.service.speech.tts_for({"engine": "espeak-ng", "voice": "ko"})

    def dial(self, number: str = DEMO_NUMBER, caller_number: str = "+821012345678",
             caller: SimulatedCaller | None = None) -> SimCall:
        return self.sim.place_call(number, caller or SimulatedCaller(), number=caller_number,
                                   name="E2E")

    async def closed_call(self, within_s: float = 8.0) -> Call:
        deadline = time.monotonic() + within_s
        while True:
            rows = await self.calls.list_recent_all_orgs(1)
            if rows and rows[0].status != "in_progress":
                return rows[0]
            assert time.monotonic() < deadline, f"call not closed: {rows}"
            await asyncio.sleep(0.05)


MakeFsHarness = Callable[..., Awaitable[FsHarness]]


@pytest.fixture
async def make_fs_harness(
    tmp_path: Path, vosk_models: VoskModelCache
) -> AsyncIterator[MakeFsHarness]:
    """``await make_fs_harness(rate=8000, record_calls=False)``: the demo number
    (``DEMO_NUMBER``) served by a started FreeSWITCH call service, the simulator's dialplan
    handing that number (and "999", unknown to us) to it with ``socket``."""
    made: list[FsHarness] = []

    async def make(*, rate: int = 8000, flow: Mapping[str, Any] = DEMO_FLOW,
                   env: Mapping[str, str] | None = None, record_calls: bool = False,
                   ) -> FsHarness:
        settings = load_config(None, env={
            "CALLWRIGHT_SERVER_DATA_DIR": str(tmp_path),
            "CALLWRIGHT_STORE_PATH": str(tmp_path / "callwright.db"),
            "CALLWRIGHT_RECORDINGS_DIR": str(tmp_path / "recordings"),
            "CALLWRIGHT_SERVER_MASTER_KEY_FILE": str(tmp_path / "master.key"),
            "CALLWRIGHT_FREESWITCH_SAMPLE_RATE": str(rate),
            **(env or {}),
        })
        settings = with_ports(settings, 0, 0)
        db = await open_store(settings.store)  # CALLWRIGHT_STORE_URL in env: PostgreSQL
        try:
            await seed_demo(db, number=DEMO_NUMBER, language="ko", greeting="", flow=dict(flow),
                            record_calls=record_calls)
            # New orgs encrypt their recordings; these tests read the WAV.
            await db.execute("UPDATE orgs SET encrypt_recordings = 0")
        finally:
            await db.close()
        service = FreeswitchService(settings, vosk_models=vosk_models, warm_streams=1)
        await service.start()
        sim = FreeswitchSimulator(dialplan=socket_dialplan(
            "127.0.0.1", service.socket_port, extensions=(DEMO_NUMBER, "999")))
        await sim.start()
        assert service.db is not None
        harness = FsHarness(settings, sim, service, CallRepository(service.db))
        made.append(harness)
        return harness

    yield make
    for h in made:
        await h.sim.stop()
        await h.service.stop()
