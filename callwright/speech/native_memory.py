"""Giving the memory of freed native objects back to the system (glibc's ``malloc_trim``).

A free-speech Vosk recognizer holds about 3.3 MB of native memory once it has decoded (its
lazily composed lookahead graph; Korean model, 8 kHz). The recognizer pool keeps a few idle ones
and frees the rest as calls give them back, so a busy service creates and frees recognizers all
the time (about one a second with 50 calls at once). glibc keeps what Kaldi frees inside its
heaps instead of returning it. Measured in one process with two decoding threads: 42 recognizers
made and freed left the resident size at 695 MB instead of 565 MB, and rounds of 50 made and freed
raised it to 765 MB; with ``malloc_trim(0)`` after each round it went back to 560-565 MB every
time. In the call service (the lifecycle soak, 50 calls for 10 minutes) the resident size grew by
about 56 MB over the first minutes, as the heaps (up to 16 on 2 cores, one per worker thread)
reached their high-water marks, before it levelled off. With this trimmer and the glibc settings
of deploy/callwright.service (two heaps, big blocks mapped alone) it stays about 110 MB lower and
swings by ~15 MB with the recognizers in use (0.74 and 1.13 MB/min fitted after the first minute in
two 10-minute soaks: bench/results/lifecycle_soak.json).

:class:`FreedMemoryTrimmer` calls ``malloc_trim(0)`` after native objects were freed, at most
once per ``min_interval_s`` (it walks every heap: 2-14 ms measured after freeing 10 recognizers
in a 700 MB process). The call goes through ``ctypes``, which lets go of the GIL during it; call
it from a worker thread, as the recognizer pool does. On a C library without ``malloc_trim``
(musl, macOS) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

#: Trim at most this often (seconds).
MIN_TRIM_INTERVAL_S = 1.0


def _load_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


class FreedMemoryTrimmer:
    """``freed()`` after dropping native objects; trims at most every ``min_interval_s``.
    Thread-safe. ``trim``: the C function (None: glibc's, if there is one)."""

    def __init__(
        self,
        *,
        min_interval_s: float = MIN_TRIM_INTERVAL_S,
        trim: Callable[[int], int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._trim = trim if trim is not None else _load_malloc_trim()
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last: float | None = None
        #: How many times memory was trimmed.
        self.trims = 0

    @property
    def available(self) -> bool:
        return self._trim is not None

    def freed(self) -> bool:
        """Native objects were just freed: give their memory back now unless that was done less
        than ``min_interval_s`` ago. Returns whether it trimmed."""
        if self._trim is None:
            return False
        now = self._clock()
        with self._lock:
            if self._last is not None and now - self._last < self._min_interval_s:
                return False
            self._last = now
        self._trim(0)
        self.trims += 1
        return True


#: The process's trimmer, shared by every pool.
TRIMMER = FreedMemoryTrimmer()
