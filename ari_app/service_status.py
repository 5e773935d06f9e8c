"""The call service's health, readiness and metrics, wired to the service's own objects, and the
status listener that serves them (:mod:`ari_app.status_server`).

:class:`ServiceStatus` is built by :class:`~ari_app.service.CallService` with what it owns (the
live calls, the pacer clock, the speech engines, and getters for the store and the ARI events
stream, which exist only once ``start()`` has made them). It keeps a
:class:`~callwright.observability.metrics.CallMetrics` on a registry of its own, samples the
event-loop lag, follows the RTP streams of the media legs the service creates
(:meth:`ServiceStatus.track_leg`) and, when ``[server] status_port`` is set, serves
``/healthz``, ``/readyz`` and ``/metrics``.

Readiness probes: ``ari`` (the events WebSocket is connected; with a ``[[pbx]]`` list, one probe
``ari:<name>`` per PBX, so ``/readyz`` says which Asterisk is unreachable), ``store`` (the store
is open, its disk has room and its write lock can be taken), ``models`` (the default speech
recognition model is loaded), ``draining`` (the service is not draining or stopping: once it is,
new callers go back to the dialplan, so a load balancer or an upgrade script must not count on
it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from prometheus_client import CollectorRegistry

from ari_app.ari.connection import AriEventStream
from ari_app.ari.models import Channel
from ari_app.ari.rest import AriRestClient
from ari_app.media_leg import MediaLeg
from ari_app.status_server import StatusServer
from ari_app.transports.rtp import RtpTransport
from callwright.call.live import LiveCalls
from callwright.config import DEFAULT_PBX, ServerSettings
from callwright.errors import StoreError
from callwright.media.pacer import PacerClock
from callwright.media.rtp_stats import RtpReceiveSnapshot
from callwright.media.transport import MediaTransport
from callwright.observability.health import Probe, Readiness
from callwright.observability.loop_lag import LoopLagSampler
from callwright.observability.metrics import CallMetrics, ServiceReadings
from callwright.speech.registry import SpeechEngines
from callwright.speech.vosk_stt import VoskSttEngine
from callwright.store.db import Database


def ari_probes(
    pbx_events: Mapping[str, Callable[[], AriEventStream | None]]
) -> dict[str, Probe]:
    """A readiness probe per PBX, on its events WebSocket: ``ari`` for the one PBX of the
    ``[ari]`` section, ``ari:<name>`` for each ``[[pbx]]`` entry."""
    if list(pbx_events) == [DEFAULT_PBX]:
        return {"ari": _ari_probe(pbx_events[DEFAULT_PBX])}
    return {f"ari:{name}": _ari_probe(events) for name, events in pbx_events.items()}


def _ari_probe(events: Callable[[], AriEventStream | None]) -> Probe:
    async def ari_ready() -> str | None:
        stream = events()
        if stream is None:
            return "not connected yet (the service is starting)"
        if stream.connected:
            return None
        if stream.failure is not None:
            return f"gave up: {stream.failure}"
        return f"events WebSocket down ({stream.last_disconnect_reason or 'connecting'})"
    return ari_ready


class RtpStreams:
    """The RTP transports of the media legs in use; each one's figures go to ``on_closed`` when
    its leg closes."""

    def __init__(self, on_closed: Callable[[RtpReceiveSnapshot], None]) -> None:
        self._open: set[RtpTransport] = set()
        self._on_closed = on_closed

    def __len__(self) -> int:
        return len(self._open)

    def snapshots(self) -> list[RtpReceiveSnapshot]:
        return [transport.stats().receive for transport in self._open]

    def track(self, leg: MediaLeg) -> MediaLeg:
        """``leg`` itself, or (RTP) a leg that reports its stream's figures when it closes."""
        transport = leg.transport
        if not isinstance(transport, RtpTransport):
            return leg
        self._open.add(transport)
        return _TrackedLeg(leg, transport, self._closed)

    def _closed(self, transport: RtpTransport) -> None:
        if transport in self._open:
            self._open.discard(transport)
            self._on_closed(transport.stats().receive)


class _TrackedLeg:
    def __init__(
        self, leg: MediaLeg, transport: RtpTransport, closed: Callable[[RtpTransport], None]
    ) -> None:
        self._leg = leg
        self._transport = transport
        self._closed = closed

    @property
    def transport(self) -> MediaTransport:
        return self._leg.transport

    async def create_channel(self, rest: AriRestClient, app: str, channel_id: str) -> Channel:
        return await self._leg.create_channel(rest, app, channel_id)

    async def close(self) -> None:
        try:
            await self._leg.close()
        finally:
            self._closed(self._transport)


class ServiceStatus:
    """See the module docstring. ``start()`` before taking calls, ``stop()`` last."""

    def __init__(
        self,
        settings: ServerSettings,
        *,
        live: LiveCalls,
        clock: PacerClock,
        speech: SpeechEngines,
        events: Callable[[], AriEventStream | None],
        db: Callable[[], Database | None],
        draining: Callable[[], bool],
        registry: CollectorRegistry | None = None,
        readiness_timeout_s: float = 2.0,
        pbx_events: Mapping[str, Callable[[], AriEventStream | None]] | None = None,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._speech = speech
        self._db = db
        self._draining = draining
        self.metrics = CallMetrics(self.registry)
        self.rtp = RtpStreams(self.metrics.rtp_stream_closed)
        self.metrics.readings = ServiceReadings(
            calls_in_progress=lambda: len(live.calls),
            stt_queued_audio_s=self._stt_queued_audio_s,
            pacer_ticks=lambda: clock.ticks,
            pacer_late_ticks=lambda: clock.late_ticks,
            pacer_skipped_ticks=lambda: clock.skipped_ticks,
            ari_connected=lambda: (stream := events()) is not None and stream.connected,
            ari_reconnects=lambda: 0 if (stream := events()) is None else stream.reconnects,
            rtp_streams=self.rtp.snapshots,
        )
        self.metrics.attach(live)
        probes: dict[str, Probe] = {
            **ari_probes(pbx_events or {DEFAULT_PBX: events}), "store": self._store_ready,
            "models": self._models_ready, "draining": self._not_draining,
        }
        self.readiness = Readiness(probes, timeout_s=readiness_timeout_s)
        self.loop_lag = LoopLagSampler(self.metrics.loop_lag)
        self.server: StatusServer | None = None
        if settings.status_port:
            self.server = StatusServer(self.readiness, self.registry,
                                       host=settings.status_host, port=settings.status_port)

    def track_leg(self, leg: MediaLeg) -> MediaLeg:
        return self.rtp.track(leg)

    async def start(self) -> None:
        """Start the loop-lag sampler and the listener (ConfigError if its port is taken)."""
        self.loop_lag.start()
        if self.server is not None:
            try:
                await self.server.start()
            except BaseException:
                await self.loop_lag.stop()
                raise

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
        await self.readiness.close()
        await self.loop_lag.stop()

    # -- readings and probes ---------------------------------------------------------------------

    def _stt_queued_audio_s(self) -> float:
        # Vosk queues audio in the process; the other engines hand it on at once (a worker
        # process's pipe, an HTTP upload) and report nothing.
        engines = self._speech.stt_engines()
        return sum(e.queued_audio_s for e in engines if isinstance(e, VoskSttEngine))


    async def _store_ready(self) -> str | None:
        db = self._db()
        if db is None:
            return "not open yet (the service is starting)"
        try:
            await db.check_writable()
        except StoreError as exc:
            return str(exc)
        return None

    async def _not_draining(self) -> str | None:
        if self._draining():
            return "draining: new calls go back to the dialplan, calls in progress are ending"
        return None

    async def _models_ready(self) -> str | None:
        if not self._speech.stt_engines():
            return "the speech recognition model is not loaded yet"
        return None
