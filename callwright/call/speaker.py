"""The assistant side of a call: text → TTS → pacer, and what the caller actually heard.

Each reply is a sequence of sentences. A sentence is synthesised as soon as the dialog yields it and
queued in the pacer; the next one is synthesised while the previous one plays. On barge-in the
pacer is flushed and reports how many bytes of each sentence went out, from which the heard part of
the text is derived (proportionally, cut back to a word boundary).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from callwright.media.pacer import Pacer, SentSegment
from callwright.speech.protocols import TtsEngine


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
    ) -> None:
        self._pacer = pacer
        self._tts = tts
        self._rate = sample_rate
        self._voice = voice
        self._monotonic = monotonic
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

    async def say(self, text: str, interruptible: bool = True) -> None:
        """Synthesise ``text`` and queue it. Raises SpeechError if TTS fails."""
        timing = self.timing
        if timing.first_text_at is None:
            timing.first_text_at = self._monotonic()
        pcm = await self._tts.synthesize(text, self._rate, self._voice)
        if timing.reply_id != self._reply_id:  # interrupted while synthesising
            return
        if timing.first_audio_ready_at is None:
            timing.first_audio_ready_at = self._monotonic()
        tag = SentenceTag(self._reply_id, len(self._queued), text, interruptible)
        self._queued.append(tag)
        timing.sentences.append(text)
        self._pacer.enqueue(pcm, tag)

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
