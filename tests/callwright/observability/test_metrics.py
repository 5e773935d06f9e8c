"""CallMetrics on a registry of its own, read back through prometheus_client's text parser."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from callwright.call.journal import TurnRecord
from callwright.call.live import LiveCalls
from callwright.media.rtp_stats import RtpReceiveSnapshot
from callwright.observability.metrics import (
    CALL_STATUSES,
    RECOVERY_ACTIONS,
    CallMetrics,
    ServiceReadings,
)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(registry: CollectorRegistry) -> Samples:
    """Every sample of the exposition, by (name, sorted labels)."""
    text = generate_latest(registry).decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def snapshot(expected: int, received: int, jitter_ms: float) -> RtpReceiveSnapshot:
    return RtpReceiveSnapshot(
        ssrc=1, received=received, expected=expected, lost=expected - received,
        fraction_lost=0.0, jitter=jitter_ms * 8, jitter_ms=jitter_ms,
        extended_highest_sequence=expected, duplicates=0, out_of_order=0, bad_sequence=0,
        sequence_restarts=0, ssrc_changes=0, packets_seen=received,
    )


def turn(speaker: str, **ms: Any) -> TurnRecord:
    return TurnRecord(speaker=speaker, text="x", started_at="t", ended_at="t", **ms)


@pytest.fixture
def make_metrics() -> Callable[..., tuple[CallMetrics, CollectorRegistry]]:
    def make(readings: ServiceReadings | None = None) -> tuple[CallMetrics, CollectorRegistry]:
        registry = CollectorRegistry()
        return CallMetrics(registry, readings), registry

    return make


def test_every_series_exists_from_the_start_at_zero(
    make_metrics: Callable[..., tuple[CallMetrics, CollectorRegistry]],
) -> None:
    _, registry = make_metrics()
    s = scrape(registry)
    for status in CALL_STATUSES:
        assert value(s, "callwright_calls_total", status=status) == 0
    for action in RECOVERY_ACTIONS:
        assert value(s, "callwright_recoveries_total", action=action) == 0
    for stage in ("stt_final", "dialog", "tts", "first_frame", "heard_gap"):
        assert value(s, "callwright_turn_latency_seconds_count", stage=stage) == 0
    assert value(s, "callwright_calls_in_progress") == 0
    assert value(s, "callwright_event_loop_lag_seconds_count") == 0
    assert value(s, "callwright_ari_connected") == 0
    assert value(s, "callwright_rtp_packets_lost_total") == 0


def test_calls_and_turns_are_counted_through_the_live_calls(
    make_metrics: Callable[..., tuple[CallMetrics, CollectorRegistry]],
) -> None:
    live = LiveCalls()
    metrics, registry = make_metrics(ServiceReadings(calls_in_progress=lambda: len(live.calls)))
    metrics.attach(live)
    live.started("uid-1", 1, "100", "555")
    live.started("uid-2", 2, "100", "556")
    live.on_turn(1, turn("caller", stt_ms=120))
    live.on_turn(1, turn("assistant", dialog_ms=30, tts_ms=40, first_frame_ms=90,
                         heard_gap_ms=700))
    live.on_turn(1, turn("assistant"))  # the greeting: nothing measured, nothing observed
    s = scrape(registry)
    assert value(s, "callwright_calls_in_progress") == 2
    assert value(s, "callwright_turn_latency_seconds_count", stage="stt_final") == 1
    assert value(s, "callwright_turn_latency_seconds_sum", stage="stt_final") == pytest.approx(0.12)
    assert value(s, "callwright_turn_latency_seconds_bucket", stage="first_frame", le="0.1") == 1
    assert value(s, "callwright_turn_latency_seconds_bucket", stage="first_frame", le="0.075") == 0
    assert value(s, "callwright_turn_latency_seconds_sum", stage="heard_gap") == pytest.approx(0.7)
    assert value(s, "callwright_turn_latency_seconds_count", stage="dialog") == 1
    assert value(s, "callwright_turn_latency_seconds_count", stage="tts") == 1

    live.ended(1, "completed", "assistant_hangup")
    live.ended(2, "failed", "error: boom")
    s = scrape(registry)
    assert value(s, "callwright_calls_in_progress") == 0
    assert value(s, "callwright_calls_total", status="completed") == 1
    assert value(s, "callwright_calls_total", status="failed") == 1
    assert value(s, "callwright_calls_total", status="transferred") == 0


def test_state_is_read_at_scrape_time(
    make_metrics: Callable[..., tuple[CallMetrics, CollectorRegistry]],
) -> None:
    state = {"queued": 0.5, "late": 3, "reconnects": 2, "connected": True}
    live_streams = [snapshot(100, 95, 4.0), snapshot(50, 50, 12.0)]
    metrics, registry = make_metrics(ServiceReadings(
        stt_queued_audio_s=lambda: float(state["queued"]),
        pacer_ticks=lambda: 1000,
        pacer_late_ticks=lambda: int(state["late"]),
        pacer_skipped_ticks=lambda: 1,
        ari_connected=lambda: bool(state["connected"]),
        ari_reconnects=lambda: int(state["reconnects"]),
        rtp_streams=lambda: list(live_streams),
    ))
    s = scrape(registry)
    assert value(s, "callwright_stt_queued_audio_seconds") == 0.5
    assert value(s, "callwright_pacer_ticks_total") == 1000
    assert value(s, "callwright_pacer_late_ticks_total") == 3
    assert value(s, "callwright_pacer_skipped_ticks_total") == 1
    assert value(s, "callwright_ari_connected") == 1
    assert value(s, "callwright_ari_reconnects_total") == 2
    assert value(s, "callwright_rtp_streams") == 2
    assert value(s, "callwright_rtp_packets_expected_total") == 150
    assert value(s, "callwright_rtp_packets_lost_total") == 5
    assert value(s, "callwright_rtp_jitter_max_seconds") == pytest.approx(0.012)

    # A stream that closes leaves the live set; its packets stay in the totals (a counter never
    # goes back) and its jitter goes to the histogram.
    closed = live_streams.pop(0)
    metrics.rtp_stream_closed(closed)
    state.update(queued=0.0, late=4, connected=False)
    s = scrape(registry)
    assert value(s, "callwright_stt_queued_audio_seconds") == 0
    assert value(s, "callwright_pacer_late_ticks_total") == 4
    assert value(s, "callwright_ari_connected") == 0
    assert value(s, "callwright_rtp_streams") == 1
    assert value(s, "callwright_rtp_packets_expected_total") == 150
    assert value(s, "callwright_rtp_packets_lost_total") == 5
    assert value(s, "callwright_rtp_jitter_seconds_count") == 1
    assert value(s, "callwright_rtp_jitter_seconds_bucket", le="0.005") == 1


def test_recoveries_by_action_and_a_wrong_action_is_refused(
    make_metrics: Callable[..., tuple[CallMetrics, CollectorRegistry]],
) -> None:
    metrics, registry = make_metrics()
    metrics.recovery("resume")
    metrics.recovery("resume")
    metrics.recovery("dialplan")
    with pytest.raises(ValueError, match="recovery action"):
        metrics.recovery("reboot")
    s = scrape(registry)
    assert value(s, "callwright_recoveries_total", action="resume") == 2
    assert value(s, "callwright_recoveries_total", action="dialplan") == 1
    assert value(s, "callwright_recoveries_total", action="hangup") == 0
    assert ("callwright_recoveries_total", (("action", "reboot"),)) not in s


def test_loop_lag_samples_go_to_a_histogram(
    make_metrics: Callable[..., tuple[CallMetrics, CollectorRegistry]],
) -> None:
    metrics, registry = make_metrics()
    metrics.loop_lag(0.0004)
    metrics.loop_lag(0.2)
    metrics.loop_lag(-0.001)  # a clock quirk counts as no lag
    s = scrape(registry)
    assert value(s, "callwright_event_loop_lag_seconds_count") == 3
    assert value(s, "callwright_event_loop_lag_seconds_bucket", le="0.001") == 2
    assert value(s, "callwright_event_loop_lag_seconds_bucket", le="0.1") == 2
    assert value(s, "callwright_event_loop_lag_seconds_bucket", le="0.25") == 3


def test_a_broken_reader_leaves_out_its_metric_not_the_scrape(
    make_metrics: Callable[..., tuple[CallMetrics, CollectorRegistry]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken() -> int:
        raise RuntimeError("gone")

    _, registry = make_metrics(ServiceReadings(ari_reconnects=broken, calls_in_progress=lambda: 4))
    with caplog.at_level(logging.ERROR):
        s = scrape(registry)
    assert value(s, "callwright_calls_in_progress") == 4
    assert ("callwright_ari_reconnects_total", ()) not in s
    assert "reading the ARI connection failed" in caplog.text


def test_two_services_never_share_figures(
    make_metrics: Callable[..., tuple[CallMetrics, CollectorRegistry]],
) -> None:
    first, first_registry = make_metrics()
    _, second_registry = make_metrics()
    first.on_call_end("uid", "completed", "x")
    assert value(scrape(first_registry), "callwright_calls_total", status="completed") == 1
    assert value(scrape(second_registry), "callwright_calls_total", status="completed") == 0
