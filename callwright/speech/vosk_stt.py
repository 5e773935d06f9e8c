"""Speech recognition with Vosk (Kaldi), off the event loop.

One ``vosk.Model`` per model directory per process (:class:`VoskModelCache`), shared by every
call. Each caller turn opens a :class:`VoskStream`, which borrows a warm ``KaldiRecognizer`` from a
:class:`~callwright.speech.recognizer_pool.RecognizerPool` keyed by ``(sample_rate, grammar)``.

``AcceptWaveform`` can block for hundreds of milliseconds, so it never runs on the event loop: every
native call runs on the engine's own ``ThreadPoolExecutor``. A stream has one worker task that
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
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, cast

from callwright.errors import SpeechError
from callwright.speech.protocols import Transcript
from callwright.speech.recognizer_pool import PoolKey, RecognizerPool

log = logging.getLogger(__name__)

UNK = "[unk]"
#: Most audio one executor job decodes at once, in milliseconds (when a stream has fallen behind).
MAX_BATCH_MS = 1000


class KaldiRecognizerLike(Protocol):
    """The part of ``vosk.KaldiRecognizer`` this module uses."""

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


def _words_of(result: dict[str, Any]) -> list[dict[str, Any]]:
    words = result.get("result") or []
    return [w for w in words if isinstance(w, dict) and w.get("word") != UNK]


def _text_of(result: dict[str, Any], field: str = "text") -> str:
    text = str(result.get(field) or "")
    return " ".join(word for word in text.split() if word != UNK)


def _retrieve(job: asyncio.Future[Any]) -> None:
    # Read the outcome of a job nobody may await any more, so asyncio does not log it as lost.
    if not job.cancelled():
        job.exception()


class VoskStream:
    """One caller turn. Create with :meth:`VoskSttEngine.open_stream`."""

    def __init__(
        self,
        *,
        engine: VoskSttEngine,
        recognizer: KaldiRecognizerLike,
        key: PoolKey,
        max_batch_bytes: int,
    ) -> None:
        self._engine = engine
        self._recognizer: KaldiRecognizerLike | None = recognizer
        self._key = key
        self._max_batch = max(2, max_batch_bytes - max_batch_bytes % 2)
        self._pending = bytearray()
        self._wake = asyncio.Event()
        self._finishing = False
        self._closing = False
        self._error: SpeechError | None = None
        self._segments: list[dict[str, Any]] = []
        self._partial = ""
        self._result: Transcript | None = None
        self._final_job: asyncio.Future[dict[str, Any]] | None = None
        self._worker = asyncio.get_running_loop().create_task(self._run(), name="vosk-stream")

    @property
    def sample_rate(self) -> int:
        return self._key[0]

    @property
    def grammar(self) -> tuple[str, ...] | None:
        return self._key[1]

    def feed(self, pcm: bytes) -> None:
        """Queue PCM16 audio; returns at once. Raises SpeechError if the stream cannot take it."""
        if self._error is not None:
            raise self._error
        if self._finishing or self._closing:
            raise SpeechError("feed() on a Vosk stream that was finished or closed")
        if pcm:
            self._pending += pcm
            self._wake.set()

    def partial(self) -> str:
        """The text heard so far in this turn (finished segments plus the current partial)."""
        parts = [_text_of(seg) for seg in self._segments] + [self._partial]
        return " ".join(part for part in parts if part)

    async def finish(self) -> Transcript:
        """Decode everything queued and return the turn's result (the same one if called again)."""
        if self._result is not None:
            return self._result
        if self._closing:
            raise SpeechError("finish() on a closed Vosk stream")
        started = time.perf_counter()
        self._finishing = True
        self._wake.set()
        await asyncio.shield(self._worker)
        if self._error is not None:
            raise self._error
        if self._final_job is None:
            self._final_job = asyncio.ensure_future(self._engine.run(self._final_result))
            self._final_job.add_done_callback(_retrieve)
        final = await asyncio.shield(self._final_job)
        segments = [*self._segments, final]
        words = [w for seg in segments for w in _words_of(seg)]
        confs = [float(w["conf"]) for w in words if isinstance(w.get("conf"), int | float)]
        text = " ".join(t for t in (_text_of(seg) for seg in segments) if t)
        self._result = Transcript(
            text=text,
            confidence=sum(confs) / len(confs) if confs else None,
            finalize_ms=(time.perf_counter() - started) * 1000.0,
        )
        self._partial = ""
        return self._result

    async def close(self) -> None:
        """Stop decoding and give the recognizer back to the pool. Safe to call twice."""
        if self._closing:
            return
        self._closing = True
        self._pending.clear()
        self._wake.set()
        try:
            await asyncio.shield(self._worker)
        except asyncio.CancelledError:
            if not self._worker.done():
                raise
            # The worker was cancelled from outside while a batch may still be decoding:
            # the recognizer's state is unknown, so it is not reused.
            self._recognizer = None
        if self._final_job is not None and not self._final_job.done():
            # finish() was abandoned (cancelled) while FinalResult ran: let it end before reuse.
            await asyncio.wait([self._final_job])
        recognizer, self._recognizer = self._recognizer, None
        if recognizer is None or self._error is not None:
            return
        await self._engine.give_back(self._key, recognizer)

    def fail(self, error: SpeechError) -> None:
        """Mark the stream as dead (the engine closed); the next call raises ``error``."""
        if self._error is None:
            self._error = error
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending and not self._closing and self._error is None:
                size = min(len(self._pending), self._max_batch)
                size -= size % 2
                if size == 0:  # half a sample: wait for its other byte
                    break
                batch = bytes(self._pending[:size])
                del self._pending[:size]
                try:
                    segment, partial = await self._engine.run(self._accept, batch)
                except SpeechError as exc:
                    self.fail(exc)
                    return
                if segment is not None:
                    self._segments.append(segment)
                self._partial = partial
            if self._closing or self._error is not None:
                return
            if self._finishing and len(self._pending) < 2:
                return

    def _accept(self, batch: bytes) -> tuple[dict[str, Any] | None, str]:
        recognizer = self._live_recognizer()
        if recognizer.AcceptWaveform(batch):
            return json.loads(recognizer.Result()), ""
        return None, _text_of(json.loads(recognizer.PartialResult()), "partial")

    def _final_result(self) -> dict[str, Any]:
        result = json.loads(self._live_recognizer().FinalResult())
        return result if isinstance(result, dict) else {}

    def _live_recognizer(self) -> KaldiRecognizerLike:
        if self._recognizer is None:
            raise SpeechError("the Vosk stream has no recognizer (closed)")
        return self._recognizer


class VoskSttEngine:
    """An :class:`~callwright.speech.protocols.SttEngine` backed by one shared Vosk model.

    Construct, then ``await engine.start()`` (or use :meth:`load`, which does both); the model
    loads in a worker thread. ``threads`` is the size of the decoding thread pool, ``pool_size``
    the number of idle recognizers kept warm. ``log_level`` is passed to ``vosk.SetLogLevel``
    (process-wide; ``None`` leaves it alone; -1 hides Kaldi's LOG lines, keeps warnings).
    """

    name = "vosk"

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        threads: int = 2,
        pool_size: int = 8,
        models: VoskModelCache = SHARED_MODELS,
        log_level: int | None = -1,
        max_batch_ms: int = MAX_BATCH_MS,
    ) -> None:
        if threads < 1:
            raise ValueError("threads must be >= 1")
        self.model_path = Path(model_path)
        self._models = models
        self._log_level = log_level
        self._max_batch_ms = max_batch_ms
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="vosk")
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
        threads: int = 2,
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
            recognizer = await self.run(self.pool.take_or_create, key, self._create_recognizer)
        stream = VoskStream(
            engine=self,
            recognizer=recognizer,
            key=key,
            max_batch_bytes=sample_rate * 2 * self._max_batch_ms // 1000,
        )
        self._streams.add(stream)
        return stream

    async def run(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run blocking ``func(*args)`` on the engine's threads; errors become SpeechError."""
        if self._closed:
            raise SpeechError("the Vosk engine is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, func, *args)
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
