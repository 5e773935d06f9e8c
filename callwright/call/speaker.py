"""The assistant side of a call: text → TTS → pacer, and what the caller actually heard.

Each reply is a sequence of sentences. A sentence is synthesised as soon as the dialog yields it and
queued in the pacer; the next one is synthesised while the previous one plays. On barge-in the
pacer is flushed and reports how many bytes of each sentence went out, from which the heard part of
the text is derived (proportionally, cut back to a word boundary).

When the TTS engine fails on a sentence (an error, or no audio within ``tts_timeout_s``), the
sentence is synthesised by the ``fallback`` engine (espeak-ng, always installed) and
``on_fallback`` is told; for ``FALLBACK_HOLD_S`` after a failure the speaker goes straight to the
fallback, so a dead engine does not cost every sentence its timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from callwright.call.journal import TurnRecord
from callwright.errors import SpeechError
from callwright.media.pacer import Pacer, SentSegment
from callwright.speech.protocols import TtsEngine
from callwright.store.clock import utc_now_iso

log = logging.getLogger(__name__)

#: Longest wait for the TTS engine's audio of one sentence before the fallback engine says it.
TTS_TIMEOUT_S = 5.0
#: After the TTS engine failed, the fallback engine speaks for this long before it is tried again.
FALLBACK_HOLD_S = 30.0
#: Last words (an apology, a hand-back line): the fallback's time to synthesise them after the
#: TTS engine's timeout, and the longest they play.
LAST_WORDS_SYNTH_S = 3.0
LAST_WORDS_PLAY_S = 15.0


@dataclass(frozen=True, slots=True)
class SentenceTag:
    """Identifies one queued sentence in the pacer."""

    reply_id: int
    index: int
    text: str
    interruptible: bool = True


@dataclass(slots=True)
class ReplyTiming:
    """Timings of the reply being spoken, in monotonic seconds."""

    reply_id: int
    first_text_at: float | None = None
    first_audio_ready_at: float | None = None
    first_frame_at: float | None = None
    sentences: list[str] = field(default_factory=list)

    def record(
        self, text: str, interrupted: bool, *, started_at: str, transcript_ready: float | None,
        turn_end: float | None, speech_end: float | None, meta: dict[str, Any],
    ) -> TurnRecord:
        """The reply's turn for the journal: ``transcript_ready`` (the caller's words known),
        ``turn_end`` (their end of turn detected) and ``speech_end`` (they stopped speaking) are
        what its latencies are measured from, None when the reply answered no speech."""
        def ms(a: float | None, b: float | None) -> int | None:
            return None if a is None or b is None else round((b - a) * 1000)

        return TurnRecord(
            speaker="assistant", text=text, started_at=started_at, ended_at=utc_now_iso(),
            interrupted=interrupted,
            dialog_ms=ms(transcript_ready, self.first_text_at),
            tts_ms=ms(self.first_text_at, self.first_audio_ready_at),
            first_frame_ms=ms(turn_end, self.first_frame_at),
            heard_gap_ms=ms(speech_end, self.first_frame_at),
            meta=meta,
        )


def heard_text(segments: Sequence[SentSegment]) -> str:
    """The part of the flushed sentences that was actually played."""
    parts: list[str] = []
    for segment in segments:
        tag = segment.tag
        if not isinstance(tag, SentenceTag) or segment.bytes_sent <= 0:
            continue
        if segment.bytes_sent >= segment.total_bytes:
            parts.append(tag.text)
            continue
        fraction = segment.bytes_sent / max(1, segment.total_bytes)
        cut = int(len(tag.text) * fraction)
        prefix = tag.text[:cut]
        if cut < len(tag.text) and " " in prefix:
            prefix = prefix[: prefix.rfind(" ")]
        if prefix.strip():
            parts.append(prefix.strip() + "…")
    return " ".join(parts)


class AssistantSpeaker:
    def __init__(
        self,
        *,
        pacer: Pacer,
        tts: TtsEngine,
        sample_rate: int,
        voice: str | None,
        monotonic: Callable[[], float] = time.monotonic,
        fallback: TtsEngine | None = None,
        fallback_voice: str | None = None,
        tts_timeout_s: float = TTS_TIMEOUT_S,
        on_fallback: Callable[[str, SpeechError], None] | None = None,
    ) -> None:
        self._pacer = pacer
        self._tts = tts
        self._rate = sample_rate
        self._voice = voice
        self._monotonic = monotonic
        self._fallback = fallback if fallback is not tts else None
        self._fallback_voice = fallback_voice
        self._tts_timeout_s = tts_timeout_s
        self._on_fallback = on_fallback
        self._primary_down_until = float("-inf")
        self._reply_id = 0
        self.timing = ReplyTiming(reply_id=0)
        self._queued: list[SentenceTag] = []
        #: Whether the sentence being played may be cut by barge-in.
        self.interruptible = True

    def new_reply(self) -> ReplyTiming:
        self._reply_id += 1
        self._queued = []
        self.timing = ReplyTiming(reply_id=self._reply_id)
        return self.timing

    async def say(
        self, text: str, interruptible: bool = True, audio: asyncio.Task[bytes] | None = None
    ) -> None:
        """Synthesise ``text`` and queue it. Raises SpeechError if TTS fails (the fallback too).
        ``audio``: its synthesis already started (an eager reply); synthesised again if it
        failed."""
        timing = self.timing
        if timing.first_text_at is None:
            timing.first_text_at = self._monotonic()
        pcm = await self._prepared(text, audio) if audio is not None else await self._synthesize(
            text)
        if timing.reply_id != self._reply_id:  # interrupted while synthesising
            return
        if timing.first_audio_ready_at is None:
            timing.first_audio_ready_at = self._monotonic()
        tag = SentenceTag(self._reply_id, len(self._queued), text, interruptible)
        self._queued.append(tag)
        timing.sentences.append(text)
        self._pacer.enqueue(pcm, tag)

    async def synthesize(self, text: str) -> bytes:
        """The audio of ``text`` (the fallback engine's when the TTS engine fails), not queued:
        an eager reply's first sentence, made before the turn is confirmed."""
        return await self._synthesize(text)

    async def _prepared(self, text: str, audio: asyncio.Task[bytes]) -> bytes:
        try:
            return await audio
        except (SpeechError, OSError, TimeoutError):
            return await self._synthesize(text)

    async def _synthesize(self, text: str) -> bytes:
        fallback = self._fallback
        if fallback is not None and self._monotonic() < self._primary_down_until:
            return await fallback.synthesize(text, self._rate, self._fallback_voice)
        try:
            async with asyncio.timeout(self._tts_timeout_s):
                return await self._tts.synthesize(text, self._rate, self._voice)
        except TimeoutError:
            error = SpeechError(
                f"{self._tts.name} gave no audio within {self._tts_timeout_s:g} s"
            )
            if fallback is None:
                raise error from None
        except SpeechError as exc:
            if fallback is None:
                raise
            error = exc
        except OSError as exc:
            if fallback is None:
                raise SpeechError(f"{self._tts.name} failed: {exc}") from exc
            error = SpeechError(f"{self._tts.name} failed: {exc}")
        log.warning("TTS %s failed (%s): %s says it", self._tts.name, error, fallback.name)
        self._primary_down_until = self._monotonic() + FALLBACK_HOLD_S
        if self._on_fallback is not None:
            self._on_fallback(text, error)
        return await fallback.synthesize(text, self._rate, self._fallback_voice)

    async def say_to_the_end(self, text: str) -> None:
        """A reply of ``text`` alone, not interruptible, played to its end: the call is ending.
        Bounded: the synthesis (the fallback's included) and :data:`LAST_WORDS_PLAY_S` of
        playing. Raises SpeechError, or TimeoutError when the synthesis takes too long."""
        self.new_reply()
        synthesis_s = self._tts_timeout_s + LAST_WORDS_SYNTH_S
        await asyncio.wait_for(self.say(text, interruptible=False), synthesis_s)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._pacer.drained(), LAST_WORDS_PLAY_S)

    def on_segment_started(self, tag: object, at: float) -> None:
        """Pacer hook: the first frame of a queued segment was sent at monotonic time ``at``."""
        # Only sentences can be cut by the caller; tones (ringback) play on.
        self.interruptible = isinstance(tag, SentenceTag) and tag.interruptible
        if (
            isinstance(tag, SentenceTag)
            and tag.reply_id == self.timing.reply_id
            and self.timing.first_frame_at is None
        ):
            self.timing.first_frame_at = at

    def interrupt(self) -> str:
        """Barge-in: stop at once; return the heard part of the current reply."""
        flushed = self._pacer.flush()
        mine = [s for s in flushed if isinstance(s.tag, SentenceTag)]
        played = [t.text for t in self._queued if not any(s.tag == t for s in mine)]
        heard = " ".join([*played, heard_text(mine)]).strip()
        self._reply_id += 1  # late synthesis results of the old reply are dropped
        self._queued = []
        return heard

    @property
    def speaking(self) -> bool:
        return self._pacer.is_speaking
