"""The start-up warm-up (callwright.speech.warmup): after it, no call is the first user of
anything slow. Fresh interpreters for the cold-process checks; the others run in this one."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import openai
import pytest

from callwright.config import SpeechSettings
from callwright.speech.piper_tts import PiperTts
from callwright.speech.pocketsphinx_stt import PocketsphinxSttEngine
from callwright.speech.registry import SpeechEngines
from callwright.speech.vosk_stt import VoskModelCache, VoskSttEngine
from callwright.speech.warmup import EngineUse, settle_heap, warm_engines, warm_stt
from tests.conftest import BLOCK_LIMIT_S
from tests.fakes.openai_audio_server import ScriptedAudioServer
from tests.fakes.piper_voice import build_tiny_voice

ROOT = Path(__file__).resolve().parents[3]
FREE = (8000, None)  # the pool key of free speech at 8 kHz
Engines = Callable[..., SpeechEngines]

#: A fresh interpreter that starts like the call service (the warm-up on a running loop, unless
#: argv[2] is "cold"), then serves its first calls: two free-speech turns, a Piper synthesis and an
#: espeak-ng synthesis at once, watched by a thread that pings the loop every 5 ms. Prints what
#: those first uses imported, how many recognizers they had to create, the longest the loop went
#: unanswered, and what they recognised.
FIRST_CALLS = r"""
import asyncio, json, sys, threading, time
from callwright.config import SpeechSettings
from callwright.speech.registry import SpeechEngines
from callwright.speech.warmup import EngineUse, import_native_modules, warm_engines

VOICE, MODE = sys.argv[1], sys.argv[2]
PIPER = {"engine": "piper", "voice": VOICE}

async def turn(stt, pcm):
    stream = await stt.open_stream(8000)
    for at in range(0, len(pcm), 320):
        stream.feed(pcm[at:at + 320])
    text = (await stream.finish()).text
    await stream.close()
    return text

async def main():
    speech = SpeechEngines(SpeechSettings())
    if MODE == "warm":
        await asyncio.to_thread(import_native_modules)
        uses = [EngineUse(None, None, 8000, "ko"), EngineUse(None, PIPER, 8000)]
        assert not await warm_engines(speech, uses, streams=2)
    caller = await (await speech.tts_for(None)).inner.synthesize("아니요", 8000, "ko")
    caller = bytes(2400) + caller + bytes(4800)
    loop, worst, stop = asyncio.get_running_loop(), [0.0], threading.Event()
    def watch():
        while not stop.is_set():
            answered, sent = threading.Event(), time.perf_counter()
            loop.call_soon_threadsafe(answered.set)
            answered.wait()
            worst[0] = max(worst[0], time.perf_counter() - sent)
            stop.wait(0.005)
    modules = set(sys.modules)
    stt = await speech.stt_for(None)
    created = stt.pool.created
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    piper, espeak = await speech.tts_for(PIPER), await speech.tts_for(None)
    heard = await asyncio.gather(
        turn(stt, caller), turn(stt, caller),
        piper.inner.synthesize("Hello world.", 8000), espeak.inner.synthesize("네", 8000, "ko"),
    )
    stop.set()
    watcher.join()
    print(json.dumps({
        "imported": sorted(set(sys.modules) - modules),
        "recognizers_created": stt.pool.created - created,
        "worst_block_s": worst[0],
        "heard": heard[:2],
        "audio": [len(pcm) for pcm in heard[2:]],
    }))
    await speech.close()

asyncio.run(main())
"""


def first_calls(voice: Path, mode: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", FIRST_CALLS, str(voice), mode],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.slow
def test_after_the_warm_up_the_first_calls_of_a_fresh_process_import_and_stall_nothing(
    tmp_path: Path,
) -> None:
    voice = build_tiny_voice(tmp_path)
    warm = first_calls(voice, "warm")
    assert warm["imported"] == []
    assert warm["recognizers_created"] == 0  # both turns got a warm recognizer from the pool
    assert warm["worst_block_s"] < BLOCK_LIMIT_S
    assert all(warm["heard"]) and all(size > 0 for size in warm["audio"])  # they did work
    # The same first calls without the warm-up: this check does see what a call would do first.
    cold = first_calls(voice, "cold")
    assert {"vosk", "piper", "onnxruntime"} <= set(cold["imported"])
    assert cold["recognizers_created"] == 2


@pytest.fixture
async def make_engines(tmp_path: Path) -> AsyncIterator[Engines]:
    """Factory: ``make(openai_client=None, vosk_models=..., **settings)`` -> SpeechEngines."""
    async with AsyncExitStack() as stack:

        def make(openai_client: Any = None, **settings: Any) -> SpeechEngines:
            settings.setdefault("models_dir", tmp_path / "models")
            models = settings.pop("vosk_models", None)
            extra = {"vosk_models": models} if models is not None else {}
            engines = SpeechEngines(
                SpeechSettings(**settings), openai_client=openai_client, **extra
            )
            stack.push_async_callback(engines.close)
            return engines

        yield make


@pytest.mark.slow
async def test_warm_stt_puts_warm_free_speech_recognizers_in_the_vosk_pool(
    ko_model_dir: Path, vosk_models: VoskModelCache
) -> None:
    engine = await VoskSttEngine.load(ko_model_dir, models=vosk_models, pool_size=3)
    try:
        await warm_stt(engine, 8000, 5)  # capped by the pool's size
        assert engine.pool.idle_for(FREE) == 3 and engine.pool.created == 3
        streams = [await engine.open_stream(8000) for _ in range(3)]
        assert engine.pool.reused == 3 and engine.pool.created == 3
        for stream in streams:
            await stream.close()
        assert await engine.warm_up(8000, 3) == 0  # already warm: nothing made
        assert await engine.warm_up(16000, 1) == 1  # another rate is another key
    finally:
        await engine.close()


@pytest.mark.slow
async def test_warm_engines_builds_each_engine_once_and_skips_a_broken_assistant(
    make_engines: Engines, vosk_models: VoskModelCache, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    engines = make_engines(vosk_models=vosk_models, stt_threads=1)
    voice = build_tiny_voice(tmp_path)
    uses = [
        EngineUse(None, None, 8000, "ko", name="unknown numbers"),
        EngineUse({"engine": "vosk"}, {"engine": "piper", "voice": str(voice)}, 8000, name="a"),
        EngineUse(None, {"engine": "piper", "voice": "gone-voice"}, 8000, name="broken"),
    ]
    failures = await warm_engines(engines, uses, streams=2)
    assert len(failures) == 1 and "TTS of broken" in failures[0]
    assert "gone-voice" in caplog.text
    [stt] = engines.stt_engines()  # None and {"engine": "vosk"} are one engine
    assert isinstance(stt, VoskSttEngine) and stt.pool.idle_for(FREE) == 2
    piper = [tts.inner for tts in engines.tts_engines() if isinstance(tts.inner, PiperTts)]
    assert len(piper) == 1 and piper[0].sample_rate is not None  # loaded before any call
    assert [tts.name for tts in engines.tts_engines()] == ["espeak-ng", "piper"]


async def test_openai_engines_are_built_but_never_asked_anything_at_start_up(
    make_engines: Engines,
) -> None:
    async with ScriptedAudioServer() as server:
        engines = make_engines(
            lambda: openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        )
        use = EngineUse({"engine": "openai"}, {"engine": "openai"}, 8000, name="paid")
        assert await warm_engines(engines, [use], streams=2) == []
        assert len(engines.stt_engines()) == 1 and len(engines.tts_engines()) == 1
        assert server.uploads == [] and server.speech_requests == []


@pytest.mark.slow
async def test_pocketsphinx_warm_up_leaves_its_streams_closed_and_the_engine_working() -> None:
    engine = PocketsphinxSttEngine(processes=1, pool_size=2)
    try:
        assert await engine.warm_up(8000, 5) == 2  # capped by workers x pool size
        stream = await engine.open_stream(8000)
        stream.feed(bytes(8000))
        assert (await stream.finish()).text == ""
        await stream.close()
    finally:
        await engine.close()


class _Node:
    me: _Node | None = None


def test_settling_the_heap_collects_start_up_garbage_and_hides_the_rest_from_the_collector(
) -> None:
    kept = _Node()
    kept.me = kept  # a cycle that start-up keeps
    lost = _Node()
    lost.me = lost  # a cycle that start-up left behind
    gone = weakref.ref(lost)
    del lost
    assert any(obj is kept for obj in gc.get_objects())
    took = settle_heap()
    assert gone() is None
    assert took >= 0.0
    # Frozen: later collections no longer scan it (gc.get_objects lists what they scan).
    assert not any(obj is kept for obj in gc.get_objects())
    later = _Node()
    later.me = later
    still = weakref.ref(later)
    del later
    gc.collect()
    assert still() is None  # what is made after settling is collected as before
