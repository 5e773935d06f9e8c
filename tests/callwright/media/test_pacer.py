from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from callwright.errors import MediaError
from callwright.media.pacer import (
    ClockRegistration,
    Drained,
    Pacer,
    PacerClock,
    PacerEvent,
    PacerStats,
    SegmentFinished,
    SegmentStarted,
    SentSegment,
)
from callwright.media.tick_schedule import TickSchedule

FB = 320  # one 20 ms frame of 8 kHz PCM16


class Wire:
    """Collects what a pacer sends, with the tick time of each frame."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.events: list[PacerEvent] = []

    def send(self, frame: bytes) -> None:
        self.frames.append(frame)


PacerFactory = Callable[..., tuple[Pacer, Wire]]


@pytest.fixture
def make_pacer() -> PacerFactory:
    def make(frame_bytes: int = FB, **kwargs: object) -> tuple[Pacer, Wire]:
        wire = Wire()
        pacer = Pacer(frame_bytes, wire.send, on_event=wire.events.append, **kwargs)  # type: ignore[arg-type]
        return pacer, wire

    return make


def tone(n_bytes: int, value: int) -> bytes:
    """PCM16 LE filled with one sample value, so frames can be told apart."""
    return value.to_bytes(2, "little", signed=True) * (n_bytes // 2)


def run_ticks(pacer: Pacer, n: int, start: float = 0.0) -> None:
    for i in range(n):
        pacer.tick(start + i * 0.02)


# -- Pacer (no clock) ---------------------------------------------------------------------------


def test_one_frame_per_tick_in_fifo_order(make_pacer: PacerFactory) -> None:
    pacer, wire = make_pacer()
    pacer.enqueue(tone(2 * FB, 1), "a")
    pacer.enqueue(tone(FB, 2), "b")
    for i in range(3):
        pacer.tick(i * 0.02)
        assert len(wire.frames) == i + 1
    assert wire.frames == [tone(FB, 1), tone(FB, 1), tone(FB, 2)]


def test_idle_sends_silence_or_nothing(make_pacer: PacerFactory) -> None:
    pacer, wire = make_pacer()
    run_ticks(pacer, 3)
    assert wire.frames == [bytes(FB)] * 3
    quiet, quiet_wire = make_pacer(send_silence_when_idle=False)
    run_ticks(quiet, 3)
    assert quiet_wire.frames == []


def test_partial_last_frame_is_padded_with_silence(make_pacer: PacerFactory) -> None:
    pacer, wire = make_pacer()
    pacer.enqueue(tone(FB + 100, 7), "a")
    pacer.enqueue(tone(50, 9), "b")
    run_ticks(pacer, 3)
    assert wire.frames[0] == tone(FB, 7)
    assert wire.frames[1] == tone(100, 7) + bytes(FB - 100)
    assert wire.frames[2] == tone(50, 9) + bytes(FB - 50)
    assert all(len(f) == FB for f in wire.frames)


def test_events_started_finished_drained(make_pacer: PacerFactory) -> None:
    pacer, wire = make_pacer()
    pacer.enqueue(tone(FB, 1), "a")
    pacer.enqueue(tone(2 * FB, 2), "b")
    run_ticks(pacer, 4)
    assert wire.events == [
        SegmentStarted("a", 0.0),
        SegmentFinished("a", 0.0, FB),
        SegmentStarted("b", 0.02),
        SegmentFinished("b", 0.04, 2 * FB),
        Drained(0.04),
    ]
    assert not pacer.is_speaking


def test_tick_returns_its_events(make_pacer: PacerFactory) -> None:
    pacer, _ = make_pacer()
    pacer.enqueue(tone(FB, 1), "a")
    events = pacer.tick(1.0)
    assert events == [SegmentStarted("a", 1.0), SegmentFinished("a", 1.0, FB), Drained(1.0)]
    assert pacer.tick(1.02) == []


def test_empty_segment_finishes_without_using_a_frame(make_pacer: PacerFactory) -> None:
    pacer, wire = make_pacer()
    pacer.enqueue(b"", "empty")
    pacer.enqueue(tone(FB, 3), "b")
    pacer.tick(0.0)
    assert wire.frames == [tone(FB, 3)]
    assert [type(e) for e in wire.events] == [
        SegmentStarted, SegmentFinished, SegmentStarted, SegmentFinished, Drained
    ]


def test_flush_reports_exact_bytes_sent(make_pacer: PacerFactory) -> None:
    pacer, wire = make_pacer()
    pacer.enqueue(tone(FB, 1), "s1")
    pacer.enqueue(tone(3 * FB + 40, 2), "s2")
    pacer.enqueue(tone(FB, 3), "s3")
    run_ticks(pacer, 3)  # s1 whole, 2 frames of s2
    report = pacer.flush()
    assert report == [SentSegment("s2", 2 * FB, 3 * FB + 40), SentSegment("s3", 0, FB)]
    assert report[0].fraction == pytest.approx(640 / 1000)
    assert not report[0].finished
    assert not pacer.is_speaking
    assert wire.events[-1] == Drained(0.04, flushed=True)
    pacer.tick(0.06)
    assert wire.frames[-1] == bytes(FB)  # nothing of the flushed audio is sent later
    assert pacer.flush() == []


def test_flush_counts_the_padded_last_frame_as_its_real_bytes(make_pacer: PacerFactory) -> None:
    pacer, _ = make_pacer()
    pacer.enqueue(tone(FB + 10, 1), "a")
    pacer.enqueue(tone(FB, 2), "b")
    run_ticks(pacer, 2)
    assert pacer.flush() == [SentSegment("b", 0, FB)]
    assert pacer.pending_bytes == 0


def test_pause_sends_silence_and_keeps_position(make_pacer: PacerFactory) -> None:
    pacer, wire = make_pacer()
    pacer.enqueue(tone(FB, 1) + tone(FB, 2) + tone(FB, 3), "a")
    pacer.tick(0.0)
    pacer.pause()
    assert pacer.is_paused and pacer.is_speaking
    run_ticks(pacer, 2, start=0.02)
    pacer.resume()
    run_ticks(pacer, 2, start=0.06)
    assert wire.frames == [tone(FB, 1), bytes(FB), bytes(FB), tone(FB, 2), tone(FB, 3)]


def test_pause_without_idle_silence_sends_nothing(make_pacer: PacerFactory) -> None:
    pacer, wire = make_pacer(send_silence_when_idle=False)
    pacer.enqueue(tone(2 * FB, 1), "a")
    pacer.pause()
    run_ticks(pacer, 3)
    assert wire.frames == []
    assert pacer.pending_frames == 2


def test_flush_clears_pause(make_pacer: PacerFactory) -> None:
    pacer, wire = make_pacer()
    pacer.enqueue(tone(FB, 1), "a")
    pacer.pause()
    pacer.flush()
    pacer.enqueue(tone(FB, 5), "next")
    pacer.tick(0.0)
    assert wire.frames == [tone(FB, 5)]


def test_pending_counters(make_pacer: PacerFactory) -> None:
    pacer, _ = make_pacer()
    pacer.enqueue(tone(FB + 2, 1), "a")
    pacer.enqueue(tone(FB, 1), "b")
    assert pacer.pending_frames == 3
    assert pacer.pending_bytes == 2 * FB + 2
    pacer.tick(0.0)
    assert pacer.pending_frames == 2
    assert pacer.pending_bytes == FB + 2


def test_invalid_sizes_are_refused(make_pacer: PacerFactory) -> None:
    with pytest.raises(MediaError):
        make_pacer(frame_bytes=321)
    pacer, _ = make_pacer()
    with pytest.raises(MediaError):
        pacer.enqueue(b"\x00" * 3, "odd")


def test_events_are_dispatched_even_when_send_raises() -> None:
    events: list[PacerEvent] = []

    def broken(frame: bytes) -> None:
        raise OSError("socket gone")

    pacer = Pacer(FB, broken, on_event=events.append)
    pacer.enqueue(tone(FB, 1), "a")
    with pytest.raises(OSError):
        pacer.tick(0.0)
    assert events[-1] == Drained(0.0)


async def test_drained_awaitable(make_pacer: PacerFactory) -> None:
    pacer, _ = make_pacer()
    await asyncio.wait_for(pacer.drained(), 1)  # nothing queued: returns at once
    pacer.enqueue(tone(2 * FB, 1), "a")
    waiter = asyncio.ensure_future(pacer.drained())
    pacer.tick(0.0)
    await asyncio.sleep(0)
    assert not waiter.done()
    pacer.tick(0.02)
    await asyncio.wait_for(waiter, 1)


async def test_drained_awaitable_wakes_on_flush(make_pacer: PacerFactory) -> None:
    pacer, _ = make_pacer()
    pacer.enqueue(tone(5 * FB, 1), "a")
    waiter = asyncio.ensure_future(pacer.drained())
    await asyncio.sleep(0)
    pacer.flush()
    await asyncio.wait_for(waiter, 1)


def test_stats_record_gap_deviation_and_break_when_idle() -> None:
    stats = PacerStats()
    sent: list[bytes] = []
    pacer = Pacer(FB, sent.append, send_silence_when_idle=False, stats=stats)
    pacer.enqueue(tone(3 * FB, 1), "a")
    for t in (0.0, 0.021, 0.0405):
        pacer.tick(t)
    pacer.tick(0.06)  # idle, nothing sent: the chain breaks
    pacer.enqueue(tone(FB, 1), "b")
    pacer.tick(0.5)
    assert stats.frames == 4
    assert list(stats.deviations_ms) == pytest.approx([1.0, 0.5])
    assert stats.max_deviation_ms == pytest.approx(1.0)
    assert stats.percentile(50) == pytest.approx(0.5)
    assert stats.percentile(99) == pytest.approx(1.0)


# -- TickSchedule (pure) ------------------------------------------------------------------------


def test_schedule_on_time_ticks_follow_the_grid() -> None:
    s = TickSchedule(t0=10.0, period=0.02)
    assert s.wake(9.99) is None
    assert s.wake(10.0) == 0
    assert s.deadline == pytest.approx(10.02)
    assert s.wake(10.0201) == 1
    assert s.deadline == pytest.approx(10.04)


def test_schedule_small_lateness_is_corrected_without_drift() -> None:
    s = TickSchedule(t0=0.0, period=0.02, min_gap_frames=0.25)
    assert s.wake(0.0) == 0
    assert s.wake(0.027) == 1  # 7 ms late
    assert s.deadline == pytest.approx(0.04)  # the grid, not 0.047
    assert s.wake(0.04) == 2
    assert s.skipped == 0


def test_schedule_keeps_a_minimum_gap_after_a_late_tick() -> None:
    s = TickSchedule(t0=0.0, period=0.02, min_gap_frames=0.75)
    assert s.wake(0.0) == 0
    assert s.wake(0.035) == 1  # 15 ms late
    assert s.deadline == pytest.approx(0.05)  # not 0.04: at least 15 ms after the last tick
    assert s.wake(0.05) == 2
    assert s.deadline == pytest.approx(0.065)
    assert s.wake(0.065) == 3
    assert s.deadline == pytest.approx(0.08)  # back on the grid


def test_schedule_skips_missed_ticks_after_a_stall() -> None:
    s = TickSchedule(t0=0.0, period=0.02)
    assert s.wake(0.0) == 0
    assert s.wake(0.125) == 6  # due at 0.02, woke 105 ms late: the current slot's tick runs
    assert s.skipped == 5  # ticks 1..5 (0.02 .. 0.10) are dropped, never sent in a burst
    assert s.next_index == 7
    # 5 ms into its slot: the clock slews back to the grid, at most 1 ms per tick
    assert s.deadline == pytest.approx(0.144)
    assert s.wake(0.144) == 7
    assert s.deadline == pytest.approx(0.163)
    for expected in (0.163, 0.182, 0.201):
        assert s.wake(expected) is not None
    assert s.deadline == pytest.approx(0.22)  # back on the grid
    assert s.wake(0.22) == 11
    assert s.deadline == pytest.approx(0.24)


def test_schedule_slews_back_after_a_late_tick_instead_of_snapping() -> None:
    """A tick X ms late makes one long gap; the next gaps are at most 1 ms short (the default), so
    the receiver sees one X ms deviation, not two."""
    s = TickSchedule(t0=0.0, period=0.02)
    assert s.wake(0.0) == 0
    assert s.wake(0.024) == 1  # 4 ms late: a 24 ms gap
    times = [0.024]
    while s.deadline < 0.2:
        times.append(s.deadline)
        assert s.wake(s.deadline) is not None
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(gap == pytest.approx(0.019) for gap in gaps[:4])  # 19, 19, 19, 19 ms
    assert all(gap == pytest.approx(0.02) for gap in gaps[4:])  # on the grid again
    assert times[4] == pytest.approx(0.1) and s.skipped == 0


def test_schedule_counts_wake_ups_more_than_a_quarter_frame_late() -> None:
    s = TickSchedule(t0=0.0, period=0.02)
    assert s.wake(0.0) == 0
    assert s.wake(0.024) == 1 and s.late == 0  # 4 ms late: within the 5 ms allowance
    assert s.wake(s.deadline + 0.006) == 2 and s.late == 1  # 6 ms after it was due
    assert s.wake(0.2) is not None and s.late == 2 and s.skipped > 0  # a stall is late too
    assert s.wake(s.deadline) is not None and s.late == 2  # the slewing ticks are on time


def test_schedule_late_threshold_is_configurable() -> None:
    s = TickSchedule(t0=0.0, period=0.02, late_after=0.001)
    assert s.wake(0.0) == 0
    assert s.wake(0.022) == 1 and s.late == 1


# -- PacerClock with a fake clock ---------------------------------------------------------------


class StopClock(Exception):
    pass


class FakeTime:
    """A clock whose sleep advances time by the delay plus scripted lateness, then yields."""

    def __init__(self, max_sleeps: int) -> None:
        self.now = 100.0
        self.sleeps = 0
        self.max_sleeps = max_sleeps
        self.lateness: dict[int, float] = {}  # sleep number -> extra seconds

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps += 1
        if self.sleeps > self.max_sleeps:
            raise StopClock
        self.now += delay + self.lateness.get(self.sleeps, 0.0)
        await asyncio.sleep(0)


@pytest.fixture
def make_fake_clock() -> Callable[[int], tuple[PacerClock, FakeTime]]:
    def make(max_sleeps: int) -> tuple[PacerClock, FakeTime]:
        fake = FakeTime(max_sleeps)
        return PacerClock(clock=fake.clock, sleep=fake.sleep), fake

    return make


async def test_clock_ticks_every_pacer_once_per_tick(
    make_fake_clock: Callable[[int], tuple[PacerClock, FakeTime]], make_pacer: PacerFactory
) -> None:
    clock, _ = make_fake_clock(10)
    pacers = [make_pacer() for _ in range(3)]
    for pacer, _ in pacers:
        clock.register(pacer)
    with pytest.raises(StopClock):
        await clock.run()
    assert clock.ticks == 10
    assert [len(wire.frames) for _, wire in pacers] == [10, 10, 10]


async def test_clock_hooks_get_index_since_registration_and_skips_after_stall(
    make_fake_clock: Callable[[int], tuple[PacerClock, FakeTime]],
) -> None:
    clock, fake = make_fake_clock(12)
    fake.lateness[4] = 0.105  # the 4th wake-up is 105 ms late
    seen: list[tuple[int, float]] = []
    clock.register(on_tick=lambda i, now: seen.append((i, round(now - 100.0, 4))))
    with pytest.raises(StopClock):
        await clock.run()
    indexes = [i for i, _ in seen]
    assert indexes[:3] == [0, 1, 2]
    assert clock.skipped_ticks == 5  # ticks 3..7, due 60..140 ms
    assert indexes[3] == 8  # the late wake-up runs the current slot; the index counts the skips
    assert indexes[4:6] == [9, 10]  # then back on the grid
    times = [t for _, t in seen]
    assert all(b - a >= 0.019 - 1e-9 for a, b in zip(times, times[1:], strict=False))
    # On the grid before the stall and again once the clock has slewed back (1 ms per tick).
    assert all(t == pytest.approx(i * 0.02) for i, t in seen if i < 8 or i >= 8 + 6)


async def test_clock_counts_its_late_ticks(
    make_fake_clock: Callable[[int], tuple[PacerClock, FakeTime]],
) -> None:
    clock, fake = make_fake_clock(12)
    assert clock.late_ticks == 0  # not started
    fake.lateness[4] = 0.105
    fake.lateness[9] = 0.008
    with pytest.raises(StopClock):
        await clock.run()
    assert clock.late_ticks == 2
    assert clock.skipped_ticks == 5


async def test_clock_continues_when_one_pacer_raises(
    make_fake_clock: Callable[[int], tuple[PacerClock, FakeTime]],
    make_pacer: PacerFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, _ = make_fake_clock(5)

    def broken(frame: bytes) -> None:
        raise OSError("boom")

    bad = clock.register(Pacer(FB, broken))
    hook_calls: list[int] = []

    def bad_hook(i: int, now: float) -> None:
        raise RuntimeError("hook")

    clock.register(on_tick=bad_hook)
    good, wire = make_pacer()
    clock.register(good, on_tick=lambda i, now: hook_calls.append(i))
    with pytest.raises(StopClock):
        await clock.run()
    assert len(wire.frames) == 5
    assert hook_calls == [0, 1, 2, 3, 4]
    assert bad.errors == 5
    assert sum("failed" in r.getMessage() for r in caplog.records) == 2  # first failures only


async def test_unregister_during_a_tick_takes_effect_at_once(
    make_fake_clock: Callable[[int], tuple[PacerClock, FakeTime]], make_pacer: PacerFactory
) -> None:
    clock, _ = make_fake_clock(4)
    pacer, wire = make_pacer()
    regs: list[ClockRegistration] = []

    def first_hook(i: int, now: float) -> None:
        if i == 1:
            clock.unregister(regs[1])
            clock.unregister(regs[1])  # twice is fine

    regs.append(clock.register(on_tick=first_hook))
    regs.append(clock.register(pacer, on_tick=lambda i, now: None))
    with pytest.raises(StopClock):
        await clock.run()
    assert len(wire.frames) == 2
    assert len(clock) == 1


# -- PacerClock in real time --------------------------------------------------------------------


async def test_real_time_clock_paces_and_does_not_burst_after_a_stall() -> None:
    clock = PacerClock()
    sends: dict[int, list[float]] = {0: [], 1: []}

    def timestamper(times: list[float]) -> Callable[[bytes], None]:
        return lambda frame: times.append(time.monotonic())

    for k in (0, 1):
        pacer = Pacer(FB, timestamper(sends[k]))
        pacer.enqueue(tone(100 * FB, 1), "long")
        clock.register(pacer)
    clock.start()
    await asyncio.sleep(0.5)
    ticks_in_half_second = clock.ticks
    skipped_before = clock.skipped_ticks

    stall_at: list[float] = []

    def stall(i: int, now: float) -> None:
        if not stall_at:
            stall_at.append(time.monotonic())
            time.sleep(0.1)  # a 100 ms block of the event loop

    clock.register(on_tick=stall)
    await asyncio.sleep(0.2)
    await clock.stop()
    assert not clock.running

    assert 20 <= ticks_in_half_second and ticks_in_half_second + skipped_before <= 27
    assert clock.skipped_ticks - skipped_before >= 4
    for times in sends.values():
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert min(gaps) > 0.012, f"two frames {min(gaps) * 1000:.1f} ms apart"
        after_stall = [t for t in times if stall_at[0] <= t < stall_at[0] + 0.16]
        assert len(after_stall) <= 4  # 160 ms, 100 of them stalled: no back-log burst
