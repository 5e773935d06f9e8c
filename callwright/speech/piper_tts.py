"""Speech synthesis with Piper (VITS voices run by onnxruntime), off the event loop.

A Piper voice is two files: ``NAME.onnx`` and its config ``NAME.onnx.json``, fetched into
``voice_models/`` by ``callwright models fetch NAME``. The ``piper-tts`` package phonemizes the
text with its bundled espeak-ng, maps phonemes to ids and runs the ONNX model; the voice is loaded
once and shared by every call. onnxruntime releases the GIL while it loads and runs a model, so
loading and synthesis run on this engine's own threads; the result (one chunk per sentence, at the
voice's rate) is joined and resampled to the rate the call asks for.

Loading a voice includes one synthesis of :data:`FIRST_TEXT`, so the phonemizer (espeak-ng's data
for the voice's language, or the model of another language's phonemizer) and the ONNX session's
first run are ready before the engine serves a call.

``piper`` is imported when a voice is loaded, so the rest of Callwright works without it; a
process that takes calls imports it at start-up (:mod:`callwright.speech.warmup`), since a native
import holds the GIL even on a worker thread.
"""

from __future__ import annotations

import asyncio
import importlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from callwright.errors import SpeechError
from callwright.media.resample import resample_once

PIPER_REQUIREMENT = "piper-tts==1.8.0"
#: Spoken once when a voice loads: digits, which every voice can say.
FIRST_TEXT = "1 2 3."


def _import_piper() -> Any:
    try:
        return importlib.import_module("piper")
    except ImportError as exc:
        raise SpeechError(f"Piper is not installed: pip install {PIPER_REQUIREMENT}") from exc


class PiperTts:
    """A :class:`~callwright.speech.protocols.TtsEngine` speaking with one Piper voice.

    ``voice_model_path`` is the ``.onnx`` file (its config is ``<path>.json``); ``model_name`` is
    the manifest name used in error messages (default: the file name without ``.onnx``).
    ``length_scale`` > 1 speaks slower; ``sentence_silence_ms`` is put between sentences.
    A ``voice`` given to :meth:`synthesize` selects a speaker of a multi-speaker voice by name;
    other values (such as the voice's own name) are ignored.
    """

    name = "piper"

    def __init__(
        self,
        voice_model_path: str | os.PathLike[str],
        *,
        model_name: str | None = None,
        threads: int = 1,
        length_scale: float | None = None,
        sentence_silence_ms: int = 0,
    ) -> None:
        if threads < 1:
            raise ValueError("threads must be >= 1")
        if length_scale is not None and not 0.1 <= length_scale <= 10.0:
            raise SpeechError(f"Piper length_scale {length_scale} is outside 0.1-10")
        self.model_path = Path(voice_model_path)
        self.config_path = Path(f"{self.model_path}.json")
        self.model_name = model_name or self.model_path.name.removesuffix(".onnx")
        self.length_scale = length_scale
        self.sentence_silence_ms = max(0, sentence_silence_ms)
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="piper")
        self._voice: Any = None
        self._lock = asyncio.Lock()
        self._closed = False

    @property
    def sample_rate(self) -> int | None:
        """The voice's native rate, once loaded."""
        return int(self._voice.config.sample_rate) if self._voice is not None else None

    async def start(self) -> None:
        """Load the voice (once, in a worker thread). Raises SpeechError."""
        async with self._lock:
            if self._voice is None:
                self._voice = await self._run(self._load)

    async def synthesize(self, text: str, sample_rate: int, voice: str | None = None) -> bytes:
        """PCM16 LE mono of ``text`` at ``sample_rate``; empty text gives empty audio."""
        if sample_rate <= 0:
            raise SpeechError(f"invalid sample rate {sample_rate}")
        if not text.strip():
            return b""
        await self.start()
        pcm: bytes = await self._run(self._synthesize, text, sample_rate, voice)
        if not pcm:
            raise SpeechError(f"Piper produced no audio for {text[:40]!r}")
        return pcm

    async def close(self) -> None:
        """Stop the threads and drop the voice."""
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
        self._voice = None

    async def _run(self, func: Any, *args: Any) -> Any:
        if self._closed:
            raise SpeechError("the Piper engine is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, func, *args)
        except RuntimeError as exc:
            if self._closed or "shutdown" in str(exc):
                raise SpeechError("the Piper engine is closed") from exc
            raise SpeechError(f"Piper failed: {exc}") from exc

    def _load(self) -> Any:
        for path in (self.model_path, self.config_path):
            if not path.is_file():
                raise SpeechError(
                    f"Piper voice file not found: {path} "
                    f"(run `callwright models fetch {self.model_name}`)"
                )
        piper = _import_piper()
        try:
            voice = piper.PiperVoice.load(self.model_path, config_path=self.config_path)
            for _ in voice.synthesize(FIRST_TEXT):  # the phonemizer and the first run, now
                pass
        except Exception as exc:  # onnxruntime, json and piper raise many unrelated types
            raise SpeechError(f"could not load the Piper voice {self.model_path}: {exc}") from exc
        return voice

    def _synthesize(self, text: str, sample_rate: int, voice: str | None) -> bytes:
        piper = _import_piper()
        loaded = self._voice
        if loaded is None:
            raise SpeechError("the Piper voice is not loaded")
        speakers = loaded.config.speaker_id_map or {}
        config = piper.SynthesisConfig(
            speaker_id=speakers.get(voice) if voice else None, length_scale=self.length_scale
        )
        rate = int(loaded.config.sample_rate)
        gap = np.zeros(rate * self.sentence_silence_ms // 1000, dtype=np.float32)
        parts: list[np.ndarray] = []
        try:
            for chunk in loaded.synthesize(text, syn_config=config):
                if parts and gap.size:
                    parts.append(gap)
                parts.append(np.asarray(chunk.audio_float_array, dtype=np.float32).reshape(-1))
        except Exception as exc:  # espeak bridge and onnxruntime errors are not typed
            raise SpeechError(f"Piper failed on {text[:40]!r}: {exc}") from exc
        if not parts:
            return b""
        audio = np.clip(np.rint(np.concatenate(parts) * 32767.0), -32768, 32767)
        return resample_once(audio.astype("<i2").tobytes(), rate, sample_rate)
