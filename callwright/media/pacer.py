"""Outbound audio pacing: exactly one 20 ms frame per call per tick, never in bursts.

:class:`Pacer` is one call's outbound queue. It is sans-IO: it holds queued segments (one TTS
sentence each, identified by a ``tag``) and, on every :meth:`Pacer.tick`, hands exactly one frame to
its ``send`` callback. It knows nothing about time except the timestamps passed to ``tick``.

:class:`PacerClock` is the single asyncio task of the process that ticks every registered pacer on
a drift-free 20 ms grid of ``time.monotonic()``: tick *n* is due at ``t0 + n * 20 ms``. After a late
tick the clock slews back to the grid (the grid never moves): two ticks are never closer than
``min_gap_frames`` of a frame, 0.95 by default, so a tick delayed by X ms makes one long gap and the
following gaps are at most 1 ms short until the clock is back on the grid (snapping straight back
would make a second gap X ms short: twice the jitter for the receiver). A wake-up later than one
whole frame skips the missed ticks (counted in :attr:`PacerClock.skipped_ticks`) instead of sending
a back-log burst. The scheduling arithmetic lives in the pure
:class:`~callwright.media.tick_schedule.TickSchedule`. It waits with a
:mod:`~callwright.media.precise_sleep` timerfd sleeper (sub-millisecond on Linux; asyncio's own
sleep wakes 0-1 ms late because epoll timeouts are whole milliseconds), else ``asyncio.sleep``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from array import array
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from callwright.errors import MediaError
from callwright.media.precise_sleep import TimerFdSleep, precise_sleep
from callwright.media.tick_schedule import TickSchedule

log = logging.getLogger(__name__)

FRAME_MS = 20


@dataclass(frozen=True, slots=True)
class SentSegment:
    """How much of one queued segment went out before a :meth:`Pacer.flush`."""

    tag: object
    bytes_sent: int   # audio bytes sent (padding excluded)
    total_bytes: int  # audio bytes enqueued

    @property
    def finished(self) -> bool:
        return self.bytes_sent >= self.total_bytes

    @property
    def fraction(self) -> float:
        """Share of the segment that was sent, 0.0 .. 1.0 (1.0 for an empty segment)."""
        return 1.0 if self.total_bytes == 0 else self.bytes_sent / self.total_bytes


@dataclass(frozen=True, slots=True)
class SegmentStarted:
    """The first frame of the segment ``tag`` was sent at ``at``."""

    tag: object
    at: float


@dataclass(frozen=True, slots=True)
class SegmentFinished:
    """The last frame of the segment ``tag`` was sent at ``at``."""

    tag: object
    at: float
    total_bytes: int


@dataclass(frozen=True, slots=True)
class Drained:
    """No audio is left to send: the assistant stopped talking.

    ``flushed`` is True when the queue was emptied by :meth:`Pacer.flush` (barge-in); ``at`` is then
    the time of the last tick.
    """

    at: float
    flushed: bool = False


PacerEvent = SegmentStarted | SegmentFinished | Drained
EventSink = Callable[[PacerEvent], None]


class PacerStats:
    """Send timestamps of one pacer, kept as deviations of the inter-frame gaps from one frame.

    Used by the pacing benchmark. A tick that sends nothing (idle, silence disabled) breaks the
    chain, so idle time is not counted as a pacing error. ``max_samples`` bounds memory.
    """

    def __init__(self, frame_ms: float = FRAME_MS, max_samples: int | None = None) -> None:
        self._frame_s = frame_ms / 1000.0
        self._max = max_samples
        self._last: float | None = None
        self.frames = 0
        self.deviations_ms: array[float] = array("d")

    def record(self, now: float) -> None:
        if self._last is not None and (self._max is None or len(self.deviations_ms) < self._max):
            self.deviations_ms.append(abs((now - self._last) - self._frame_s) * 1000.0)
        self._last = now
        self.frames += 1

    def break_chain(self) -> None:
        self._last = None

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile (0-100, nearest rank) of the deviations in ms; 0.0 if none."""
        if not self.deviations_ms:
            return 0.0
        ordered = sorted(self.deviations_ms)
        rank = max(1, math.ceil(q / 100.0 * len(ordered)))
        return ordered[min(rank, len(ordered)) - 1]

    @property
    def max_deviation_ms(self) -> float:
        return max(self.deviations_ms, default=0.0)


class _Segment:
    __slots__ = ("tag", "pcm", "sent", "started")

    def __init__(self, tag: object, pcm: bytes) -> None:
        self.tag = tag
        self.pcm = pcm
        self.sent = 0
        self.started = False


class Pacer:
    """One call's outbound audio queue; sends exactly one frame per :meth:`tick`.

    Each segment's last partial frame is padded with silence (segments never share a frame). While
    paused, or idle, a tick sends a frame of silence if ``send_silence_when_idle`` (keeps an RTP
    stream continuous), else nothing. Events go to ``on_event`` and are also returned by ``tick``.
    """

    def __init__(
        self,
        frame_bytes: int,
        send: Callable[[bytes], None],
        *,
        send_silence_when_idle: bool = True,
        on_event: EventSink | None = None,
        stats: PacerStats | None = None,
    ) -> None:
        if frame_bytes <= 0 or frame_bytes % 2:
            raise MediaError(f"pacer frame size must be positive and even, got {frame_bytes}")
        self.frame_bytes = frame_bytes
        self._send = send
        self._idle_silence = send_silence_when_idle
        self._on_event = on_event
        self.stats = stats
        self._silence = bytes(frame_bytes)
        self._queue: deque[_Segment] = deque()
        self._pending_bytes = 0
        self._paused = False
        self._last_tick = 0.0
        self._waiters: list[asyncio.Future[None]] = []

    # -- queue ------------------------------------------------------------------------------

    def enqueue(self, pcm: bytes, tag: object = None) -> None:
        """Queue PCM16 LE audio (any length, even) to be sent after everything already queued."""
        if len(pcm) % 2:
            raise MediaError(f"PCM16 audio must have an even byte count, got {len(pcm)}")
        self._queue.append(_Segment(tag, bytes(pcm)))
        self._pending_bytes += len(pcm)

    def flush(self) -> list[SentSegment]:
        """Drop all queued audio at once (barge-in) and report, for the segment in progress and each
        queued one, the bytes sent and enqueued. Segments finished earlier were already reported by
        :class:`SegmentFinished`. Also clears a pause, so the next reply plays at once."""
        report = [SentSegment(seg.tag, seg.sent, len(seg.pcm)) for seg in self._queue]
        self._queue.clear()
        self._pending_bytes = 0
        self._paused = False
        if report:
            self._dispatch([Drained(self._last_tick, flushed=True)])
        return report

    def pause(self) -> None:
        """Stop sending queued audio but keep its position (tentative barge-in)."""
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    @property
    def is_speaking(self) -> bool:
        """True while audio is queued (also while paused)."""
        return bool(self._queue)

    @property
    def is_paused(self) -> bool:
        return self._paused

    @property
    def pending_bytes(self) -> int:
        """Audio bytes not yet sent."""
        return self._pending_bytes

    @property
    def pending_frames(self) -> int:
        """Frames still to send, each segment's padded last frame included."""
        fb = self.frame_bytes
        return sum(-(-(len(s.pcm) - s.sent) // fb) for s in self._queue)

    async def drained(self) -> None:
        """Return once no audio is left to send (at once if nothing is queued)."""
        if not self._queue:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        await waiter

    # -- ticking ----------------------------------------------------------------------------

    def tick(self, now: float) -> list[PacerEvent]:
        """Send one frame (audio, silence, or nothing) and return the events it caused."""
        self._last_tick = now
        events: list[PacerEvent] = []
        frame = self._next_frame(now, events)
        try:
            if frame is not None:
                self._send(frame)
                if self.stats is not None:
                    self.stats.record(now)
            elif self.stats is not None:
                self.stats.break_chain()
        finally:
            if events:
                self._dispatch(events)
        return events

    def _next_frame(self, now: float, events: list[PacerEvent]) -> bytes | None:
        idle = self._silence if self._idle_silence else None
        if self._paused or not self._queue:
            return idle
        fb = self.frame_bytes
        frame: bytes | None = None
        while self._queue and frame is None:
            seg = self._queue[0]
            if not seg.started:
                seg.started = True
                events.append(SegmentStarted(seg.tag, now))
            if seg.sent < len(seg.pcm):
                frame = seg.pcm[seg.sent : seg.sent + fb]
                seg.sent += len(frame)
                self._pending_bytes -= len(frame)
                if len(frame) < fb:
                    frame += bytes(fb - len(frame))
            if seg.sent >= len(seg.pcm):
                self._queue.popleft()
                events.append(SegmentFinished(seg.tag, now, len(seg.pcm)))
        if not self._queue:
            events.append(Drained(now))
        return idle if frame is None else frame

    def _dispatch(self, events: list[PacerEvent]) -> None:
        if any(isinstance(e, Drained) for e in events):
            waiters, self._waiters = self._waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
        if self._on_event is not None:
            for event in events:
                self._on_event(event)


TickHook = Callable[[int, float], None]


class ClockRegistration:
    """A pacer and/or a 20 ms hook on a :class:`PacerClock`. ``on_tick(index, now)`` receives the
    tick index since registration (skipped ticks included, so ``index * 20 ms`` is time on the
    call's timeline) and the monotonic time of the tick. Hooks run after every pacer has sent."""

    __slots__ = ("pacer", "on_tick", "start_index", "active", "errors")

    def __init__(self, pacer: Pacer | None, on_tick: TickHook | None) -> None:
        self.pacer = pacer
        self.on_tick = on_tick
        self.start_index: int | None = None
        self.active = True
        self.errors = 0


class PacerClock:
    """The process-wide 20 ms clock. One asyncio task ticks every registered pacer.

    ``clock`` and ``sleep`` are injectable for tests. Without ``sleep``, :meth:`run` creates a
    :func:`~callwright.media.precise_sleep.precise_sleep` on the running loop and closes it when it
    ends. A pacer or hook that raises is logged (first failure, then every 250th) and counted in
    its registration; the other calls are not affected.
    """

    def __init__(
        self,
        *,
        frame_ms: int = FRAME_MS,
        min_gap_frames: float = 0.95,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.period = frame_ms / 1000.0
        self._min_gap_frames = min_gap_frames
        self._clock = clock
        self._sleep = sleep
        self._regs: dict[ClockRegistration, None] = {}
        self._task: asyncio.Task[None] | None = None
        self._schedule: TickSchedule | None = None
        self.ticks = 0

    def register(
        self, pacer: Pacer | None = None, on_tick: TickHook | None = None
    ) -> ClockRegistration:
        reg = ClockRegistration(pacer, on_tick)
        self._regs[reg] = None
        return reg

    def unregister(self, reg: ClockRegistration) -> None:
        """Stop ticking ``reg`` (effective at once, even during a tick). Safe to call twice."""
        reg.active = False
        self._regs.pop(reg, None)

    def __len__(self) -> int:
        return len(self._regs)

    @property
    def skipped_ticks(self) -> int:
        return 0 if self._schedule is None else self._schedule.skipped

    @property
    def late_ticks(self) -> int:
        """Wake-ups more than a quarter frame after the tick was due (skipped ones included)."""
        return 0 if self._schedule is None else self._schedule.late

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the clock task on the running loop (no-op if running)."""
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="pacer-clock")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def run(self) -> None:
        """Tick forever (until cancelled)."""
        sleep = precise_sleep() if self._sleep is None else self._sleep
        try:
            schedule = TickSchedule(self._clock(), self.period, self._min_gap_frames)
            self._schedule = schedule
            while True:
                await sleep(max(0.0, schedule.deadline - self._clock()))
                index = schedule.wake(self._clock())
                if index is not None:
                    self.tick_all(index)
        finally:
            if self._sleep is None and isinstance(sleep, TimerFdSleep):
                sleep.close()

    def tick_all(self, index: int) -> None:
        """Run one tick: every pacer sends its frame, then the hooks run."""
        self.ticks += 1
        regs = list(self._regs)
        for reg in regs:
            if reg.start_index is None:
                reg.start_index = index
            if reg.pacer is not None and reg.active:
                try:
                    reg.pacer.tick(self._clock())
                except Exception:
                    self._failed(reg, "pacer")
        for reg in regs:
            if reg.on_tick is not None and reg.active and reg.start_index is not None:
                try:
                    reg.on_tick(index - reg.start_index, self._clock())
                except Exception:
                    self._failed(reg, "tick hook")

    @staticmethod
    def _failed(reg: ClockRegistration, what: str) -> None:
        reg.errors += 1
        if reg.errors % 250 == 1:
            log.exception("pacer clock: %s failed (%d failures); continuing", what, reg.errors)
