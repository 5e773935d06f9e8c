"""Warming a process up before it takes calls: a call must never be the first user of anything.

Measured on cold processes (``python -m bench.first_use``, 2 cores; figures in its results):

* A free-speech Vosk recognizer is slow on its first audio: the model's lookahead graph is
  composed lazily, per recognizer (~0.7 CPU-s for its first 300 ms with the Korean model). Kaldi
  releases the GIL, so the loop does not stall, but calls starting together queue behind each
  other's first decodes on the engine's threads: on a fresh service, five LLM calls 200 ms apart
  heard their replies after 2.2-3.0 s (0.3 s once warm) and cost 3.7 CPU-s more.
  :func:`warm_stt` puts ``streams`` recognizers that have decoded silence in the engine's pool.
* Native imports hold the GIL while an extension module initialises, even on a worker thread
  (onnxruntime and piper: up to ~30 ms of a stalled loop). :func:`import_native_modules` imports
  every installed engine kind's modules at start-up, also those no assistant uses yet, so an
  assistant switched to another engine at run time never imports on a call's behalf.
* Model loads release the GIL (``vosk.Model`` through cffi; ``onnxruntime.InferenceSession``
  stalled a loop for 3 ms while loading a 79 MB model in 220 ms): an engine for new settings is
  loaded on a worker thread by :class:`~callwright.speech.registry.SpeechEngines` and handed to
  calls once built; a Piper voice's load includes a first synthesis (the phonemizer and the ONNX
  session's first run).
* The Silero VAD model (when ``silero-vad`` is installed) is loaded by
  :func:`import_native_modules` too (about 0.3 s), so an assistant switched to it never loads it
  in a call.
* OpenAI clients import their API resources lazily, and their HTTP stack imports its asyncio
  backend on the first request (~90 ms of a stalled loop on the first streamed reply):
  :func:`import_native_modules` does both imports.

* The interpreter's full garbage collections scan every long-lived object, and they run on
  whichever thread happens to allocate, holding the GIL: with the modules, models and engines of
  a warm service that is tens of ms of a stalled event loop, a few times an hour, at a random
  moment of some call. :func:`settle_heap` collects once and freezes what start-up built
  (``gc.freeze``), so later collections scan only what calls create.

Order at start-up (``ari_app.service.CallService.start``): :func:`import_native_modules` in a
worker thread, then :func:`warm_engines` for every configured assistant, then
:func:`settle_heap`, then the ARI connection.

A process that takes a single call (``agi.eagi``, started by Asterisk for each call) has no time
before its call: it starts :func:`import_native_modules` in a worker thread as it starts, loads its
engines once the imports are done, and warms its recognizer with :func:`warm_stt_for` while the
greeting plays, so the caller's first turn is not the recognizer's first decode.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import importlib.util
import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import openai

from callwright.errors import ConfigError, SpeechError
from callwright.speech.openai_tts import OpenAiTts
from callwright.speech.pocketsphinx_stt import PocketsphinxSttEngine
from callwright.speech.protocols import SttEngine, TtsEngine
from callwright.speech.registry import SpeechEngines
from callwright.speech.silero_vad import SHARED_SILERO
from callwright.speech.tts_cache import CachedTts
from callwright.speech.vosk_stt import VoskSttEngine

log = logging.getLogger(__name__)

#: Warm free-speech streams per STT engine and call rate: the Vosk engine's idle pool size, i.e.
#: what a process that has had that many calls at once keeps anyway.
DEFAULT_WARM_STREAMS = 8

#: Modules of each engine kind whose import initialises native code, imported when installed.
ENGINE_MODULES: dict[str, tuple[str, ...]] = {
    "vosk": ("vosk",),
    "piper": ("onnxruntime", "piper"),
    "pocketsphinx": ("pocketsphinx",),
}

#: What the first request of an OpenAI client imports (anyio's asyncio backend, under httpx).
FIRST_REQUEST_MODULES = ("anyio._backends._asyncio",)

#: Synthesised (and thrown away) to warm a TTS engine: digits, which every voice can say.
WARM_UP_TEXT = "1 2 3."


def import_native_modules() -> dict[str, float]:
    """Import what the engines and clients would import on a call's behalf; returns the seconds
    each took. Blocking: run it in a worker thread, or before the event loop starts.

    Engines whose package is not installed are left out (choosing one later fails with a
    SpeechError that says what to install).
    """
    took: dict[str, float] = {}
    modules = [name for names in ENGINE_MODULES.values() for name in names]
    for name in [*modules, *FIRST_REQUEST_MODULES]:
        if importlib.util.find_spec(name.split(".")[0]) is None:
            log.debug("warm-up: %s is not installed", name)
            continue
        started = time.perf_counter()
        importlib.import_module(name)
        took[name] = time.perf_counter() - started
    if importlib.util.find_spec("silero_vad") and importlib.util.find_spec("onnxruntime"):
        started = time.perf_counter()
        try:  # a call never loads it: an assistant set to Silero gets WebRTC without it
            SHARED_SILERO.load()
        except SpeechError as exc:
            log.warning("Silero VAD not loaded: %s", exc)
        took["silero-vad model"] = time.perf_counter() - started
    started = time.perf_counter()
    # The resources load on first access (chat, audio); no request is made, nothing is opened.
    client = openai.AsyncOpenAI(api_key="warm-up", base_url="http://127.0.0.1:9/v1")
    _ = (client.chat.completions, client.audio.transcriptions, client.audio.speech)
    took["openai resources"] = time.perf_counter() - started
    return took


def settle_heap() -> float:
    """Collect the garbage start-up left and move what survives out of the collector's sight
    (``gc.freeze``); returns the seconds it took. Call it once warm, before taking calls: it
    holds the GIL while it runs. Objects it froze are still freed when their last reference
    goes; only a cycle among them would outlive its use, which start-up state does not make."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    return time.perf_counter() - started


async def warm_stt(engine: SttEngine, sample_rate: int, streams: int) -> None:
    """Make ``engine``'s first ``streams`` concurrent free-speech turns at ``sample_rate`` as fast
    as later ones. OpenAI engines are left alone (warming them would be a paid request)."""
    if isinstance(engine, VoskSttEngine | PocketsphinxSttEngine):
        await engine.warm_up(sample_rate, streams)


async def warm_stt_for(
    speech: SpeechEngines, options: Mapping[str, Any] | None, sample_rate: int, streams: int
) -> SttEngine:
    """The STT engine for ``options`` (None: the server's default), loaded and with ``streams``
    warm free-speech turns at ``sample_rate`` (:func:`warm_stt`)."""
    engine = await speech.stt_for(options)
    await warm_stt(engine, sample_rate, streams)
    return engine


async def warm_tts(tts: TtsEngine, sample_rate: int, voice: str | None) -> None:
    """Synthesise :data:`WARM_UP_TEXT` with ``tts`` at ``sample_rate`` (not cached): the engine's
    first synthesis and its resampler for that rate. OpenAI engines are left alone (paid)."""
    inner = tts.inner if isinstance(tts, CachedTts) else tts
    if not isinstance(inner, OpenAiTts):
        await inner.synthesize(WARM_UP_TEXT, sample_rate, voice)


class NativeImports:
    """:func:`import_native_modules` on a worker thread, started at once (in a running loop);
    engines wait for it (:meth:`done`) before they load, so that no engine imports native code
    on a call's behalf. For a process started for one call (EAGI), where there is no "before"."""

    def __init__(self) -> None:
        self._task: asyncio.Task[dict[str, float]] = asyncio.get_running_loop().create_task(
            asyncio.to_thread(import_native_modules), name="native-imports")

    async def done(self) -> None:
        """Wait for the imports (a failed one is logged: the engine that needs it says so)."""
        try:
            took = await asyncio.shield(self._task)
        except Exception as exc:  # an import's own error; the engines report what is missing
            log.warning("importing the speech engines' modules failed: %s", exc)
            return
        log.debug("imported the speech engines' modules in %.2f s", sum(took.values()))

    async def close(self) -> None:
        """A thread cannot be cancelled: wait for it before the process goes on to exit."""
        await asyncio.gather(self._task, return_exceptions=True)


@dataclass(frozen=True, slots=True)
class EngineUse:
    """The speech engines one assistant's calls use: its ``stt`` and ``tts`` settings (None: the
    server's defaults), the sample rate of its calls, the voice asked of the TTS engine, and a
    name for log lines."""

    stt: Mapping[str, Any] | None
    tts: Mapping[str, Any] | None
    sample_rate: int
    voice: str | None = None
    name: str = ""


async def warm_engines(
    speech: SpeechEngines, uses: Iterable[EngineUse], *, streams: int = DEFAULT_WARM_STREAMS
) -> list[str]:
    """Build and warm the engines of ``uses`` (each distinct engine and rate once), one after
    the other. An assistant whose engines cannot start is logged and skipped, never fatal (its
    calls will fail the same way, politely); returns those log lines."""
    failures: list[str] = []
    done: set[str] = set()
    for use in uses:
        for kind in ("stt", "tts"):
            options = use.stt if kind == "stt" else use.tts
            voice = use.voice if kind == "tts" else None
            key = json.dumps([kind, options, use.sample_rate, voice], sort_keys=True, default=str)
            if key in done:
                continue
            done.add(key)
            started = time.perf_counter()
            try:
                if kind == "stt":
                    await warm_stt(await speech.stt_for(options), use.sample_rate, streams)
                else:
                    await warm_tts(await speech.tts_for(options), use.sample_rate, use.voice)
            except (SpeechError, ConfigError) as exc:
                failures.append(f"could not warm up the {kind.upper()} of {use.name}: {exc}")
                log.warning("%s", failures[-1])
                continue
            log.info(
                "warm: %s %s at %d Hz for %s in %.2f s", kind.upper(),
                (options or {}).get("engine", "default"), use.sample_rate, use.name,
                time.perf_counter() - started,
            )
    return failures
