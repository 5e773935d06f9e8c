"""The recogniser's threads, with finals first.

Every Vosk job of every call (a batch of a caller's audio, the final result of a turn) runs on a
few worker threads. A plain ``ThreadPoolExecutor`` runs them in arrival order, so at 100 calls a
caller who has just stopped speaking waits behind everyone's live audio (measured on a real
Asterisk: STT final p50 1.6 s at 100 calls). :class:`PriorityExecutor` runs the most urgent job
first: a turn that has ended (its remaining audio and its final result, :data:`FINISHING`) before
the audio of turns still going on (:data:`LIVE`); equal priorities keep their arrival order.

:func:`default_threads` sizes the pool from the cores: Kaldi releases the GIL while decoding, so
one thread per core keeps the cores busy without more context switches than decoding needs.

The threads can run at a lower CPU priority than the rest of the process (``nice``, Linux only,
where each thread has its own): decoding is throughput work, while the event loop's 20 ms clock
sends every call's audio and hears every caller's frames. With the cores shared (the PBX on the
same machine, or more calls than the cores can decode at once), the scheduler then lets the loop
run as soon as it wakes and gives the decoders the rest, instead of sharing out each core evenly
and making the loop wait behind decoding. Lowering one's own priority needs no privilege (and
cannot be undone without it). A turn that has ended is not throughput work: the caller waits for
its final result, so ``urgent_workers`` threads at the process's own priority take only
:data:`FINISHING` jobs (the other threads take them too, most urgent first). A final then neither
waits behind a live batch being decoded nor runs at the decoders' lower weight.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: A turn that has ended: its last audio and its final result; or one that has begun and waits
#: for its recognizer (its audio piles up until the recognizer is made).
FINISHING = 0
#: Audio of a turn still going on (partials follow from it).
LIVE = 1
#: How much lower than the event loop the recogniser threads run (a weight about 3 times
#: smaller under Linux's scheduler: the loop, when it wakes, goes first).
DECODER_NICE = 5


def default_threads(cpu_count: int | None = None) -> int:
    """Recogniser threads for this machine: one per core (at least one)."""
    cores = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
    return max(1, cores)


def lower_thread_priority(nice: int) -> bool:
    """Lower the calling thread's CPU priority by ``nice`` (Linux: this thread only); False when
    not done (another system, or the system refused)."""
    if nice <= 0 or not sys.platform.startswith("linux"):
        return False
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)
    except OSError as exc:
        log.debug("could not lower the priority of thread %d: %s", tid, exc)
        return False
    return True


class PriorityExecutor(Executor):
    """A fixed set of worker threads taking the lowest ``priority`` job first; ``nice`` lowers
    the threads' CPU priority below the rest of the process, and ``urgent_workers`` more threads
    at the process's priority take only :data:`FINISHING` jobs (see the module's docstring)."""

    def __init__(
        self, max_workers: int, thread_name_prefix: str = "stt", *, nice: int = 0,
        urgent_workers: int = 0,
    ) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be >= 1")
        if not 0 <= nice <= 19:
            raise ValueError("nice must be from 0 to 19")
        if urgent_workers < 0:
            raise ValueError("urgent_workers must be >= 0")
        self._workers = max_workers
        self._nice = nice
        self._urgent = urgent_workers
        self._urgent_threads: list[threading.Thread] = []
        self._prefix = thread_name_prefix
        self._cond = threading.Condition()
        self._queue: list[tuple[int, int, Future[Any], Callable[..., Any], tuple[Any, ...]]] = []
        self._order = itertools.count()
        self._threads: list[threading.Thread] = []
        self._shutdown = False
        self._running = 0

    @property
    def queued(self) -> int:
        """Jobs waiting for a thread."""
        with self._cond:
            return len(self._queue)

    @property
    def idle(self) -> bool:
        """No job running or waiting."""
        with self._cond:
            return not self._queue and self._running == 0

    @property
    def busy(self) -> bool:
        """Every thread is taken and jobs are waiting."""
        with self._cond:
            return bool(self._queue) and self._running >= self._workers

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        if kwargs:
            raise TypeError("PriorityExecutor.submit takes positional arguments only")
        return self.submit_at(LIVE, fn, *args)

    def submit_at(self, priority: int, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Queue ``fn(*args)`` at ``priority`` (lower runs sooner)."""
        future: Future[T] = Future()
        with self._cond:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            heapq.heappush(self._queue, (priority, next(self._order), future, fn, args))
            if len(self._threads) < self._workers and self._running + len(self._queue) > len(
                self._threads
            ):
                self._threads.append(self._start(f"{self._prefix}_{len(self._threads)}", False))
            if priority <= FINISHING and len(self._urgent_threads) < self._urgent:
                name = f"{self._prefix}_urgent_{len(self._urgent_threads)}"
                self._urgent_threads.append(self._start(name, True))
            if self._urgent:
                self._cond.notify_all()  # the waiters differ in what they take
            else:
                self._cond.notify()
        return future

    def _start(self, name: str, urgent: bool) -> threading.Thread:
        thread = threading.Thread(target=self._work, args=(urgent,), name=name, daemon=True)
        thread.start()
        return thread

    def _takes(self, urgent: bool) -> bool:
        """Whether a thread of that kind has a job to take now (call with the lock held)."""
        return bool(self._queue) and (not urgent or self._queue[0][0] <= FINISHING)

    def _work(self, urgent: bool = False) -> None:
        if not urgent:
            lower_thread_priority(self._nice)
        while True:
            with self._cond:
                while not self._takes(urgent) and not self._shutdown:
                    self._cond.wait()
                if not self._takes(urgent):
                    return
                _, _, future, fn, args = heapq.heappop(self._queue)
                self._running += 1
            try:
                if future.set_running_or_notify_cancel():
                    try:
                        result = fn(*args)
                    except BaseException as exc:  # handed to whoever awaits the job
                        future.set_exception(exc)
                    else:
                        future.set_result(result)
            finally:
                with self._cond:
                    self._running -= 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._cond:
            self._shutdown = True
            if cancel_futures:
                for _, _, future, _, _ in self._queue:
                    future.cancel()
                self._queue.clear()
            self._cond.notify_all()
            threads = self._threads + self._urgent_threads
        if wait:
            for thread in threads:
                thread.join()
