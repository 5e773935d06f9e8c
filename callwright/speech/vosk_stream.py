"""One caller turn of Vosk recognition: :class:`VoskStream`, opened by
:meth:`~callwright.speech.vosk_stt.VoskSttEngine.open_stream` with a warm recognizer.

A stream has one worker task that takes the audio queued by :meth:`VoskStream.feed` in order, in
batches when it has fallen behind, and awaits the engine's executor for each batch, so a stream's
audio is decoded strictly in order while different streams share the threads fairly. Once the turn
has ended, the audio still queued and the final result are decoded in one job (one trip through
the busy threads on the caller's critical path, not two).

A grammar's decode of a short answer is fragile: on the same audio of a clear "네" (espeak, 8 kHz
heard on a 16 kHz line), a Vosk recognizer returns the word or an empty result depending on
where the audio falls on Kaldi's 10 ms frames (the pre-roll's length), on how it was batched,
and on the recognizer's history (a pooled one carries its adaptation from earlier turns):
offline, 5 of 26 pre-roll lengths at 20 ms steps came back empty; on pooled recognizers, 57 of
90 turns of one recorded "네"; in the service, under load, the demo call's "네" did. The caller
is then asked again. So a grammar turn whose whole result is empty gets a second look in the same
job: its audio decoded again, shifted by half a frame (:data:`SECOND_LOOK_SHIFT_S`). Silence
stays empty; the retry costs one more decode of a short turn, only when the first found nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

from callwright.errors import SpeechError
from callwright.speech.protocols import Transcript
from callwright.speech.recognizer_pool import PoolKey
from callwright.speech.stt_scheduler import FINISHING, LIVE

if TYPE_CHECKING:  # vosk_stt imports VoskStream from here
    from callwright.speech.vosk_stt import KaldiRecognizerLike, VoskSttEngine

UNK = "[unk]"
#: While the engine's threads are all busy, a free-speech stream asks for a partial result only
#: every this many batches (a partial costs a traceback of a large decoder graph; the final result
#: matters more). A grammar's graph is tiny (about 10 µs a partial with the Korean model), and the
#: end of a closed answer's turn waits for its partial: a grammar stream always asks.
BUSY_PARTIAL_EVERY = 4
#: How far a second look shifts a grammar turn's audio: half of Kaldi's 10 ms frame shift.
SECOND_LOOK_SHIFT_S = 0.005
#: A grammar turn's audio is kept for a second look up to this long (closed answers are short).
SECOND_LOOK_MAX_S = 4.0


def _words_of(result: dict[str, Any]) -> list[dict[str, Any]]:
    words = result.get("result") or []
    return [w for w in words if isinstance(w, dict) and w.get("word") != UNK]


def _decode_last(
    recognizer: KaldiRecognizerLike, audio: bytes
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Decode a turn's last ``audio``: a segment Vosk ended within it (or None), and the final
    result."""
    segment = None
    if audio and recognizer.AcceptWaveform(audio):
        segment = json.loads(recognizer.Result())
    result = json.loads(recognizer.FinalResult())
    return segment, result if isinstance(result, dict) else {}


def _text_of(result: dict[str, Any], field: str = "text") -> str:
    text = str(result.get(field) or "")
    return " ".join(word for word in text.split() if word != UNK)


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
        self._final: dict[str, Any] | None = None
        self._batches = 0
        #: The turn's audio as the recognizer got it, for a second look (grammar turns only;
        #: None once longer than SECOND_LOOK_MAX_S). Touched only by the stream's jobs.
        self._heard: bytearray | None = bytearray() if key[1] is not None else None
        #: Whether the result came from a second look (see the module's docstring).
        self.second_look = False
        self._worker = asyncio.get_running_loop().create_task(self._run(), name="vosk-stream")

    @property
    def sample_rate(self) -> int:
        return self._key[0]

    @property
    def grammar(self) -> tuple[str, ...] | None:
        return self._key[1]

    @property
    def pending_bytes(self) -> int:
        """Audio fed and not handed to the recognizer yet (the batch being decoded excluded)."""
        return len(self._pending)

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
        await asyncio.shield(self._worker)  # it decodes the rest and the final result, then ends
        if self._error is not None:
            raise self._error
        final = self._final
        if final is None:
            raise SpeechError("the Vosk stream ended without a final result")
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
        """Decode what is fed, in order; once finishing, the rest with the final result, and
        end (also when closed or failed)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while not self._closing and self._error is None:
                finishing = self._finishing
                if finishing and len(self._pending) <= self._max_batch:
                    await self._finish_job()
                    return
                size = min(len(self._pending), self._max_batch)
                size -= size % 2
                if size == 0:  # nothing, or half a sample: wait for more
                    break
                batch = bytes(self._pending[:size])
                del self._pending[:size]
                self._batches += 1
                want_partial = not finishing and (
                    self.grammar is not None or not self._engine.busy
                    or self._batches % BUSY_PARTIAL_EVERY == 0)
                try:
                    segment, partial = await self._engine.run(
                        self._accept, batch, want_partial,
                        priority=FINISHING if finishing else LIVE,
                    )
                except SpeechError as exc:
                    self.fail(exc)
                    return
                if segment is not None:
                    self._segments.append(segment)
                if partial is not None:
                    self._partial = partial
            if self._closing or self._error is not None:
                return

    async def _finish_job(self) -> None:
        """The turn has ended: decode the audio still queued (an odd last byte dropped) and take
        the final result, in one job ahead of live audio."""
        size = len(self._pending) - len(self._pending) % 2
        rest = bytes(self._pending[:size])
        self._pending.clear()
        try:
            segment, final = await self._engine.run(self._accept_final, rest, priority=FINISHING)
        except SpeechError as exc:
            self.fail(exc)
            return
        if segment is not None:
            self._segments.append(segment)
        self._final = final

    def _accept(
        self, batch: bytes, want_partial: bool = True
    ) -> tuple[dict[str, Any] | None, str | None]:
        """Decode ``batch``: a finished segment (Vosk's own endpoint), and the new partial
        (None when not asked for: the last one stands)."""
        recognizer = self._live_recognizer()
        self._keep(batch)
        if recognizer.AcceptWaveform(batch):
            return json.loads(recognizer.Result()), ""
        if not want_partial:
            return None, None
        return None, _text_of(json.loads(recognizer.PartialResult()), "partial")

    def _accept_final(self, rest: bytes) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """Decode the turn's last audio: a segment Vosk ended within it (or None), and the final
        result."""
        recognizer = self._live_recognizer()
        self._keep(rest)
        segment, final = _decode_last(recognizer, rest)
        heard = self._heard
        found = any(_text_of(seg) for seg in [*self._segments, segment, final] if seg)
        if heard and not found:
            # A second look (see the module's docstring); Vosk starts afresh after a final.
            self.second_look = True
            self._segments.clear()  # they held nothing: the second look hears the whole turn
            shift = bytes(2 * round(self.sample_rate * SECOND_LOOK_SHIFT_S))
            segment, final = _decode_last(recognizer, shift + bytes(heard))
        return segment, final

    def _keep(self, pcm: bytes) -> None:
        """Keep a grammar turn's audio for a second look, up to :data:`SECOND_LOOK_MAX_S`."""
        if self._heard is None:
            return
        if len(self._heard) + len(pcm) > 2 * self.sample_rate * SECOND_LOOK_MAX_S:
            self._heard = None
            return
        self._heard += pcm

    def _live_recognizer(self) -> KaldiRecognizerLike:
        if self._recognizer is None:
            raise SpeechError("the Vosk stream has no recognizer (closed)")
        return self._recognizer
