"""What the lifecycle benchmark measures, with no I/O of its own but ``/proc`` readings: silences
heard by a simulated caller, the slope of a memory curve, and the machine's load over a phase.
"""

from __future__ import annotations

import math
import os
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ari_app.simulator.caller import SimulatedCaller, frame_rms
from bench.media_host import core_times, cpu_pressure_avg10
from bench.report import summarize

FRAME_S = 0.02


class SpeechWatch:
    """The speech frames a caller hears, examined once each as they arrive."""

    def __init__(self, caller: SimulatedCaller) -> None:
        self.caller = caller
        self.seen = 0

    def new_speech(self) -> list[float]:
        """Monotonic arrival times of the speech frames heard since the last call."""
        frames = self.caller.heard_frames()
        fresh = frames[self.seen:]
        self.seen = len(frames)
        caller = self.caller
        return [caller.t0 + t for t, pcm in fresh if frame_rms(pcm) >= caller.speech_rms]


def speech_times(caller: SimulatedCaller) -> list[float]:
    """Monotonic arrival times of the speech frames ``caller`` heard."""
    return SpeechWatch(caller).new_speech()


def first_after(times: Sequence[float], after: float) -> float | None:
    return next((t for t in times if t > after), None)


def longest_silence(times: Sequence[float], start: float, end: float) -> float:
    """The longest stretch of ``[start, end]`` with no speech frame (``times``: arrival times of
    20 ms speech frames, sorted)."""
    if end <= start:
        return 0.0
    inside = [t for t in times if start <= t <= end]
    longest = 0.0
    previous_end = start
    for t in inside:
        longest = max(longest, t - previous_end)
        previous_end = max(previous_end, t + FRAME_S)
    return max(longest, end - previous_end)


def rss_slope_mb_per_min(samples: Sequence[tuple[float, int]], after_s: float) -> float | None:
    """Least-squares slope (MB per minute) of ``(seconds, rss bytes)`` samples taken at or after
    ``after_s``; None with fewer than three."""
    points = [(t, rss) for t, rss in samples if t >= after_s]
    if len(points) < 3:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_mb = sum(rss / 2**20 for _, rss in points) / n
    sxx = sum((t - mean_t) ** 2 for t, _ in points)
    if sxx == 0:
        return None
    sxy = sum((t - mean_t) * (rss / 2**20 - mean_mb) for t, rss in points)
    return sxy / sxx * 60.0


def seconds(values: Sequence[float]) -> dict[str, float]:
    """n, p50, p95, p99 and max of ``values`` (seconds, 2 decimals)."""
    return summarize(list(values))


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class LoadMeter:
    """The machine's load over one phase: the share of all its cores in use, what this (bench)
    process used of one core, load averages and CPU pressure at both ends."""

    started: float = field(default_factory=time.monotonic)
    busy0: float = field(default_factory=lambda: core_times(None)[0])
    steal0: float = field(default_factory=lambda: core_times(None)[1])
    self0: float = field(default_factory=_self_cpu)
    load0: tuple[float, float, float] = field(default_factory=os.getloadavg)
    pressure0: float | None = field(default_factory=cpu_pressure_avg10)

    def figures(self, service_cpu_s: float | None = None) -> dict[str, Any]:
        wall = max(1e-9, time.monotonic() - self.started)
        busy, steal = core_times(None)
        cores = os.cpu_count() or 1
        bench = _self_cpu() - self.self0
        used = busy - self.busy0
        out: dict[str, Any] = {
            "cores": cores,
            "wall_s": round(wall, 1),
            "machine_busy_pct_of_all_cores": round(100.0 * used / (wall * cores), 1),
            "bench_process_pct_of_one_core": round(100.0 * bench / wall, 1),
            "steal_pct_of_all_cores": round(100.0 * (steal - self.steal0) / (wall * cores), 1),
            "loadavg_start": [round(x, 2) for x in self.load0],
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
            "cpu_pressure_avg10_start": self.pressure0,
            "cpu_pressure_avg10_end": cpu_pressure_avg10(),
        }
        if service_cpu_s is not None:
            out["service_pct_of_one_core"] = round(100.0 * service_cpu_s / wall, 1)
            others = used - bench - service_cpu_s
            out["others_pct_of_all_cores"] = round(100.0 * max(0.0, others) / (wall * cores), 1)
        return out


def finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 3)
