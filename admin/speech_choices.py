"""What the assistant form offers as choices: the speech engines installed on this server, the
models and voices they can use, and the LLM server's models.

:func:`speech_catalog` looks at the machine (Python packages, the ``espeak-ng`` program and its
voices, ``voice_models/`` and its manifest); it blocks, so :class:`Choices` runs it on a worker
thread and keeps the answer for a minute. :func:`llm_models` asks the LLM server's ``/models``
(OpenAI-compatible) with a short timeout: no answer means no list, and the form falls back to a
text box. The assistant page never waits for that server: it shows the list when one is cached
(:meth:`Choices.cached_llm_models`) and otherwise asks for it from the page
(``GET /api/v1/llm-models``), which fills the cache for the next minute.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from callwright.errors import ConfigError
from callwright.speech.model_store import default_data_dir, list_models

log = logging.getLogger(__name__)

#: (engine, label, what it needs: Python modules, or a program when it starts with "bin:").
STT_ENGINES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("vosk", "Vosk (on this server)", ("vosk",)),
    ("pocketsphinx", "PocketSphinx (on this server, US English)", ("pocketsphinx",)),
    ("openai", "OpenAI-compatible speech-to-text (API key)", ("openai",)),
)
TTS_ENGINES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("espeak-ng", "eSpeak NG (on this server)", ("bin:espeak-ng",)),
    ("piper", "Piper (on this server)", ("piper", "onnxruntime")),
    ("openai", "OpenAI-compatible text-to-speech (API key)", ("openai",)),
)
OPENAI_VOICES = ("alloy", "ash", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer")
CACHE_S = 60.0
LLM_MODELS_TIMEOUT_S = 2.0
MAX_LLM_MODELS = 200

Choice = tuple[str, str]


@dataclass(frozen=True, slots=True)
class SpeechCatalog:
    """Choices for the form: ``(value, label)`` pairs; engines that are not installed are left
    out (``missing`` names them, with what they need)."""

    stt_engines: list[Choice]
    tts_engines: list[Choice]
    stt_models: list[Choice]
    voices: dict[str, list[Choice]]
    missing: list[str] = field(default_factory=list)


def _available(needs: tuple[str, ...], which: Callable[[str], str | None],
               has_module: Callable[[str], bool]) -> bool:
    return all(which(n[4:]) is not None if n.startswith("bin:") else has_module(n) for n in needs)


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def espeak_voices(program: str = "espeak-ng") -> list[Choice]:
    """``(language, "Language name (code)")`` of every voice ``espeak-ng --voices`` lists."""
    try:
        listing = subprocess.run([program, "--voices"], capture_output=True, text=True,
                                 timeout=5, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("could not list the espeak-ng voices: %s", exc)
        return []
    return parse_espeak_voices(listing)


def parse_espeak_voices(listing: str) -> list[Choice]:
    voices: list[Choice] = []
    for line in listing.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 4:
            code, name = parts[1], parts[3].replace("_", " ")
            voices.append((code, f"{name} ({code})"))
    return voices


def speech_catalog(
    models_dir: Path | None = None,
    *,
    which: Callable[[str], str | None] = shutil.which,
    has_module: Callable[[str], bool] = _has_module,
    voices_of_espeak: Callable[[], list[Choice]] = espeak_voices,
) -> SpeechCatalog:
    """Look at this machine. Blocking (files, a subprocess)."""
    missing: list[str] = []

    def usable(table: tuple[tuple[str, str, tuple[str, ...]], ...]) -> list[Choice]:
        found = []
        for name, label, needs in table:
            if _available(needs, which, has_module):
                found.append((name, label))
            else:
                missing.append(f"{name} (needs {', '.join(n.removeprefix('bin:') for n in needs)})")
        return found

    stt_engines = usable(STT_ENGINES)
    tts_engines = usable(TTS_ENGINES)
    try:
        models = list_models(models_dir if models_dir is not None else default_data_dir())
    except ConfigError as exc:  # a broken manifest: no model choices, the form still works
        log.warning("voice_models manifest unreadable: %s", exc)
        models = []
    stt_models: list[Choice] = []
    piper: list[Choice] = []
    for status in models:
        entry = status.entry
        if status.status == "missing":
            continue
        label = f"{entry.name} ({entry.language})"
        if entry.kind in ("vosk", "package"):
            stt_models.append((entry.name, label))
        elif entry.kind == "piper":
            piper.append((entry.name, label))
    voices: dict[str, list[Choice]] = {
        "espeak-ng": voices_of_espeak() if any(e == "espeak-ng" for e, _ in tts_engines) else [],
        "piper": piper,
        "openai": [(v, v) for v in OPENAI_VOICES],
    }
    return SpeechCatalog(stt_engines, tts_engines, stt_models, voices, missing)


async def llm_models(
    http: aiohttp.ClientSession, base_url: str, api_key: str | None,
    timeout_s: float = LLM_MODELS_TIMEOUT_S,
) -> list[str]:
    """The ids the LLM server's ``GET {base_url}/models`` lists; [] when it does not answer."""
    if not base_url:
        return []
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        async with http.get(base_url.rstrip("/") + "/models", headers=headers,
                            timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
            if response.status != 200:
                return []
            data: Any = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        log.info("the LLM server's model list is unavailable: %s", exc)
        return []
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return []
    ids = [str(i["id"]) for i in items if isinstance(i, dict) and isinstance(i.get("id"), str)]
    return sorted(set(ids))[:MAX_LLM_MODELS]


class Choices:
    """The admin's cached view of both (one per app)."""

    def __init__(self, llm_base_url: str, llm_api_key: str | None = None,
                 catalog: Callable[[], SpeechCatalog] = speech_catalog) -> None:
        self._llm_base_url = llm_base_url
        self._llm_api_key = llm_api_key
        self._catalog_fn = catalog
        self._catalog: tuple[float, SpeechCatalog] | None = None
        self._models: tuple[float, list[str]] | None = None
        self._asking: asyncio.Task[list[str]] | None = None
        self._lock = asyncio.Lock()

    async def speech(self) -> SpeechCatalog:
        async with self._lock:
            if self._catalog is None or time.monotonic() - self._catalog[0] > CACHE_S:
                self._catalog = (time.monotonic(), await asyncio.to_thread(self._catalog_fn))
            return self._catalog[1]

    def cached_llm_models(self) -> list[str] | None:
        """The LLM server's models without waiting: [] when no LLM server is configured, the
        list kept from the last minute, else None (not known yet: ask :meth:`llm_models`)."""
        if not self._llm_base_url:
            return []
        if self._models is None or time.monotonic() - self._models[0] > CACHE_S:
            return None
        return self._models[1]

    async def llm_models(self) -> list[str]:
        """The LLM server's models, asked (once for all who ask meanwhile) unless cached."""
        cached = self.cached_llm_models()
        if cached is not None:
            return cached
        if self._asking is None or self._asking.done():
            self._asking = asyncio.get_running_loop().create_task(self._ask())
        return await asyncio.shield(self._asking)

    async def _ask(self) -> list[str]:
        async with aiohttp.ClientSession() as http:
            found = await llm_models(http, self._llm_base_url, self._llm_api_key)
        self._models = (time.monotonic(), found)
        return found


#: Where the app keeps its :class:`Choices`.
CHOICES = web.AppKey("choices", Choices)
