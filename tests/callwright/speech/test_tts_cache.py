"""CachedTts: the LRU, shared in-flight synthesis and prewarming."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from callwright.errors import SpeechError
from callwright.speech.espeak_tts import EspeakTts
from callwright.speech.protocols import TtsEngine
from callwright.speech.tts_cache import CachedTts


class CountingTts:
    """Records every call it gets and delegates it (to a real engine or to a fixed rule)."""

    def __init__(self, inner: TtsEngine | None = None, *, fail_first: int = 0) -> None:
        self.name = inner.name if inner is not None else "counting"
        self.inner = inner
        self.calls: list[tuple[str, int, str | None]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_first = fail_first

    async def synthesize(self, text: str, sample_rate: int, voice: str | None = None) -> bytes:
        self.calls.append((text, sample_rate, voice))
        await self.gate.wait()
        if len(self.calls) <= self.fail_first:
            raise SpeechError("synthesis failed")
        if self.inner is not None:
            return await self.inner.synthesize(text, sample_rate, voice)
        return f"{voice}|{sample_rate}|{text}".encode()


@pytest.fixture
def make_cache() -> Callable[..., tuple[CachedTts, CountingTts]]:
    """Factory: ``make_cache(max_entries=256, inner=None, fail_first=0)`` -> (cache, counter)."""

    def make(
        max_entries: int = 256, inner: TtsEngine | None = None, fail_first: int = 0
    ) -> tuple[CachedTts, CountingTts]:
        counter = CountingTts(inner, fail_first=fail_first)
        return CachedTts(counter, max_entries=max_entries), counter

    return make


async def test_repeated_text_is_synthesized_once(
    make_cache: Callable[..., tuple[CachedTts, CountingTts]],
) -> None:
    cache, counter = make_cache()
    first = await cache.synthesize("hello", 8000)
    second = await cache.synthesize("hello", 8000)
    assert first == second == b"None|8000|hello"
    assert len(counter.calls) == 1
    assert (cache.stats.hits, cache.stats.misses) == (1, 1)


async def test_voice_rate_and_text_are_part_of_the_key(
    make_cache: Callable[..., tuple[CachedTts, CountingTts]],
) -> None:
    cache, counter = make_cache()
    await cache.synthesize("hello", 8000)
    await cache.synthesize("hello", 16000)
    await cache.synthesize("hello", 8000, voice="ko")
    await cache.synthesize("hello!", 8000)
    assert len(counter.calls) == 4
    assert await cache.synthesize("hello", 8000, voice="ko") == b"ko|8000|hello"
    assert len(counter.calls) == 4


async def test_concurrent_requests_share_one_synthesis(
    make_cache: Callable[..., tuple[CachedTts, CountingTts]],
) -> None:
    cache, counter = make_cache()
    counter.gate.clear()
    waiters = [asyncio.create_task(cache.synthesize("same", 8000)) for _ in range(5)]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    counter.gate.set()
    results = await asyncio.gather(*waiters)
    assert len(set(results)) == 1
    assert len(counter.calls) == 1
    assert cache.stats.shared == 4


async def test_a_cancelled_waiter_does_not_cancel_the_others(
    make_cache: Callable[..., tuple[CachedTts, CountingTts]],
) -> None:
    cache, counter = make_cache()
    counter.gate.clear()
    quitter = asyncio.create_task(cache.synthesize("shared", 8000))
    stayer = asyncio.create_task(cache.synthesize("shared", 8000))
    await asyncio.sleep(0)
    quitter.cancel()
    await asyncio.sleep(0)
    counter.gate.set()
    assert await stayer == b"None|8000|shared"
    assert quitter.cancelled()
    assert len(counter.calls) == 1


async def test_least_recently_used_entry_is_evicted(
    make_cache: Callable[..., tuple[CachedTts, CountingTts]],
) -> None:
    cache, counter = make_cache(max_entries=2)
    await cache.synthesize("a", 8000)
    await cache.synthesize("b", 8000)
    await cache.synthesize("a", 8000)  # a is now the most recently used
    await cache.synthesize("c", 8000)  # evicts b
    assert cache.cached("b", 8000) is None
    assert cache.cached("a", 8000) is not None
    await cache.synthesize("b", 8000)
    assert [text for text, _, _ in counter.calls] == ["a", "b", "c", "b"]
    assert cache.stats.evictions == 2


async def test_prewarmed_prompts_need_no_synthesis_and_are_not_evicted(
    make_cache: Callable[..., tuple[CachedTts, CountingTts]],
) -> None:
    cache, counter = make_cache(max_entries=1)
    await cache.prewarm(["Welcome!", "One moment please.", "Welcome!"], 8000, voice="en-us")
    assert len(counter.calls) == 2
    for sentence in ["x", "y", "z"]:
        await cache.synthesize(sentence, 8000, voice="en-us")
    assert len(counter.calls) == 5
    assert await cache.synthesize("Welcome!", 8000, voice="en-us") == b"en-us|8000|Welcome!"
    assert len(counter.calls) == 5
    cache.unpin_all()
    await cache.synthesize("w", 8000, voice="en-us")
    assert cache.cached("Welcome!", 8000, "en-us") is None


async def test_prewarm_pins_an_entry_that_was_already_cached(
    make_cache: Callable[..., tuple[CachedTts, CountingTts]],
) -> None:
    cache, counter = make_cache(max_entries=1)
    await cache.synthesize("Hi", 8000)
    await cache.prewarm(["Hi"], 8000)
    await cache.synthesize("other", 8000)
    assert cache.cached("Hi", 8000) is not None
    assert len(counter.calls) == 2


async def test_failures_are_not_cached(
    make_cache: Callable[..., tuple[CachedTts, CountingTts]],
) -> None:
    cache, counter = make_cache(fail_first=1)
    with pytest.raises(SpeechError):
        await cache.synthesize("hello", 8000)
    assert await cache.synthesize("hello", 8000) == b"None|8000|hello"
    assert len(counter.calls) == 2


async def test_wraps_real_espeak(make_cache: Callable[..., tuple[CachedTts, CountingTts]]) -> None:
    cache, counter = make_cache(inner=EspeakTts())
    tts: TtsEngine = cache
    assert tts.name == "espeak-ng"
    first = await tts.synthesize("Thank you for calling.", 8000)
    second = await tts.synthesize("Thank you for calling.", 8000)
    assert first is second and len(first) > 8000
    assert len(counter.calls) == 1
