"""The recogniser's threads: finals first, arrival order otherwise, sized from the cores."""

from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest

from callwright.speech.stt_scheduler import FINISHING, LIVE, PriorityExecutor, default_threads


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
