"""The call service's Prometheus metrics, as one :class:`CallMetrics` per service.

Pure bookkeeping, no I/O: the metrics live on the ``CollectorRegistry`` given to the constructor
(never ``prometheus_client``'s process-wide default registry, so two services, or two tests, never
share figures), and whoever serves ``/metrics`` renders that registry.

Two kinds of figures:

* **events**, counted as they happen through the hooks the engine already has: a call's end and
  each turn of the turn log (:meth:`CallMetrics.attach` subscribes to :class:`LiveCalls`), an RTP
  stream's final statistics (:meth:`CallMetrics.rtp_stream_closed`), a recovery
  (:meth:`CallMetrics.recovery`), an event-loop lag sample (:meth:`CallMetrics.loop_lag`);
* **state**, read at scrape time from the objects that already keep it (:class:`ServiceReadings`):
  calls in progress, audio waiting for speech recognition, the pacer clock's late ticks, the ARI
  connection and its reconnects, the live RTP streams. Nothing is incremented on a hot path for
  these, and a reader that fails is logged and its metric left out of that scrape.

Latency histograms are in seconds (Prometheus base units), turn latencies labelled by ``stage``:

======================  ========================================================================
``stt_final``           caller's end of turn detected → final transcript ready (``stt_ms``)
``dialog``              transcript ready → the dialog's first words (``dialog_ms``)
``tts``                 first words → their first audio ready (``tts_ms``)
``first_frame``         end of turn detected → first reply frame on the wire (``first_frame_ms``)
``heard_gap``           caller stopped speaking → first reply frame: the silence the caller hears,
                        endpointing included (``heard_gap_ms``)
======================  ========================================================================
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from callwright.call.journal import TurnRecord
from callwright.call.live import LiveCalls
from callwright.media.rtp_stats import RtpReceiveSnapshot

log = logging.getLogger(__name__)

#: Call statuses a call row ends with (pre-set to 0 so that each series exists from the start).
CALL_STATUSES = ("completed", "transferred", "failed", "abandoned", "rejected")
#: What a recovery did with a caller its process had lost (issue 11, ``on_recovery``).
RECOVERY_ACTIONS = ("resume", "dialplan", "hangup")
TURN_STAGES = ("stt_final", "dialog", "tts", "first_frame", "heard_gap")

LATENCY_BUCKETS = (0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0,
                   10.0)
LOOP_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
JITTER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32)


def _zero() -> int:
    return 0


def _false() -> bool:
    return False


def _no_streams() -> Iterable[RtpReceiveSnapshot]:
    return ()


@dataclass(frozen=True, slots=True)
class ServiceReadings:
    """Where the scrape-time figures come from. Each reader is a cheap read of state the service
    keeps anyway (no I/O, no waiting); the defaults read nothing (0)."""

    calls_in_progress: Callable[[], int] = _zero
    #: Audio queued for speech recognition and not decoded yet, in seconds, all streams together.
    stt_queued_audio_s: Callable[[], float] = _zero
    pacer_ticks: Callable[[], int] = _zero
    #: Pacer clock wake-ups later than its lateness threshold (``PacerClock.late_ticks``).
    pacer_late_ticks: Callable[[], int] = _zero
    pacer_skipped_ticks: Callable[[], int] = _zero
    ari_connected: Callable[[], bool] = _false
    ari_reconnects: Callable[[], int] = _zero
    #: The receive statistics of every RTP stream still open.
    rtp_streams: Callable[[], Iterable[RtpReceiveSnapshot]] = _no_streams


@dataclass(slots=True)
class RtpTotals:
    """Packet counts summed over RTP streams."""

    expected: int = 0
    received: int = 0
    lost: int = 0

    def add(self, snap: RtpReceiveSnapshot) -> None:
        self.expected += snap.expected
        self.received += snap.received
        self.lost += max(0, snap.lost)


class CallMetrics:
    """Every metric of one call service, registered on ``registry``. See the module docstring."""

    def __init__(
        self, registry: CollectorRegistry, readings: ServiceReadings | None = None
    ) -> None:
        self.registry = registry
        self.readings = readings if readings is not None else ServiceReadings()
        self.calls = Counter(
            "callwright_calls", "Calls ended, by the status their row was closed with.",
            ["status"], registry=registry,
        )
        for status in CALL_STATUSES:
            self.calls.labels(status)
        self.turn_latency = Histogram(
            "callwright_turn_latency_seconds",
            "Turn latency by stage (stt_final, dialog, tts, first_frame, heard_gap).",
            ["stage"], buckets=LATENCY_BUCKETS, registry=registry,
        )
        for stage in TURN_STAGES:
            self.turn_latency.labels(stage)
        self.loop_lag_seconds = Histogram(
            "callwright_event_loop_lag_seconds",
            "How late the event loop ran a timer callback (sampled).",
            buckets=LOOP_LAG_BUCKETS, registry=registry,
        )
        self.rtp_jitter = Histogram(
            "callwright_rtp_jitter_seconds",
            "Interarrival jitter (RFC 3550 A.8) of each inbound RTP stream when it closed.",
            buckets=JITTER_BUCKETS, registry=registry,
        )
        self.recoveries = Counter(
            "callwright_recoveries", "Callers a restarted or reconnected service found in its "
            "application with no session, by what was done (resume, dialplan, hangup).",
            ["action"], registry=registry,
        )
        for action in RECOVERY_ACTIONS:
            self.recoveries.labels(action)
        self._rtp_closed = RtpTotals()
        registry.register(_StateCollector(self))

    # -- events ----------------------------------------------------------------------------------

    def attach(self, live: LiveCalls) -> None:
        """Count every call's end and every turn of the turn log of the calls ``live`` sees."""
        live.turn_observers.append(self.on_turn)
        live.end_observers.append(self.on_call_end)

    def on_call_end(self, call_uid: str, status: str, reason: str) -> None:
        self.calls.labels(status).inc()

    def on_turn(self, call_uid: str, record: TurnRecord) -> None:
        """Observe the latencies the turn log carries (those it has: None is not measured)."""
        figures = (
            ("stt_final", record.stt_ms), ("dialog", record.dialog_ms), ("tts", record.tts_ms),
            ("first_frame", record.first_frame_ms), ("heard_gap", record.heard_gap_ms),
        )
        for stage, ms in figures:
            if ms is not None and ms >= 0:
                self.turn_latency.labels(stage).observe(ms / 1000.0)

    def recovery(self, action: str) -> None:
        """A caller left without a session was resumed, sent to the dialplan or hung up."""
        if action not in RECOVERY_ACTIONS:
            raise ValueError(f"recovery action must be one of {RECOVERY_ACTIONS}, got {action!r}")
        self.recoveries.labels(action).inc()

    def loop_lag(self, seconds: float) -> None:
        self.loop_lag_seconds.observe(max(0.0, seconds))

    def rtp_stream_closed(self, snapshot: RtpReceiveSnapshot) -> None:
        """An RTP stream ended: keep its packet counts in the totals, observe its jitter. The
        stream must no longer be among ``readings.rtp_streams`` (it would count twice)."""
        self._rtp_closed.add(snapshot)
        if snapshot.received:
            self.rtp_jitter.observe(snapshot.jitter_ms / 1000.0)

    # -- scrape-time state -----------------------------------------------------------------------

    def state_families(self) -> list[Metric]:
        """The metrics read from the service's state now (see :class:`ServiceReadings`)."""
        return state_families(self.readings, self._rtp_closed)


def state_families(readings: ServiceReadings, rtp_closed: RtpTotals) -> list[Metric]:
    """The scrape-time metrics from ``readings`` (and the totals of the RTP streams closed)."""
    r = readings
    families: list[Metric] = []
    families += _read("calls in progress", lambda: [_gauge(
        "callwright_calls_in_progress", "Calls in progress.", r.calls_in_progress())])
    families += _read("the STT queue", lambda: [_gauge(
        "callwright_stt_queued_audio_seconds",
        "Caller audio queued for speech recognition and not decoded yet (all calls).",
        r.stt_queued_audio_s())])
    families += _read("the pacer clock", lambda: [
        _counter("callwright_pacer_ticks", "Ticks of the 20 ms pacer clock.", r.pacer_ticks()),
        _counter("callwright_pacer_late_ticks",
                 "Pacer clock ticks that ran late (woken more than a quarter frame after due).",
                 r.pacer_late_ticks()),
        _counter("callwright_pacer_skipped_ticks",
                 "Pacer clock ticks skipped because the clock woke a whole frame late.",
                 r.pacer_skipped_ticks()),
    ])
    families += _read("the ARI connection", lambda: [
        _gauge("callwright_ari_connected", "1 while the ARI events WebSocket is connected.",
               1.0 if r.ari_connected() else 0.0),
        _counter("callwright_ari_reconnects",
                 "Reconnections of the ARI events WebSocket after a loss.", r.ari_reconnects()),
    ])
    families += _read("the RTP streams", lambda: _rtp_families(r, rtp_closed))
    return families


def _rtp_families(readings: ServiceReadings, closed: RtpTotals) -> list[Metric]:
    totals = RtpTotals(closed.expected, closed.received, closed.lost)
    worst = 0.0
    live = 0
    for snap in readings.rtp_streams():
        totals.add(snap)
        live += 1
        worst = max(worst, snap.jitter_ms / 1000.0)
    return [
        _gauge("callwright_rtp_streams", "Inbound RTP streams open.", live),
        _counter("callwright_rtp_packets_expected",
                 "Inbound RTP packets the sequence numbers say were sent.", totals.expected),
        _counter("callwright_rtp_packets_received",
                 "Inbound RTP packets received (duplicates excluded).", totals.received),
        _counter("callwright_rtp_packets_lost",
                 "Inbound RTP packets lost (expected - received).", totals.lost),
        _gauge("callwright_rtp_jitter_max_seconds",
               "The highest interarrival jitter among the open RTP streams.", worst),
    ]


def _gauge(name: str, doc: str, value: float) -> Metric:
    return GaugeMetricFamily(name, doc, value=float(value))


def _counter(name: str, doc: str, value: float) -> Metric:
    return CounterMetricFamily(name, doc, value=float(value))


def _read(what: str, build: Callable[[], list[Metric]]) -> list[Metric]:
    try:
        return build()
    except Exception:  # a broken reader must not break the whole scrape
        log.exception("metrics: reading %s failed; left out of this scrape", what)
        return []


class _StateCollector:
    """Yields :meth:`CallMetrics.state_families` on each scrape."""

    def __init__(self, metrics: CallMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> list[Metric]:
        return self._metrics.state_families()

    def describe(self) -> list[Metric]:
        # The names for the registry's duplicate check, without reading the service's state.
        return state_families(ServiceReadings(), RtpTotals())
