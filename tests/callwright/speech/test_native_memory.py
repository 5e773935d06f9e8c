"""FreedMemoryTrimmer: glibc's malloc_trim after native objects were freed, rate-limited."""

from __future__ import annotations

import sys

import pytest

from callwright.speech.native_memory import TRIMMER, FreedMemoryTrimmer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_it_trims_at_most_once_per_interval() -> None:
    calls: list[int] = []
    clock = Clock()

    def trim(pad: int) -> int:
        calls.append(pad)
        return 1

    trimmer = FreedMemoryTrimmer(trim=trim, min_interval_s=1.0, clock=clock)
    assert trimmer.freed() is True
    clock.now += 0.5
    assert trimmer.freed() is False
    clock.now += 0.6
    assert trimmer.freed() is True
    assert calls == [0, 0] and trimmer.trims == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="platform: glibc's malloc_trim")
def test_the_process_trimmer_calls_glibc() -> None:
    assert TRIMMER.available
    assert FreedMemoryTrimmer(min_interval_s=0.0).freed() is True  # the real malloc_trim(0)
