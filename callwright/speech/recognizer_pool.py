"""A bounded pool of idle speech recognizers, keyed by what they were built for.

Building a recognizer costs time (a free-form Vosk recognizer about 80 ms, plus the first
decoding warm-up), and a caller turn opens a new stream, so streams borrow a warm recognizer
from this pool and give it back when they close. Recognizers are keyed by
``(sample_rate, grammar)``: a recognizer compiled for one grammar cannot serve another.

Only *idle* recognizers live here; a borrowed one belongs to its stream until it is released.
The number of idle recognizers is bounded: when a release would exceed ``max_idle``, the least
recently used idle recognizer is dropped (its native memory is freed when it is collected).

The memory of a dropped recognizer is given back to the system (``malloc_trim``, through
:class:`~callwright.speech.native_memory.FreedMemoryTrimmer`): glibc would otherwise keep it,
and a busy service's resident size would climb for minutes to the high-water mark of its
recognizers' churn.

The pool is thread-safe: it is touched from the event loop and from worker threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from callwright.speech.native_memory import TRIMMER, FreedMemoryTrimmer

R = TypeVar("R")

#: ``(sample_rate, grammar)``; ``grammar`` is ``None`` for free-form recognition.
PoolKey = tuple[int, tuple[str, ...] | None]


class RecognizerPool(Generic[R]):
    """Idle recognizers by key, least recently used evicted first.

    ``reset`` is called on a recognizer when it is released, before anyone can reuse it; it runs
    in the caller's thread (the stream releases from a worker thread).
    """

    def __init__(
        self, reset: Callable[[R], object], *, max_idle: int = 8,
        trimmer: FreedMemoryTrimmer = TRIMMER,
    ) -> None:
        if max_idle < 0:
            raise ValueError("max_idle must be >= 0")
        self._reset = reset
        self._trimmer = trimmer
        self._max_idle = max_idle
        self._lock = threading.Lock()
        # Every idle recognizer in least-recently-used order, keyed by a serial number.
        self._idle: OrderedDict[int, tuple[PoolKey, R]] = OrderedDict()
        self._serial = 0
        self.created = 0
        self.reused = 0
        self.evicted = 0

    @property
    def max_idle(self) -> int:
        return self._max_idle

    def __len__(self) -> int:
        with self._lock:
            return len(self._idle)

    def take(self, key: PoolKey) -> R | None:
        """An idle recognizer for ``key`` (the most recently released one), or ``None``."""
        with self._lock:
            for serial in reversed(self._idle):
                entry_key, recognizer = self._idle[serial]
                if entry_key == key:
                    del self._idle[serial]
                    self.reused += 1
                    return recognizer
        return None

    def take_or_create(self, key: PoolKey, create: Callable[[PoolKey], R]) -> R:
        """An idle recognizer for ``key``, or a new one from ``create`` (in a worker thread)."""
        recognizer = self.take(key)
        if recognizer is not None:
            return recognizer
        return self.create(key, create)

    def create(self, key: PoolKey, create: Callable[[PoolKey], R]) -> R:
        """A new recognizer from ``create`` (in a worker thread), never an idle one: for warming
        the pool up before calls come (:meth:`release` it to keep it)."""
        recognizer = create(key)
        with self._lock:
            self.created += 1
        return recognizer

    def idle_for(self, key: PoolKey) -> int:
        """How many idle recognizers there are for ``key``."""
        with self._lock:
            return sum(1 for entry_key, _ in self._idle.values() if entry_key == key)

    def release(self, key: PoolKey, recognizer: R) -> None:
        """Reset ``recognizer`` and keep it for reuse (call in a worker thread: reset is native)."""
        self._reset(recognizer)
        dropped: list[R] = []
        with self._lock:
            self._serial += 1
            self._idle[self._serial] = (key, recognizer)
            while len(self._idle) > self._max_idle:  # no local name may keep one alive
                dropped.append(self._idle.popitem(last=False)[1][1])
                self.evicted += 1
        # Dropped recognizers are freed here, outside the lock, when the list goes away; their
        # native memory is then given back to the system (we are on a worker thread).
        if dropped:
            del dropped
            self._trimmer.freed()

    def clear(self) -> None:
        """Drop every idle recognizer."""
        with self._lock:
            self._idle.clear()

    def keys(self) -> list[PoolKey]:
        """The keys of the idle recognizers, least recently used first (for tests and stats)."""
        with self._lock:
            return [key for key, _ in self._idle.values()]
