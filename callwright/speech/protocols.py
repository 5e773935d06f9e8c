"""The small protocols every speech engine implements.

Audio crossing these interfaces is always signed 16-bit little-endian mono PCM ("PCM16") at the
sample rate named by the call. Engines that need another rate resample internally.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Transcript:
    """A final recognition result for one caller turn."""

    text: str
    confidence: float | None = None
    #: Milliseconds between ``finish()`` being called and the result being ready.
    finalize_ms: float = 0.0


class SttStream(Protocol):
    """One caller turn's recognition stream. Created per turn, fed in order, finished once."""

    def feed(self, pcm: bytes) -> None:
        """Queue audio for recognition. Never blocks the event loop (work runs in a thread)."""

    def partial(self) -> str:
        """The latest partial hypothesis (may be empty)."""

    async def finish(self) -> Transcript:
        """Wait for all queued audio to be processed and return the final result."""

    async def close(self) -> None:
        """Release the recognizer (back to the pool). Safe to call twice."""


class SttEngine(Protocol):
    """A speech recognizer factory: one per process, shared by every call."""

    name: str

    async def open_stream(
        self, sample_rate: int, grammar: Sequence[str] | None = None
    ) -> SttStream:
        """Open a stream. ``grammar`` restricts results to those phrases (closed answers)."""

    async def close(self) -> None:
        """Free the engine's threads and model."""


class TtsEngine(Protocol):
    """A speech synthesizer, shared by every call."""

    name: str

    async def synthesize(self, text: str, sample_rate: int, voice: str | None = None) -> bytes:
        """Return PCM16 LE mono audio of ``text`` at ``sample_rate``. Raises SpeechError."""
