"""The bench's reading of the service's /metrics: histogram deltas between two scrapes."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from bench.service_metrics import MetricsScraper, parse
from callwright.call.journal import TurnRecord
from callwright.observability.metrics import CallMetrics


def _turn(stt_ms: int, gap_ms: int) -> TurnRecord:
    return TurnRecord("caller", "네", "", "", stt_ms=stt_ms, heard_gap_ms=gap_ms)


def test_since_counts_only_what_happened_between_the_scrapes() -> None:
    registry = CollectorRegistry()
    metrics = CallMetrics(registry)
    metrics.on_turn("a", _turn(900, 4000))  # before the first scrape: left out
    before = parse(generate_latest(registry).decode())
    for stt in (10, 20, 30, 40, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 140):
        metrics.on_turn("a", _turn(stt, 300))
    metrics.loop_lag(0.004)
    after = parse(generate_latest(registry).decode())
    figures = MetricsScraper.since(before, after)
    assert figures["stt_final"] == {"n": 20, "mean_ms": 57.0, "p95_ms_at_most": 75}
    assert figures["heard_gap"] == {"n": 20, "mean_ms": 300.0, "p95_ms_at_most": 300}
    assert figures["first_frame"] == {"n": 0}
    assert figures["loop_lag"] == {"n": 1, "mean_ms": 4.0, "p95_ms_at_most": 5}
    assert figures["pacer_ticks"] == 0


def test_p95_beyond_the_last_bucket_is_unknown() -> None:
    registry = CollectorRegistry()
    metrics = CallMetrics(registry)
    before = parse(generate_latest(registry).decode())
    metrics.on_turn("a", _turn(20_000, 20_000))
    figures = MetricsScraper.since(before, parse(generate_latest(registry).decode()))
    assert figures["stt_final"] == {"n": 1, "mean_ms": 20000.0, "p95_ms_at_most": None}


def test_no_figures_without_both_scrapes() -> None:
    assert MetricsScraper.since({}, {("x", ()): 1.0}) == {}
