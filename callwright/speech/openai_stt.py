"""Speech recognition through an OpenAI-compatible ``/v1/audio/transcriptions`` endpoint.

That API takes a whole recording and gives no partial results, so a stream buffers its turn's
audio (at most ``max_turn_ms``; later audio is dropped) and :meth:`OpenAiSttStream.finish` uploads
it as one 16-bit mono WAV at the stream's rate. With a grammar (a closed answer) the returned text
is snapped to the closest phrase, or to "" when none is close enough (:func:`snap_to_grammar`).
"""

from __future__ import annotations

import asyncio
import difflib
import io
import logging
import time
import unicodedata
import wave
from collections.abc import Sequence

import openai
from openai import AsyncOpenAI, omit

from callwright.errors import SpeechError
from callwright.speech.protocols import Transcript

log = logging.getLogger(__name__)

#: Least similarity (difflib ratio of the normalised texts) for a near miss to count as a phrase.
SNAP_MIN_RATIO = 0.8


def normalise(text: str) -> str:
    """Case-folded words without punctuation or symbols: ``"Yes, please!"`` -> ``"yes please"``."""
    kept = (
        " " if unicodedata.category(ch)[0] in "PSZC" else ch
        for ch in unicodedata.normalize("NFKC", text).casefold()
    )
    return " ".join("".join(kept).split())


def snap_to_grammar(text: str, grammar: Sequence[str]) -> tuple[str, float]:
    """The grammar phrase ``text`` means, with a score in 0..1; ``("", 0.0)`` when none fits.

    In order: a phrase equal to the text once normalised (score 1); the longest phrase found as
    whole words inside the text, when no other phrase of that length is there ("yes please" for
    grammar ["yes", "no"] is "yes"; "yes no" is ambiguous, so nothing); the most similar phrase if
    its similarity reaches :data:`SNAP_MIN_RATIO` (a transcription slip: "noh" -> "no").
    """
    heard = normalise(text)
    if not heard:
        return "", 0.0
    options = [(normalise(phrase), phrase) for phrase in grammar]
    options = [(norm, phrase) for norm, phrase in options if norm]
    for norm, phrase in options:
        if norm == heard:
            return phrase, 1.0
    padded = f" {heard} "
    inside = [(norm, phrase) for norm, phrase in options if f" {norm} " in padded]
    if inside:
        longest = max(len(norm.split()) for norm, _ in inside)
        best = {phrase for norm, phrase in inside if len(norm.split()) == longest}
        nested = {norm for norm, _ in inside if len(norm.split()) == longest}
        if len(best) == 1 and len(nested) == 1:
            return best.pop(), 0.9
        return "", 0.0
    scored = [
        (difflib.SequenceMatcher(None, heard, norm).ratio(), phrase) for norm, phrase in options
    ]
    ratio, phrase = max(scored, default=(0.0, ""))
    return (phrase, ratio) if ratio >= SNAP_MIN_RATIO else ("", 0.0)


def wav_of(pcm: bytes, sample_rate: int) -> bytes:
    """A 16-bit mono WAV file of PCM16 LE ``pcm``."""
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(pcm)
    return out.getvalue()


class OpenAiSttStream:
    """One caller turn, buffered until :meth:`finish`."""

    def __init__(
        self, engine: OpenAiSttEngine, sample_rate: int, grammar: tuple[str, ...] | None
    ) -> None:
        self._engine = engine
        self.sample_rate = sample_rate
        self.grammar = grammar
        self._limit = sample_rate * 2 * engine.max_turn_ms // 1000
        self._audio = bytearray()
        self._dropped = 0
        self._task: asyncio.Task[Transcript] | None = None
        self._closed = False

    @property
    def buffered_ms(self) -> float:
        return len(self._audio) / 2 / self.sample_rate * 1000.0

    def feed(self, pcm: bytes) -> None:
        """Buffer audio (beyond ``max_turn_ms`` it is dropped). Raises SpeechError once finished."""
        if self._task is not None or self._closed:
            raise SpeechError("feed() on an OpenAI STT stream that was finished or closed")
        room = self._limit - len(self._audio)
        if room < len(pcm) and not self._dropped:
            log.warning(
                "turn longer than %d ms: the rest is not transcribed", self._engine.max_turn_ms
            )
        self._audio += pcm[: max(0, room)]
        self._dropped += max(0, len(pcm) - max(0, room))

    def partial(self) -> str:
        """Always "": the transcriptions API gives no partial results."""
        return ""

    async def finish(self) -> Transcript:
        """Upload the turn and return its text (the same result if called again)."""
        if self._closed:
            raise SpeechError("finish() on a closed OpenAI STT stream")
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._transcribe())
        try:
            return await asyncio.shield(self._task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if self._closed and (current is None or not current.cancelling()):
                raise SpeechError("the OpenAI STT stream was closed during finish()") from None
            raise

    async def close(self) -> None:
        """Forget the audio; an upload still running is cancelled. Safe to call twice."""
        self._closed = True
        self._audio.clear()
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])
        if task is not None and not task.cancelled():
            task.exception()  # retrieved: finish() already raised it to its caller, if any

    async def _transcribe(self) -> Transcript:
        started = time.perf_counter()
        pcm = bytes(self._audio[: len(self._audio) - len(self._audio) % 2])
        text = await self._engine.transcribe(wav_of(pcm, self.sample_rate)) if pcm else ""
        confidence: float | None = None
        if self.grammar is not None:
            text, score = snap_to_grammar(text, self.grammar)
            confidence = score if text else None
        return Transcript(
            text=text.strip(),
            confidence=confidence,
            finalize_ms=(time.perf_counter() - started) * 1000.0,
        )


class OpenAiSttEngine:
    """An :class:`~callwright.speech.protocols.SttEngine` calling ``/v1/audio/transcriptions``.

    ``client`` belongs to the caller (it is not closed here); ``model`` is e.g. ``whisper-1``;
    ``language`` an ISO-639-1 hint or ``None``. ``timeout_s`` bounds each request.
    """

    name = "openai"

    def __init__(
        self,
        client: AsyncOpenAI,
        model: str,
        language: str | None = None,
        *,
        max_turn_ms: int = 30000,
        timeout_s: float = 15.0,
    ) -> None:
        if not model:
            raise SpeechError("an OpenAI transcription model name is required")
        if max_turn_ms <= 0 or timeout_s <= 0:
            raise ValueError("max_turn_ms and timeout_s must be positive")
        self.client = client
        self.model = model
        self.language = language or None
        self.max_turn_ms = max_turn_ms
        self.timeout_s = timeout_s
        self._closed = False

    async def open_stream(
        self, sample_rate: int, grammar: Sequence[str] | None = None
    ) -> OpenAiSttStream:
        if self._closed:
            raise SpeechError("the OpenAI STT engine is closed")
        if sample_rate <= 0:
            raise SpeechError(f"invalid sample rate {sample_rate}")
        phrases: tuple[str, ...] | None = None
        if grammar is not None:
            if isinstance(grammar, str):
                raise SpeechError("a grammar is a list of phrases, not a string")
            phrases = tuple(p for p in dict.fromkeys(" ".join(g.split()) for g in grammar) if p)
            if not phrases:
                raise SpeechError("the grammar has no phrases (a closed answer needs at least one)")
        return OpenAiSttStream(self, sample_rate, phrases)

    async def transcribe(self, wav: bytes) -> str:
        """The text of one WAV recording. Raises SpeechError on any failure or timeout."""
        if self._closed:
            raise SpeechError("the OpenAI STT engine is closed")
        try:
            async with asyncio.timeout(self.timeout_s):
                result = await self.client.audio.transcriptions.create(
                    file=("turn.wav", wav, "audio/wav"),
                    model=self.model,
                    response_format="json",
                    language=self.language or omit,
                    timeout=self.timeout_s,
                )
        except TimeoutError as exc:
            raise SpeechError(f"OpenAI transcription timed out after {self.timeout_s} s") from exc
        except openai.APIStatusError as exc:
            raise SpeechError(
                f"OpenAI transcription failed: HTTP {exc.status_code}: {exc.message}"
            ) from exc
        except openai.OpenAIError as exc:
            raise SpeechError(f"OpenAI transcription failed: {exc}") from exc
        text = getattr(result, "text", None)
        if not isinstance(text, str):
            raise SpeechError("OpenAI transcription answered without a text")
        return text

    async def close(self) -> None:
        """Refuse new streams. The client is the caller's to close."""
        self._closed = True
