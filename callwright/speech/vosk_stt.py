"""Speech recognition with Vosk (Kaldi), off the event loop.

One ``vosk.Model`` per model directory per process (:class:`VoskModelCache`), shared by every
call. Each caller turn opens a :class:`VoskStream`, which borrows a warm ``KaldiRecognizer`` from a
:class:`~callwright.speech.recognizer_pool.RecognizerPool` keyed by ``(sample_rate, grammar)``.

``AcceptWaveform`` can block for hundreds of milliseconds, so it never runs on the event loop: every
native call runs on the engine's own threads (a :class:`PriorityExecutor`: a turn that has
ended goes before live audio). A stream has one worker task that
takes the audio queued by :meth:`VoskStream.feed` in order, in batches when it has fallen behind,
and awaits the executor for each batch, so a stream's audio is decoded strictly in order while
different streams share the threads fairly.

Closed answers use Vosk's grammar mode: the phrases are passed as a JSON list (with ``"[unk]"``
when the model has that word, so out-of-grammar speech does not get forced onto a phrase).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, cast

from callwright.errors import SpeechError
from callwright.speech.recognizer_pool import PoolKey, RecognizerPool
from callwright.speech.stt_scheduler import (
    DECODER_NICE,
    FINISHING,
    LIVE,
    PriorityExecutor,
    default_threads,
)
from callwright.speech.vosk_stream import UNK, VoskStream

log = logging.getLogger(__name__)

#: Most audio one executor job decodes at once, in milliseconds (when a stream has fallen behind).
MAX_BATCH_MS = 1000
#: Silence a recognizer decodes when the pool is warmed up (see :meth:`VoskSttEngine.warm_up`).
WARM_UP_MS = 300


class KaldiRecognizerLike(Protocol):
    """The part of ``vosk.KaldiRecognizer`` the engine and its streams use."""

    def AcceptWaveform(self, data: bytes) -> int: ...  # noqa: N802 - vosk's names
    def Result(self) -> str: ...  # noqa: N802
    def PartialResult(self) -> str: ...  # noqa: N802
    def FinalResult(self) -> str: ...  # noqa: N802
    def Reset(self) -> None: ...  # noqa: N802
    def SetWords(self, enable_words: bool) -> None: ...  # noqa: N802


def scrub_recognizer(recognizer: KaldiRecognizerLike) -> None:
    """Make a used recognizer as good as new before another caller gets it.

    ``Reset()`` alone is not enough: on a recognizer still decoding it keeps the feature pipeline,
    so audio of the abandoned turn (and that caller's i-vector adaptation) leaks into the next
    turn (a reused recognizer heard "네 아니요" for "아니요"). ``FinalResult()`` drops the decoder
    and pipeline, so the next ``AcceptWaveform`` builds fresh ones; ``Reset()`` then clears the
    stored result. On a finished recognizer both calls are cheap no-ops.
    """
    recognizer.FinalResult()
    recognizer.Reset()


def _load_vosk_model(path: Path) -> object:
    import vosk

    return cast(object, vosk.Model(str(path)))


class VoskModelCache:
    """Loaded Vosk models by resolved directory: each is loaded once per process.

    :meth:`get` blocks (a model takes seconds to load): call it from a worker thread.
    """

    def __init__(self, loader: Callable[[Path], object] = _load_vosk_model) -> None:
        self._loader = loader
        self._lock = threading.Lock()
        self._models: dict[Path, object] = {}
        self._loading: dict[Path, threading.Lock] = {}

    def get(self, path: str | os.PathLike[str]) -> object:
        """The model in ``path``, loading it on first use. Raises SpeechError if it cannot load."""
        key = Path(path).expanduser().resolve()
        with self._lock:
            model = self._models.get(key)
            if model is not None:
                return model
            path_lock = self._loading.setdefault(key, threading.Lock())
        with path_lock:  # two engines asking at once load it once
            with self._lock:
                model = self._models.get(key)
            if model is not None:
                return model
            if not key.is_dir():
                raise SpeechError(f"Vosk model directory not found: {key}")
            try:
                model = self._loader(key)
            except Exception as exc:  # vosk raises a plain Exception
                raise SpeechError(f"could not load the Vosk model in {key}: {exc}") from exc
            with self._lock:
                self._models[key] = model
            return model

    def is_loaded(self, path: str | os.PathLike[str]) -> bool:
        with self._lock:
            return Path(path).expanduser().resolve() in self._models


#: The process-wide model cache used unless an engine is given another.
SHARED_MODELS = VoskModelCache()


def normalize_grammar(grammar: Sequence[str] | None) -> tuple[str, ...] | None:
    """Strip and de-duplicate phrases (order kept); ``None`` means free-form recognition."""
    if grammar is None:
        return None
    if isinstance(grammar, str):
        raise SpeechError("a grammar is a list of phrases, not a string")
    seen: dict[str, None] = {}
    for phrase in grammar:
        cleaned = " ".join(phrase.split())
        if cleaned and cleaned != UNK:
            seen.setdefault(cleaned, None)
    if not seen:
        raise SpeechError("the grammar has no phrases (a closed answer needs at least one)")
    return tuple(seen)


class VoskSttEngine:
    """An :class:`~callwright.speech.protocols.SttEngine` backed by one shared Vosk model.

    Construct, then ``await engine.start()`` (or use :meth:`load`, which does both); the model
    loads in a worker thread. ``threads`` is the size of the decoding thread pool (None or 0: one
    per core), which runs a turn that has ended before live audio, at a CPU priority ``nice``
    below the event loop's, plus (with ``nice``) one thread at the loop's priority for turns
    that have ended (:mod:`~callwright.speech.stt_scheduler`); ``pool_size``
    the number of idle recognizers kept warm. ``log_level`` is passed to ``vosk.SetLogLevel``
    (process-wide; ``None`` leaves it alone; -1 hides Kaldi's LOG lines, keeps warnings).
    """

    name = "vosk"

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        threads: int | None = None,
        pool_size: int = 8,
        models: VoskModelCache = SHARED_MODELS,
        log_level: int | None = -1,
        max_batch_ms: int = MAX_BATCH_MS,
        nice: int = DECODER_NICE,
    ) -> None:
        threads = threads or default_threads()
        if threads < 1:
            raise ValueError("threads must be >= 1")
        self.model_path = Path(model_path)
        self._models = models
        self._log_level = log_level
        self._max_batch_ms = max_batch_ms
        self._executor = PriorityExecutor(
            threads, thread_name_prefix="vosk", nice=nice, urgent_workers=1 if nice else 0
        )
        self.pool: RecognizerPool[KaldiRecognizerLike] = RecognizerPool(
            scrub_recognizer, max_idle=pool_size
        )
        self._model: object | None = None
        self._start_lock = asyncio.Lock()
        self._closed = False
        self._streams: weakref.WeakSet[VoskStream] = weakref.WeakSet()

    @classmethod
    async def load(
        cls,
        model_path: str | os.PathLike[str],
        *,
        threads: int | None = None,
        pool_size: int = 8,
        models: VoskModelCache = SHARED_MODELS,
    ) -> VoskSttEngine:
        """Create an engine and load its model (in a worker thread). Raises SpeechError."""
        engine = cls(model_path, threads=threads, pool_size=pool_size, models=models)
        try:
            await engine.start()
        except BaseException:
            await engine.close()
            raise
        return engine

    async def start(self) -> None:
        """Load the model (once per process, in a worker thread). Raises SpeechError."""
        async with self._start_lock:
            if self._model is None:
                self._model = await self.run(self._load_model)

    @property
    def queued_audio_s(self) -> float:
        """Audio waiting for recognition, in seconds, summed over the open streams."""
        return sum(s.pending_bytes / (2 * s.sample_rate) for s in list(self._streams))

    async def open_stream(
        self, sample_rate: int, grammar: Sequence[str] | None = None
    ) -> VoskStream:
        """A stream for one turn at ``sample_rate`` (8000 or 16000 Hz typically)."""
        if sample_rate <= 0:
            raise SpeechError(f"invalid sample rate {sample_rate}")
        key: PoolKey = (sample_rate, normalize_grammar(grammar))
        await self.start()
        recognizer = self.pool.take(key)  # a warm one needs no thread hop
        if recognizer is None:
            # Made ahead of live audio: the turn cannot be decoded (nor its partials seen by the
            # end of turn) until it has one. With many calls the pool often has none idle (it
            # keeps at most pool_size), and behind live audio it waited for the whole backlog.
            recognizer = await self.run(
                self.pool.take_or_create, key, self._create_recognizer, priority=FINISHING
            )
        stream = VoskStream(
            engine=self,
            recognizer=recognizer,
            key=key,
            max_batch_bytes=sample_rate * 2 * self._max_batch_ms // 1000,
        )
        self._streams.add(stream)
        return stream

    @property
    def idle(self) -> bool:
        """No decoding running or waiting (for benchmarks that step audio by audio)."""
        return self._executor.idle and all(s.pending_bytes == 0 for s in list(self._streams))

    @property
    def busy(self) -> bool:
        """Every decoding thread is taken and jobs wait (streams then ask for fewer partials)."""
        return self._executor.busy

    async def run(self, func: Callable[..., Any], *args: Any, priority: int = LIVE) -> Any:
        """Run blocking ``func(*args)`` on the engine's threads, the lower ``priority`` first;
        errors become SpeechError."""
        if self._closed:
            raise SpeechError("the Vosk engine is closed")
        try:
            return await asyncio.wrap_future(self._executor.submit_at(priority, func, *args))
        except SpeechError:
            raise
        except RuntimeError as exc:
            if self._closed or "shutdown" in str(exc):
                raise SpeechError("the Vosk engine is closed") from exc
            raise SpeechError(f"Vosk failed: {exc}") from exc
        except Exception as exc:  # vosk raises a plain Exception
            raise SpeechError(f"Vosk failed: {exc}") from exc

    async def give_back(self, key: PoolKey, recognizer: KaldiRecognizerLike) -> None:
        """Reset ``recognizer`` (in a worker thread) and keep it for the next stream."""
        if self._closed:
            return
        try:
            await self.run(self.pool.release, key, recognizer)
        except SpeechError:
            log.debug("recognizer dropped: the engine closed", exc_info=True)

    async def warm_up(self, sample_rate: int, streams: int) -> int:
        """Have ``streams`` warm free-speech recognizers for ``sample_rate`` idle in the pool (at
        most its ``max_idle``, counting those already there); returns how many were made.

        A new free-speech recognizer is slow on its first audio: the model's lookahead graph is
        composed lazily, per recognizer. Measured with the Korean model: about 0.7 CPU-seconds
        for its first 300 ms (silence or speech), after which a short answer decodes in ~0.15 s
        instead of ~0.75 s. Kaldi releases the GIL, so the loop does not stall, but calls that
        start together queue for the engine's threads behind each other's first decodes. Each
        recognizer made here decodes :data:`WARM_UP_MS` of silence, on the engine's threads.
        """
        if sample_rate <= 0:
            raise SpeechError(f"invalid sample rate {sample_rate}")
        await self.start()
        key: PoolKey = (sample_rate, None)
        missing = min(streams, self.pool.max_idle) - self.pool.idle_for(key)
        if missing <= 0:
            return 0
        await asyncio.gather(*(self.run(self._warm_recognizer, key) for _ in range(missing)))
        return missing

    async def close(self) -> None:
        """Fail open streams, stop the threads and drop the idle recognizers.

        The model itself stays in its :class:`VoskModelCache` (other engines may share it).
        """
        if self._closed:
            return
        self._closed = True
        error = SpeechError("the Vosk engine is closed")
        for stream in list(self._streams):
            stream.fail(error)
        executor = self._executor
        await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
        self.pool.clear()

    def _load_model(self) -> object:
        if self._log_level is not None:
            import vosk

            vosk.SetLogLevel(self._log_level)
        return self._models.get(self.model_path)

    def _warm_recognizer(self, key: PoolKey) -> None:
        recognizer = self.pool.create(key, self._create_recognizer)
        recognizer.AcceptWaveform(bytes(key[0] * 2 * WARM_UP_MS // 1000))
        self.pool.release(key, recognizer)

    def _create_recognizer(self, key: PoolKey) -> KaldiRecognizerLike:
        import vosk

        sample_rate, grammar = key
        model: Any = self._model
        if model is None:
            raise SpeechError("the Vosk model is not loaded")
        if grammar is None:
            recognizer = vosk.KaldiRecognizer(model, float(sample_rate))
        else:
            # A phrase with a word the model does not know can never be recognised, and Kaldi
            # prints a warning for it on every recogniser: leave such phrases out.
            phrases = [
                phrase
                for phrase in grammar
                if all(model.vosk_model_find_word(word) >= 0 for word in phrase.split())
            ]
            dropped = [phrase for phrase in grammar if phrase not in phrases]
            if dropped:
                log.info("grammar phrases outside the Vosk vocabulary, left out: %s", dropped)
            if not phrases:  # nothing to restrict to: recognise free speech instead
                log.warning("no grammar phrase is in the model's vocabulary: %s", list(grammar))
                recognizer = vosk.KaldiRecognizer(model, float(sample_rate))
                recognizer.SetWords(True)
                return cast(KaldiRecognizerLike, recognizer)
            if model.vosk_model_find_word(UNK) >= 0:
                phrases.append(UNK)
            # ensure_ascii=False: Vosk does not decode \\u escapes, Korean would never match.
            spec = json.dumps(phrases, ensure_ascii=False)
            recognizer = vosk.KaldiRecognizer(model, float(sample_rate), spec)
        recognizer.SetWords(True)
        return cast(KaldiRecognizerLike, recognizer)
