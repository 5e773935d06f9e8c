"""Factories for whole-call tests: the real call service against the PBX simulator, with the
real Korean Vosk model (loaded once per session), espeak-ng and a SQLite file in tmp_path."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from ari_app.demo import DEMO_NUMBER
from ari_app.service import CallService
from ari_app.simulator.server import PbxSimulator
from callwright.config import Settings, load_config
from callwright.dialog.demo_flow import DEMO_FLOW
from callwright.speech.protocols import TtsEngine
from callwright.speech.vosk_stt import VoskModelCache
from callwright.store.assistants import AssistantRepository
from callwright.store.calls import Call, CallRepository
from callwright.store.db import Database
from callwright.store.numbers import NumberRepository
from callwright.store.orgs import OrgRepository
from callwright.store.seed import seed_demo

PASSWORD = "e2e-secret"


@dataclass
class Harness:
    settings: Settings
    sim: PbxSimulator
    service: CallService
    calls: CallRepository

    async def caller_voice(self) -> TtsEngine:
        """The espeak-ng Korean voice the simulated callers speak with."""
        return await self.service.speech.tts_for({"engine": "espeak-ng", "voice": "ko"})

    async def closed_call(self, within_s: float = 5.0) -> Call:
        """The most recent call, once its row is closed."""
        deadline = time.monotonic() + within_s
        while True:
            rows = await self.calls.list_recent_all_orgs(1)
            if rows and rows[0].status != "in_progress":
                return rows[0]
            assert time.monotonic() < deadline, f"call not closed: {rows}"
            await asyncio.sleep(0.05)


MakeHarness = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def make_harness(
    tmp_path: Path, vosk_models: VoskModelCache
) -> AsyncIterator[MakeHarness]:
    """``await make_harness(flow=..., env={...}, sim_options={...})``: a seeded demo number
    (``DEMO_NUMBER``) served by a started call service connected to a started simulator; its org
    keeps recordings in clear unless ``encrypt_recordings=True``."""
    made: list[Harness] = []

    async def make(
        *,
        flow: Mapping[str, Any] | None = DEMO_FLOW,
        llm: Mapping[str, Any] | None = None,
        media: Mapping[str, Any] | None = None,
        greeting: str = "",
        env: Mapping[str, str] | None = None,
        sim_options: Mapping[str, Any] | None = None,
        encrypt_recordings: bool = False,
    ) -> Harness:
        settings = load_config(None, env={
            "CALLWRIGHT_SERVER_DATA_DIR": str(tmp_path),
            "CALLWRIGHT_STORE_PATH": str(tmp_path / "callwright.db"),
            "CALLWRIGHT_RECORDINGS_DIR": str(tmp_path / "recordings"),
            "CALLWRIGHT_SERVER_MASTER_KEY_FILE": str(tmp_path / "master.key"),
            **(env or {}),
        })
        sim = PbxSimulator(username=settings.ari.username, password=PASSWORD,
                           **(sim_options or {}))
        await sim.start()
        settings = replace(settings, ari=replace(settings.ari, url=sim.ari_url, password=PASSWORD))
        db = await Database.open(settings.store.path)
        try:
            if flow is not None:
                await seed_demo(db, number=DEMO_NUMBER, language="ko", greeting=greeting,
                                flow=dict(flow), record_calls=True)
            else:  # an assistant with no flow: the LLM leads the conversation
                org = await OrgRepository(db).create("LLM test", "llm-test")
                assistant = await AssistantRepository(db).create(
                    org.id, "LLM assistant", "ko", greeting, system_prompt="Be brief.",
                    llm=dict(llm or {"enabled": True}), media=dict(media or {}),
                    record_calls=True,
                )
                await NumberRepository(db).create(org.id, DEMO_NUMBER, assistant_id=assistant.id)
            # New orgs encrypt their recordings; these tests read the WAV unless they ask.
            await db.execute("UPDATE orgs SET encrypt_recordings = ?", (int(encrypt_recordings),))
        finally:
            await db.close()
        # One warm free-speech recognizer (the product warms eight): enough for these calls,
        # and about 0.7 CPU-s per warmed recognizer is spent at every start-up.
        service = CallService(settings, vosk_models=vosk_models, warm_streams=1)
        await service.start()
        assert service.db is not None
        harness = Harness(settings, sim, service, CallRepository(service.db))
        made.append(harness)
        return harness

    yield make
    for h in made:
        await h.service.stop()
        await h.sim.stop()
