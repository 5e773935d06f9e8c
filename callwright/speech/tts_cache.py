"""A caching :class:`~callwright.speech.protocols.TtsEngine` wrapper.

Assistants say the same things again and again (greetings, consent prompts, "one moment
please"), so synthesized audio is kept in a least-recently-used cache keyed by
``(engine, voice, sample rate, text)``. Concurrent requests for the same key share one synthesis.
:meth:`CachedTts.prewarm` synthesizes fixed prompts ahead of time and pins them, so a call's
first words never wait for synthesis and LLM sentences cannot push them out.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from callwright.errors import SpeechError
from callwright.speech.protocols import TtsEngine

log = logging.getLogger(__name__)

#: ``(engine name, voice, sample rate, text)``
CacheKey = tuple[str, str | None, int, str]


@dataclass(slots=True)
class CacheStats:
    hits: int = 0
    misses: int = 0
    shared: int = 0  # requests that joined a synthesis already running
    evictions: int = 0


def _retrieve(task: asyncio.Task[bytes]) -> None:
    # Every waiter may have been cancelled: read the outcome so asyncio does not log it as lost.
    if not task.cancelled():
        task.exception()


class CachedTts:
    """Wraps ``inner``; ``max_entries`` bounds the unpinned entries (pinned ones do not count)."""

    def __init__(self, inner: TtsEngine, max_entries: int = 256) -> None:
        if max_entries < 0:
            raise ValueError("max_entries must be >= 0")
        self.inner = inner
        self.name = inner.name
        self.max_entries = max_entries
        self.stats = CacheStats()
        self._entries: OrderedDict[CacheKey, bytes] = OrderedDict()
        self._pinned: dict[CacheKey, bytes] = {}
        self._running: dict[CacheKey, asyncio.Task[bytes]] = {}

    def key(self, text: str, sample_rate: int, voice: str | None) -> CacheKey:
        return (self.inner.name, voice, sample_rate, text)

    def __len__(self) -> int:
        return len(self._entries) + len(self._pinned)

    def cached(self, text: str, sample_rate: int, voice: str | None = None) -> bytes | None:
        """The audio for this key if it is cached (no synthesis, no stats change)."""
        key = self.key(text, sample_rate, voice)
        return self._pinned.get(key, self._entries.get(key))

    async def synthesize(self, text: str, sample_rate: int, voice: str | None = None) -> bytes:
        """Cached audio, or the inner engine's (shared with concurrent identical requests)."""
        return await self._get(self.key(text, sample_rate, voice), pin=False)

    async def prewarm(
        self, texts: Iterable[str], sample_rate: int, voice: str | None = None
    ) -> None:
        """Synthesize ``texts`` now and pin them in the cache. Raises SpeechError on failure.

        One at a time, so that warming many prompts does not starve live calls of CPU.
        """
        for text in dict.fromkeys(texts):
            await self._get(self.key(text, sample_rate, voice), pin=True)

    def unpin_all(self) -> None:
        """Turn pinned entries into ordinary ones (e.g. after an assistant's prompts changed)."""
        for key, audio in self._pinned.items():
            self._store(key, audio)
        self._pinned.clear()

    def clear(self) -> None:
        self._entries.clear()
        self._pinned.clear()

    async def _get(self, key: CacheKey, *, pin: bool) -> bytes:
        audio = self._pinned.get(key)
        if audio is None:
            audio = self._entries.get(key)
            if audio is not None:
                self._entries.move_to_end(key)
        if audio is not None:
            self.stats.hits += 1
            if pin and key not in self._pinned:
                self._pinned[key] = self._entries.pop(key)
            return audio
        task = self._running.get(key)
        if task is None:
            self.stats.misses += 1
            task = asyncio.get_running_loop().create_task(self._fill(key), name="tts-cache-fill")
            task.add_done_callback(_retrieve)
            self._running[key] = task
        else:
            self.stats.shared += 1
        # shield: a caller cancelled by barge-in must not cancel the others' shared synthesis.
        audio = await asyncio.shield(task)
        if pin:
            self._entries.pop(key, None)
            self._pinned[key] = audio
        return audio

    async def _fill(self, key: CacheKey) -> bytes:
        _, voice, sample_rate, text = key
        try:
            audio = await self.inner.synthesize(text, sample_rate, voice)
        finally:
            self._running.pop(key, None)
        if not isinstance(audio, bytes):
            raise SpeechError(f"{self.inner.name} returned {type(audio).__name__}, not bytes")
        if key not in self._pinned:
            self._store(key, audio)
        return audio

    def _store(self, key: CacheKey, audio: bytes) -> None:
        self._entries[key] = audio
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
            self.stats.evictions += 1
