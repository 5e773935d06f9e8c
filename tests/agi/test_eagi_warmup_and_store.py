"""An EAGI call warms up as the call service does (native imports on a worker thread before any
engine loads, the recognizer warm before the caller's first turn) and writes to the store through
a write queue (a locked store holds up neither the prompts nor the call, and loses nothing)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

import callwright.speech.warmup as warmup
from callwright.dialog.demo_flow import DEMO_FLOW
from callwright.speech.protocols import SttEngine, TtsEngine
from callwright.speech.registry import SpeechEngines
from callwright.speech.vosk_stt import VoskModelCache, VoskSttEngine
from callwright.store.seed import seed_demo
from tests.agi.conftest import MakeStore
from tests.agi.test_eagi import (  # noqa: F401 - start_in_process is a fixture
    EagiAsterisk,
    OnPrompt,
    Prompt,
    StartInProcess,
    finish,
    only_call,
    start_in_process,
    store_settings,
)
from tests.fakes.store_lock import LONGER_THAN_BUSY_TIMEOUT_S, hold_write_lock

pytestmark = pytest.mark.slow


def key_then_hang_up(moments: dict[str, float], until: asyncio.Event | None = None) -> OnPrompt:
    """The caller presses 1 halfway through the greeting, and hangs up during the next prompt
    (once ``until`` is set, so that what the call does in the background can finish)."""

    async def on_prompt(fake: EagiAsterisk, prompt: Prompt) -> str:
        if len(fake.prompts) == 1:
            return f"200 result={ord('1')} endpos={len(prompt.pcm) // 4}"
        moments["second prompt"] = time.monotonic()
        if until is not None:
            await asyncio.wait_for(until.wait(), 30)
        asyncio.get_running_loop().call_later(0.05, fake.hang_up)
        return f"200 result=0 endpos={len(prompt.pcm) // 2}"

    return on_prompt


async def demo_store(make_store: MakeStore) -> Path:
    store = await make_store()
    await seed_demo(store.db, number="100", language="ko", greeting="", flow=DEMO_FLOW,
                    record_calls=False)
    assert store.db.path is not None
    return store.db.path


async def test_the_engines_load_after_the_native_imports_and_the_recognizer_is_warmed(
    start_in_process: StartInProcess,  # noqa: F811
    make_store: MakeStore, vosk_models: VoskModelCache, monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = await demo_store(make_store)
    seen: list[tuple[str, Any]] = []
    warmed = asyncio.Event()
    real_imports, real_warm = warmup.import_native_modules, warmup.warm_stt
    real_stt, real_tts = SpeechEngines.stt_for, SpeechEngines.tts_for

    def imports() -> dict[str, float]:
        seen.append(("imports on", threading.get_ident()))
        return real_imports()

    async def warm(engine: SttEngine, sample_rate: int, streams: int) -> None:
        await real_warm(engine, sample_rate, streams)
        idle = engine.pool.idle_for((sample_rate, None)) \
            if isinstance(engine, VoskSttEngine) else 0
        seen.append(("warm", (type(engine).__name__, sample_rate, streams, idle)))
        warmed.set()

    async def stt_for(self: SpeechEngines, options: Mapping[str, Any] | None) -> SttEngine:
        seen.append(("stt", None))
        return await real_stt(self, options)

    async def tts_for(self: SpeechEngines, options: Mapping[str, Any] | None) -> TtsEngine:
        seen.append(("tts", None))
        return await real_tts(self, options)

    monkeypatch.setattr(warmup, "import_native_modules", imports)
    monkeypatch.setattr(warmup, "warm_stt", warm)
    monkeypatch.setattr(SpeechEngines, "stt_for", stt_for)
    monkeypatch.setattr(SpeechEngines, "tts_for", tts_for)
    run = await start_in_process(
        store_settings(path), key_then_hang_up({}, warmed),
        vosk_models=vosk_models)
    assert await finish(run) == 0
    kinds = [kind for kind, _ in seen]
    assert kinds[0] == "imports on" and seen[0][1] != threading.get_ident()  # a worker thread
    assert kinds.count("imports on") == 1
    assert "stt" in kinds and "tts" in kinds  # both after the imports
    # The caller's recognizer decoded its warm-up before the call needed it, at the call's rate.
    assert ("warm", ("VoskSttEngine", 8000, 1, 1)) in seen
    call, _ = await only_call(path)
    assert call.slots == {"greeted": "hello"} and call.end_reason == "caller_hangup"


async def test_a_locked_store_holds_up_no_prompt_and_loses_nothing(
    start_in_process: StartInProcess,  # noqa: F811
    make_store: MakeStore, vosk_models: VoskModelCache,
) -> None:
    path = await demo_store(make_store)
    moments: dict[str, float] = {}
    locks: list[asyncio.Task[None]] = []
    answer = key_then_hang_up(moments)

    async def lock_then_answer(fake: EagiAsterisk, prompt: Prompt) -> str:
        if not locks:  # another connection holds the store past its busy timeout from now on
            locks.append(await hold_write_lock(path, LONGER_THAN_BUSY_TIMEOUT_S + 1))
            moments["locked"] = time.monotonic()
        reply: str = await answer(fake, prompt)
        return reply

    run = await start_in_process(store_settings(path), lock_then_answer,
                                 vosk_models=vosk_models)
    assert await finish(run, within_s=40) == 0
    await locks[0]
    # The greeting's interrupted turn and the key are written later: the next prompt is not
    # held up for them (it used to wait for the busy timeout, 5 s, and lose the turn).
    assert moments["second prompt"] - moments["locked"] < 3.0
    call, turns = await only_call(path)
    assert (call.status, call.end_reason) == ("completed", "caller_hangup")
    assert call.answered_at is not None and call.slots == {"greeted": "hello"}
    assert [t.speaker for t in turns] == ["assistant", "assistant"]
    assert turns[0].interrupted and turns[1].text == DEMO_FLOW["nodes"]["offer"]["prompt"]


async def test_a_call_arriving_while_the_store_is_locked_hears_its_greeting_at_once(
    start_in_process: StartInProcess,  # noqa: F811
    make_store: MakeStore, vosk_models: VoskModelCache,
) -> None:
    path = await demo_store(make_store)
    moments: dict[str, float] = {}
    answer = key_then_hang_up(moments)

    async def note_the_greeting(fake: EagiAsterisk, prompt: Prompt) -> str:
        moments.setdefault("greeting", time.monotonic())
        reply: str = await answer(fake, prompt)
        return reply

    lock = await hold_write_lock(path, LONGER_THAN_BUSY_TIMEOUT_S + 1)
    locked = time.monotonic()
    run = await start_in_process(store_settings(path), note_the_greeting,
                                 vosk_models=vosk_models)
    assert await finish(run, within_s=40) == 0
    await lock
    # The row did not hold the greeting up (it used to wait for the lock: 7.5 s).
    assert moments["greeting"] - locked < 4.0
    call, turns = await only_call(path)
    assert run.fake.variables["CALLWRIGHT_CALL_UID"] == call.uid
    assert (call.status, call.end_reason) == ("completed", "caller_hangup")
    assert call.answered_at is not None and call.slots == {"greeted": "hello"}
    assert [t.speaker for t in turns] == ["assistant", "assistant"]
