"""The recogniser's threads: finals first, arrival order otherwise, sized from the cores."""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import Future

import pytest

from callwright.speech.stt_scheduler import (
    DECODER_NICE,
    FINISHING,
    LIVE,
    PriorityExecutor,
    default_threads,
    lower_thread_priority,
)


def test_a_finishing_turn_goes_before_live_audio() -> None:
    executor = PriorityExecutor(1)
    gate, started = threading.Event(), threading.Event()
    ran: list[str] = []

    def block() -> None:
        started.set()
        gate.wait(5)

    blocker = executor.submit_at(LIVE, block)
    assert started.wait(5)
    jobs: list[Future[None]] = [executor.submit_at(LIVE, ran.append, "live 1"),
            executor.submit_at(LIVE, ran.append, "live 2"),
            executor.submit_at(FINISHING, ran.append, "final")]
    assert executor.busy and executor.queued == 3 and not executor.idle
    gate.set()
    for job in [blocker, *jobs]:
        job.result(5)
    assert ran == ["final", "live 1", "live 2"]
    assert not executor.busy and executor.idle
    executor.shutdown()


def test_errors_reach_the_caller_and_shutdown_refuses_new_work() -> None:
    executor = PriorityExecutor(2)

    def fail() -> None:
        raise ValueError("native failure")

    with pytest.raises(ValueError, match="native failure"):
        executor.submit(fail).result(5)
    assert executor.submit(sum, [1, 2]).result(5) == 3
    executor.shutdown(wait=True)
    with pytest.raises(RuntimeError, match="shutdown"):
        executor.submit(sum, [1])


def test_cancelled_when_shut_down_with_jobs_waiting() -> None:
    executor = PriorityExecutor(1)
    gate = threading.Event()
    executor.submit(gate.wait, 5)
    waiting = executor.submit(sum, [1])
    executor.shutdown(wait=False, cancel_futures=True)
    gate.set()
    assert waiting.cancelled()


def test_threads_from_the_cores() -> None:
    assert default_threads(8) == 8 and default_threads(0) == 1
    assert default_threads() >= 1
    with pytest.raises(ValueError):
        PriorityExecutor(0)


def _own_priority() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_the_threads_run_below_the_rest_of_the_process() -> None:
    executor = PriorityExecutor(2, nice=DECODER_NICE)
    plain = PriorityExecutor(1)
    linux = sys.platform.startswith("linux")  # elsewhere threads share the process's priority
    try:
        mine = _own_priority()
        lowered = min(19, mine + DECODER_NICE) if linux else mine
        assert executor.submit_at(LIVE, _own_priority).result(5) == lowered
        assert plain.submit_at(LIVE, _own_priority).result(5) == mine
        assert _own_priority() == mine  # the caller's thread keeps its priority
    finally:
        executor.shutdown()
        plain.shutdown()


def test_nice_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="nice"):
        PriorityExecutor(1, nice=20)
    with pytest.raises(ValueError, match="nice"):
        PriorityExecutor(1, nice=-1)
    assert not lower_thread_priority(0)


def test_an_urgent_thread_takes_only_finishing_jobs_at_the_process_priority() -> None:
    executor = PriorityExecutor(1, nice=DECODER_NICE, urgent_workers=1)
    gate, started = threading.Event(), threading.Event()

    def block() -> int:
        started.set()
        gate.wait(5)
        return _own_priority()

    try:
        mine = _own_priority()
        live = executor.submit_at(LIVE, block)
        assert started.wait(5)
        waiting = executor.submit_at(LIVE, _own_priority)
        # The decoding thread is taken: the final runs at once on the urgent thread, at the
        # process's priority, and leaves the live job for the decoding thread.
        assert executor.submit_at(FINISHING, _own_priority).result(5) == mine
        assert executor.queued == 1 and not waiting.done()
        gate.set()
        linux = sys.platform.startswith("linux")
        lowered = min(19, mine + DECODER_NICE) if linux else mine
        assert live.result(5) == lowered and waiting.result(5) == lowered
    finally:
        gate.set()
        executor.shutdown()
    with pytest.raises(ValueError, match="urgent"):
        PriorityExecutor(1, urgent_workers=-1)
