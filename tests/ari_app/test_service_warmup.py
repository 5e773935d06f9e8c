"""The call service warms the engines of its assistants up before it connects to ARI, so no call
is the first user of a model, a voice or a recognizer (callwright.speech.warmup)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import ari_app.pbx_link as pbx_link_module
import ari_app.service as service_module
from ari_app.ari.connection import AriEventStream
from ari_app.service import CallService
from ari_app.simulator.server import PbxSimulator
from callwright.config import load_config
from callwright.speech.piper_tts import PiperTts
from callwright.speech.registry import SpeechEngines
from callwright.speech.vosk_stt import VoskModelCache, VoskSttEngine
from callwright.speech.warmup import EngineUse
from callwright.store.assistants import AssistantRepository
from callwright.store.db import Database
from callwright.store.orgs import OrgRepository
from tests.fakes.piper_voice import build_tiny_voice

pytestmark = pytest.mark.slow

PASSWORD = "warm-secret"


@pytest.fixture
async def simulator() -> AsyncIterator[PbxSimulator]:
    sim = PbxSimulator(username="callwright", password=PASSWORD)
    await sim.start()
    yield sim
    await sim.stop()


async def test_start_up_warms_every_assistants_engines_before_it_connects(
    simulator: PbxSimulator, vosk_models: VoskModelCache, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    settings = load_config(None, env={
        "CALLWRIGHT_SERVER_DATA_DIR": str(tmp_path),
        "CALLWRIGHT_STORE_PATH": str(tmp_path / "callwright.db"),
        "CALLWRIGHT_RECORDINGS_DIR": str(tmp_path / "recordings"),
        "CALLWRIGHT_SERVER_MASTER_KEY_FILE": str(tmp_path / "master.key"),
    })
    settings = replace(settings, ari=replace(settings.ari, url=simulator.ari_url,
                                             password=PASSWORD))
    voice = build_tiny_voice(tmp_path)
    db = await Database.open(settings.store.path)
    try:
        org = await OrgRepository(db).create("Warm", "warm")
        assistants = AssistantRepository(db)
        await assistants.create(org.id, "Korean", "ko")
        await assistants.create(
            org.id, "Wideband Piper", "en", tts={"engine": "piper", "voice": str(voice)},
            media={"transport": "websocket", "format": "slin16"},
        )
        await assistants.create(org.id, "Lost voice", "en",
                                tts={"engine": "piper", "voice": "deleted-voice"})
    finally:
        await db.close()

    seen: dict[str, Any] = {}
    warm_engines = service_module.warm_engines

    async def watched(speech: SpeechEngines, uses: Sequence[EngineUse], *, streams: int) -> Any:
        seen["speech"], seen["uses"] = speech, list(uses)
        return await warm_engines(speech, uses, streams=streams)

    class Stream(AriEventStream):
        async def start(self) -> None:  # what was ready when the service connected
            speech: SpeechEngines = seen["speech"]
            [stt] = speech.stt_engines()
            assert isinstance(stt, VoskSttEngine)
            voices = [t.inner for t in speech.tts_engines() if isinstance(t.inner, PiperTts)]
            seen["at_connect"] = {
                "idle": {rate: stt.pool.idle_for((rate, None)) for rate in (8000, 16000)},
                "piper_loaded": [v.sample_rate is not None for v in voices],
                "settled_after_warm": seen.get("settled_after_warm"),
            }
            await super().start()

    monkeypatch.setattr(service_module, "warm_engines", watched)
    monkeypatch.setattr(pbx_link_module, "AriEventStream", Stream)  # each PBX's events
    def settle() -> float:  # the heap is settled once, after the warm-up
        seen["settled_after_warm"] = "uses" in seen and "settled_after_warm" not in seen
        return 0.0

    service = CallService(settings, vosk_models=vosk_models, warm_streams=2, settle=settle)
    with caplog.at_level(logging.WARNING, logger="callwright.speech.warmup"):
        await service.start()
    try:
        assert [(use.name, use.sample_rate) for use in seen["uses"]] == [
            ("calls to unknown numbers", 8000), ("Korean", 8000), ("Wideband Piper", 16000),
            ("Lost voice", 8000),
        ]
        assert seen["at_connect"] == {"idle": {8000: 2, 16000: 2}, "piper_loaded": [True],
                                      "settled_after_warm": True}
        # An assistant whose voice is gone is reported, and the others are served all the same.
        assert "could not warm up the TTS of Lost voice" in caplog.text
        assert "deleted-voice" in caplog.text
    finally:
        await service.stop()
