"""RecognizerPool: reuse by key, reset before reuse, LRU bound on idle recognizers."""

from __future__ import annotations

import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

from callwright.speech.native_memory import FreedMemoryTrimmer
from callwright.speech.recognizer_pool import PoolKey, RecognizerPool


class Recognizer:
    """A recognizer-shaped object that remembers what it was built for and its resets."""

    def __init__(self, key: PoolKey) -> None:
        self.key = key
        self.resets = 0


def make_pool(max_idle: int = 8) -> RecognizerPool[Recognizer]:
    def reset(r: Recognizer) -> None:
        r.resets += 1

    return RecognizerPool(reset, max_idle=max_idle)


YES_NO: PoolKey = (8000, ("yes", "no"))
FREE: PoolKey = (16000, None)


def test_released_recognizer_is_reset_and_reused_for_the_same_key() -> None:
    pool = make_pool()
    first = pool.take_or_create(YES_NO, Recognizer)
    pool.release(YES_NO, first)
    assert first.resets == 1
    assert pool.take(FREE) is None  # another key never gets it
    assert pool.take_or_create(YES_NO, Recognizer) is first
    assert (pool.created, pool.reused) == (1, 1)
    assert len(pool) == 0


def test_idle_recognizers_are_bounded_least_recently_used_first() -> None:
    pool = make_pool(max_idle=2)
    a, b, c = (Recognizer((8000, (w,))) for w in "abc")
    pool.release(a.key, a)
    pool.release(b.key, b)
    pool.release(c.key, c)
    assert pool.keys() == [b.key, c.key]
    assert pool.evicted == 1
    assert pool.take(a.key) is None


def test_the_most_recently_released_of_a_key_is_taken_first() -> None:
    pool = make_pool()
    old, new = Recognizer(FREE), Recognizer(FREE)
    pool.release(FREE, old)
    pool.release(FREE, new)
    assert pool.take(FREE) is new
    assert pool.take(FREE) is old


def test_zero_idle_keeps_nothing() -> None:
    pool = make_pool(max_idle=0)
    pool.release(FREE, Recognizer(FREE))
    assert len(pool) == 0


def test_pool_is_safe_across_threads() -> None:
    pool = make_pool(max_idle=4)
    barrier = threading.Barrier(4)

    def work(_: int) -> int:
        barrier.wait()
        for _ in range(200):
            r = pool.take_or_create(FREE, Recognizer)
            pool.release(FREE, r)
        return 0

    with ThreadPoolExecutor(4) as executor:
        list(executor.map(work, range(4)))
    assert pool.created <= 4
    assert pool.created + pool.reused == 800
    assert len(pool) == pool.created


def test_a_dropped_recognizer_has_its_memory_given_back_and_a_kept_one_not() -> None:
    trims: list[int] = []
    freed_when_trimmed: list[bool] = []
    dropped = Recognizer(FREE)
    alive = [True]

    def trim(pad: int) -> int:
        trims.append(pad)
        freed_when_trimmed.append(not alive[0])
        return 1

    trimmer = FreedMemoryTrimmer(trim=trim, min_interval_s=0.0)
    pool: RecognizerPool[Recognizer] = RecognizerPool(lambda r: None, max_idle=1, trimmer=trimmer)
    pool.release(FREE, dropped)
    assert trims == []  # kept idle: nothing freed
    weakref.finalize(dropped, lambda: alive.__setitem__(0, False))
    del dropped
    pool.release(FREE, Recognizer(FREE))  # the first one is evicted, freed, then trimmed
    assert trims == [0] and freed_when_trimmed == [True] and pool.evicted == 1

