"""The call service's own latency figures for a benchmark, read from its ``/metrics``.

A bench that runs the service as its own process (:mod:`bench.service_process`) scrapes the
status listener before and after a measured stretch; :meth:`MetricsScraper.since` turns the two
scrapes into what happened in between: per turn stage (``stt_final``, ``first_frame``,
``heard_gap``, ...) how many turns, their mean and a p95 read from the histogram's buckets (the
upper bound of the bucket the 95th percentile falls in), the event loop's lag, and the pacer
clock's late ticks. So a slower gap can be told apart: slow speech recognition, a late first
frame, or a loop that did not keep time.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

from aiohttp import ClientSession, ClientTimeout
from prometheus_client.parser import text_string_to_metric_families

#: One scrape: (sample name, its labels sorted) → value.
Labels = tuple[tuple[str, str], ...]
Scrape = dict[tuple[str, Labels], float]

TURN = "callwright_turn_latency_seconds"
LAG = "callwright_event_loop_lag_seconds"
COUNTERS = ("callwright_pacer_ticks_total", "callwright_pacer_late_ticks_total",
            "callwright_pacer_skipped_ticks_total")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for the service's status listener)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parse(text: str) -> Scrape:
    """Every sample of a Prometheus text exposition, keyed by name and labels."""
    samples: Scrape = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = float(sample.value)
    return samples


def histogram(before: Scrape, after: Scrape, name: str,
              labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Observations of histogram ``name`` (the series with ``labels``) between two scrapes:
    count, mean and p95 in ms."""
    wanted = dict(labels or {})
    plain: Labels = tuple(sorted(wanted.items()))

    def delta(key: tuple[str, Labels]) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    count = delta((f"{name}_count", plain))
    if count <= 0:
        return {"n": 0}
    buckets: list[tuple[float, float]] = []
    for key in after:
        sample, sample_labels = key
        if sample != f"{name}_bucket":
            continue
        found = dict(sample_labels)
        le = found.pop("le", None)
        if le is not None and found == wanted:
            buckets.append((float(le), delta(key)))
    buckets.sort()
    p95: float | None = None
    for bound, cumulative in buckets:
        if cumulative >= 0.95 * count:
            p95 = bound
            break
    return {
        "n": int(count),
        "mean_ms": round(1000 * delta((f"{name}_sum", plain)) / count, 1),
        "p95_ms_at_most": None if p95 is None or p95 == float("inf") else round(1000 * p95),
    }


class MetricsScraper:
    """Scrapes one service's ``/metrics`` (``url``)."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def scrape(self) -> Scrape:
        """Every sample now; empty when the listener does not answer (the figures are left out,
        the bench goes on)."""
        try:
            async with ClientSession(timeout=ClientTimeout(total=5)) as session:
                async with session.get(self.url) as response:
                    return parse(await response.text())
        except (OSError, TimeoutError):
            return {}

    @staticmethod
    def since(before: Scrape, after: Scrape) -> dict[str, Any]:
        """What the service measured between ``before`` and ``after``."""
        if not before or not after:
            return {}
        figures: dict[str, Any] = {
            stage: histogram(before, after, TURN, {"stage": stage})
            for stage in ("stt_final", "first_frame", "heard_gap")
        }
        figures["loop_lag"] = histogram(before, after, LAG)
        for counter in COUNTERS:
            key = (counter, ())
            if key in after:
                short = counter.removeprefix("callwright_").removesuffix("_total")
                figures[short] = int(after[key] - before.get(key, 0.0))
        return figures
