"""Speech recognition with CMU PocketSphinx and the US English model bundled in its pip package.

The model (``pocketsphinx.get_model_path("en-us")``) needs no download; it is trained on 16 kHz
audio, so a stream opened at another rate (8 kHz telephone audio) is resampled to 16 kHz with one
:class:`~callwright.media.resample.Resampler` per stream.

Decoding runs in worker *processes*, not threads: PocketSphinx's Python binding holds the GIL for
the whole of each native call (measured: ``Decoder()`` stalls every other thread, the event loop
included, for ~0.45 s and ``process_raw`` of 3 s of audio for ~1.4 s). Each worker is a
``python -c`` child speaking a small framed protocol on its stdin/stdout (see
:mod:`callwright.speech.pocketsphinx_worker`); it keeps a pool of warm decoders and serves many
streams, reading their messages strictly in order, so one stream's audio is decoded in order.
Streams are spread over the workers by load.

A worker that dies (killed, crashed) fails its streams with a :class:`SpeechError`; one that stops
answering (stopped, stuck in native code) is found by a watchdog: a ``FINISH`` after which nothing
at all comes back from the worker for ``hang_timeout_s`` gets the worker killed, which fails its
streams the same way. Either way the next stream opened starts a new worker in its place.

Closed answers use a JSGF grammar of the alternatives (``public <phrase> = yes | no thanks;``)
on a decoder without the language model, taught only the grammar's words (about 5 MB); phrases
whose words are not in the model's dictionary are dropped. Free speech needs a decoder with the
language model and the whole dictionary: about 90 MB per concurrent free-speech stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from callwright.errors import SpeechError
from callwright.media.resample import Resampler
from callwright.speech.pocketsphinx_process import WorkerProcess
from callwright.speech.pocketsphinx_worker import MODEL_RATE, Op
from callwright.speech.protocols import Transcript

log = logging.getLogger(__name__)

_WORD = re.compile(r"[a-z0-9][a-z0-9'\-]*")
#: Silence each stream decodes when the engine is warmed up (see
#: :meth:`PocketsphinxSttEngine.warm_up`).
WARM_UP_MS = 300
#: A worker that sends nothing for this long after a FINISH is taken as hung and killed.
HANG_TIMEOUT_S = 5.0
#: Where ``callwright`` is importable from, for the worker processes.
_PROJECT_ROOT = Path(__file__).resolve().parents[2]


def phrase_words(phrase: str) -> tuple[str, ...]:
    """The dictionary words of a phrase: lower case, punctuation dropped (``"Yes!"`` -> yes)."""
    return tuple(_WORD.findall(phrase.lower()))


def _bundled_model_dir() -> Path:
    try:
        import pocketsphinx
    except ImportError as exc:
        raise SpeechError("pocketsphinx is not installed (pip install pocketsphinx)") from exc
    return Path(pocketsphinx.get_model_path("en-us"))


class PocketsphinxStream:
    """One caller turn. Create with :meth:`PocketsphinxSttEngine.open_stream`."""

    def __init__(
        self,
        worker: WorkerProcess,
        stream_id: int,
        sample_rate: int,
        phrases: dict[tuple[str, ...], str] | None,
    ) -> None:
        self._worker = worker
        self._id = stream_id
        self.sample_rate = sample_rate
        self._phrases = phrases
        self._resampler = Resampler(sample_rate, MODEL_RATE)
        self._odd = b""
        self._partial = ""
        self._error: SpeechError | None = None
        self._final: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._finishing = False
        self._closed = False
        self._result: Transcript | None = None
        worker.streams[stream_id] = self
        grammar = None if phrases is None else [list(words) for words in phrases]
        worker.send(Op.OPEN, stream_id, json.dumps({"grammar": grammar}).encode())

    def feed(self, pcm: bytes) -> None:
        """Queue PCM16 audio at the stream's rate; returns at once. Raises SpeechError."""
        if self._error is not None:
            raise self._error
        if self._finishing or self._closed:
            raise SpeechError("feed() on a pocketsphinx stream that was finished or closed")
        data = self._odd + pcm
        self._odd = data[len(data) - len(data) % 2 :]
        audio = self._resampler.process(data[: len(data) - len(self._odd)])
        if audio:
            self._worker.send(Op.AUDIO, self._id, audio)

    def partial(self) -> str:
        return self._partial

    async def finish(self) -> Transcript:
        """Wait until the worker has decoded everything queued and return the turn's result."""
        if self._result is not None:
            return self._result
        if self._closed:
            raise SpeechError("finish() on a closed pocketsphinx stream")
        if self._error is not None:
            raise self._error
        started = time.perf_counter()
        if not self._finishing:
            self._finishing = True
            tail = self._resampler.process(b"", last=True)
            if tail:
                self._worker.send(Op.AUDIO, self._id, tail)
            self._worker.send(Op.FINISH, self._id)
            self._worker.watch()
        try:
            final = await asyncio.shield(self._final)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self._closed and (current is None or not current.cancelling()):
                raise SpeechError("the pocketsphinx stream was closed during finish()") from None
            raise
        text = str(final.get("text") or "")
        if self._phrases is not None and text:
            text = self._phrases.get(tuple(text.split()), text)
        confidence = final.get("confidence")
        self._result = Transcript(
            text=text,
            confidence=float(confidence) if isinstance(confidence, int | float) else None,
            finalize_ms=(time.perf_counter() - started) * 1000.0,
        )
        self._partial = ""
        return self._result

    async def close(self) -> None:
        """Abandon the turn (if unfinished) and free the worker's decoder. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._worker.streams.pop(self._id, None)
        if not self._final.done() and self._error is None and self._worker.alive:
            with contextlib.suppress(SpeechError):
                self._worker.send(Op.CLOSE, self._id)
        if not self._final.done():
            self._final.cancel()

    def answer(self, op: Op, payload: bytes) -> None:
        """A message from the worker for this stream."""
        if op == Op.PARTIAL and not self._finishing:
            text = payload.decode()
            if self._phrases is not None:
                text = self._phrases.get(tuple(text.split()), text)
            self._partial = text
        elif op == Op.FINAL:
            self._worker.streams.pop(self._id, None)
            if not self._final.done():
                self._final.set_result(json.loads(payload))
        elif op == Op.ERROR:
            self._worker.streams.pop(self._id, None)
            self.fail(SpeechError(f"pocketsphinx: {payload.decode(errors='replace')}"))

    def fail(self, error: SpeechError) -> None:
        if self._error is None:
            self._error = error
        if not self._final.done():
            self._final.set_exception(error)
            self._final.exception()  # finish() raises it; nobody may be waiting


class PocketsphinxSttEngine:
    """An :class:`~callwright.speech.protocols.SttEngine` with PocketSphinx's bundled US English
    model. ``processes`` worker processes decode (each loads the model, about 60 MB); each keeps
    up to ``pool_size`` idle decoders warm. ``python`` is the interpreter the workers run;
    ``hang_timeout_s`` how long a worker may stay silent after a FINISH before it is killed."""

    name = "pocketsphinx"

    def __init__(
        self,
        *,
        processes: int = 1,
        pool_size: int = 4,
        model_dir: str | os.PathLike[str] | None = None,
        python: str = sys.executable,
        start_timeout_s: float = 60.0,
        hang_timeout_s: float = HANG_TIMEOUT_S,
    ) -> None:
        if processes < 1:
            raise ValueError("processes must be >= 1")
        self.model_dir = Path(model_dir) if model_dir is not None else _bundled_model_dir()
        self.processes = processes
        self.pool_size = pool_size
        self._python = python
        self._start_timeout_s = start_timeout_s
        self._hang_timeout_s = hang_timeout_s
        self._workers: list[WorkerProcess] = []
        self._lock = asyncio.Lock()
        self._next_id = 0
        self._closed = False

    async def start(self) -> None:
        """Start the worker processes and wait until each has a decoder loaded."""
        async with self._lock:
            if self._closed:
                raise SpeechError("the pocketsphinx engine is closed")
            self._workers = [w for w in self._workers if w.alive]
            while len(self._workers) < self.processes:
                self._workers.append(await self._spawn())

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (for monitoring and tests)."""
        return [w.proc.pid for w in self._workers if w.alive]

    async def open_stream(
        self, sample_rate: int, grammar: Sequence[str] | None = None
    ) -> PocketsphinxStream:
        """A stream for one turn at ``sample_rate`` (resampled to 16 kHz when different)."""
        if sample_rate <= 0:
            raise SpeechError(f"invalid sample rate {sample_rate}")
        phrases = self._phrases(grammar)
        if self._closed:
            raise SpeechError("the pocketsphinx engine is closed")
        if len(self.worker_pids()) < self.processes:
            await self.start()
        worker = min((w for w in self._workers if w.alive), key=lambda w: len(w.streams))
        self._next_id = self._next_id % 0xFFFFFFFE + 1
        return PocketsphinxStream(worker, self._next_id, sample_rate, phrases)

    async def warm_up(self, sample_rate: int, streams: int) -> int:
        """Have ``streams`` free-speech decoders made and idle in the workers (at most
        ``pool_size`` per worker); returns how many streams were opened for it.

        A worker makes a free-speech decoder on a stream's OPEN when it has no idle one: 0.3-0.5 s
        of its CPU (the language model and the whole dictionary, about 90 MB), which the caller's
        turn would wait for. Here each stream decodes :data:`WARM_UP_MS` of silence and finishes,
        which gives its decoder back to the worker's pool.
        """
        if sample_rate <= 0:
            raise SpeechError(f"invalid sample rate {sample_rate}")
        await self.start()
        count = min(streams, self.processes * self.pool_size)
        opened: list[PocketsphinxStream] = []
        try:
            for _ in range(count):  # all open at once, so each gets a decoder of its own
                opened.append(await self.open_stream(sample_rate))
            silence = bytes(sample_rate * 2 * WARM_UP_MS // 1000)
            for stream in opened:
                stream.feed(silence)
            await asyncio.gather(*(stream.finish() for stream in opened))
        finally:
            for stream in opened:
                await stream.close()
        return count

    async def close(self) -> None:
        """Fail open streams and stop the worker processes."""
        if self._closed:
            return
        self._closed = True
        async with self._lock:
            workers, self._workers = self._workers, []
        await asyncio.gather(*(w.stop() for w in workers))

    @staticmethod
    def _phrases(grammar: Sequence[str] | None) -> dict[tuple[str, ...], str] | None:
        if grammar is None:
            return None
        if isinstance(grammar, str):
            raise SpeechError("a grammar is a list of phrases, not a string")
        phrases: dict[tuple[str, ...], str] = {}
        for phrase in grammar:
            words = phrase_words(phrase)
            if words:
                phrases.setdefault(words, " ".join(phrase.split()))
        if not phrases:
            raise SpeechError(f"the grammar has no English words for pocketsphinx: {grammar!r}")
        return phrases

    async def _spawn(self) -> WorkerProcess:
        root = str(_PROJECT_ROOT)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        code = "from callwright.speech.pocketsphinx_worker import worker_main; worker_main()"
        argv = [self._python, "-c", code, str(self.model_dir), str(self.pool_size)]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
            )
        except OSError as exc:
            raise SpeechError(f"could not start a pocketsphinx worker: {exc}") from exc
        worker = WorkerProcess(proc, self._hang_timeout_s)
        try:
            await asyncio.wait_for(asyncio.shield(worker.ready), self._start_timeout_s)
        except (SpeechError, TimeoutError) as exc:
            await worker.stop(timeout_s=1.0)
            raise SpeechError(f"the pocketsphinx worker did not start: {exc}") from exc
        except BaseException:
            await worker.stop(timeout_s=1.0)
            raise
        return worker
