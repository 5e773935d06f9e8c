"""The ExternalMedia RTP transport: one UDP socket per call, talking RTP with Asterisk.

Set-up, in the order a call uses it::

    transport = RtpTransport(MediaFormat("ulaw", 8000), bind_host=..., port_range=...)
    await transport.open()                     # binds; advertise_address is now known
    # POST /channels/externalMedia?external_host=<transport.advertise_address>&format=ulaw
    transport.set_remote(vars["UNICASTRTP_LOCAL_ADDRESS"], vars["UNICASTRTP_LOCAL_PORT"])
    await transport.start(on_frame, on_closed)  # the greeting can be sent right away

Receiving: every datagram is parsed (garbage is counted and dropped, nothing raises out of the
handler), counted in :class:`RtpReceiveStats`, decoded to PCM16 LE and pushed into a
:class:`JitterBuffer`, which plays out one frame every ``frame_ms``. Asterisk sends RTP only while
the caller side produces audio (simple bridge), so when the stream stops, frames stop: a lost packet
inside the stream is delivered as a frame of silence, a pause is not filled. Every delivered frame
is exactly ``format.pcm_frame_bytes`` long (Asterisk's short last frame of a file is padded with
silence).

With the process-wide :class:`PacerClock` (``ticker``, what the call service uses), the transport
does everything on the clock's 20 ms ticks, after every call's outbound frame has been sent: it
reads the datagrams that arrived since the last tick straight from its socket (kernel receive
timestamps, SO_TIMESTAMPNS, keep the jitter statistics exact), then plays out one frame. No
event-loop callback per packet: at a few hundred calls that per-packet overhead was the largest
single cost, and the packets it handled early only waited in the jitter buffer for the tick anyway.
Without a ticker, an asyncio datagram endpoint pushes each packet on arrival and a timer per call
(started by the first packet, stopped once the buffer has been empty for ``idle_stop_ms``) plays
out.

Sending: :meth:`send_frame` encodes with the channel codec and sends one packet right away, to the
address given to :meth:`set_remote` (Asterisk accepts RTP before it has sent any), or else to the
source of the first valid packet received (symmetric RTP). After a pause in sending of more than
``SEND_GAP_S`` the RTP timestamp jumps over the pause and the packet carries the marker bit, as for
a new talkspurt.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import socket
import time
from collections.abc import Callable

from ari_app.transports.rtp_transport_stats import RtpTransportStats
from ari_app.transports.udp_socket import (
    ANCILLARY_SPACE,
    MAX_DATAGRAM,
    Address,
    bind_udp,
    enable_kernel_timestamps,
    format_address,
    kernel_time,
    peer_address,
)
from callwright.errors import ConfigError, MediaError, ProtocolError
from callwright.media.codecs import (
    Codec,
    check_rtp_send_format,
    codec_for,
    codec_for_payload_type,
)
from callwright.media.jitter import JitterBuffer, PlayoutKind
from callwright.media.pacer import ClockRegistration, PacerClock
from callwright.media.rtp import RtpSender, parse_plain_rtp, parse_rtp
from callwright.media.rtp_stats import RtpReceiveStats
from callwright.media.transport import FrameSink, MediaFormat

log = logging.getLogger(__name__)

#: A pause in sending longer than this starts a new talkspurt (timestamp jump, marker bit).
SEND_GAP_S = 0.1
_WILDCARDS = ("0.0.0.0", "::", "")
_MAX_LOGGED_SOURCES = 32
#: Clock mode: datagrams read per call per 20 ms tick at most (one is the norm).
MAX_PACKETS_PER_TICK = 64


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, owner: RtpTransport) -> None:
        self._owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        try:
            self._owner._on_datagram(data, peer_address(addr))
        except Exception:  # nothing a peer sends may break the call
            log.exception("unexpected failure handling a datagram")

    def error_received(self, exc: Exception) -> None:
        self._owner._on_socket_error(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._on_connection_lost(exc)


class RtpTransport:
    """MediaTransport for Asterisk ExternalMedia with ``encapsulation=rtp``, ``transport=udp``."""

    def __init__(
        self,
        fmt: MediaFormat,
        *,
        bind_host: str = "127.0.0.1",
        port_range: tuple[int, int] = (30000, 30999),
        advertise_host: str | None = None,
        jitter_depth_frames: int = 2,
        jitter_max_frames: int = 50,
        idle_stop_ms: int = 200,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        ticker: PacerClock | None = None,
    ) -> None:
        check_rtp_send_format(fmt.codec)
        codec = codec_for(fmt.codec)
        if fmt.sample_rate != codec.sample_rate:
            raise ConfigError(
                "media.sample_rate",
                f"{codec.sample_rate} for {fmt.codec} over RTP",
                fmt.sample_rate,
            )
        if fmt.frame_ms <= 0:
            raise ConfigError("media.frame_ms", "a positive number of milliseconds", fmt.frame_ms)
        low, high = port_range
        if not (0 <= low <= high <= 65535) or (low == 0 and high != 0):
            raise ConfigError(
                "media.rtp.port_range", "1 <= low <= high <= 65535, or (0, 0)", port_range
            )
        try:
            ipaddress.ip_address(bind_host)
        except ValueError:
            raise ConfigError("media.rtp.bind_host", "an IP address", bind_host) from None
        if (advertise_host or bind_host) in _WILDCARDS:
            raise ConfigError(
                "media.rtp.advertise_host",
                "the address Asterisk should send to (not a wildcard like 0.0.0.0)",
                advertise_host,
            )
        self.format = fmt
        self.codec = codec
        self._bind_host = bind_host
        self._port_range = port_range
        self._advertise_host = advertise_host or bind_host
        self._rng = rng if rng is not None else random.SystemRandom()
        self._clock = clock
        self._frame_s = fmt.frame_ms / 1000.0
        self._idle_stop_ticks = max(1, round(idle_stop_ms / fmt.frame_ms))
        self._silence = bytes(fmt.pcm_frame_bytes)
        assert codec.payload_type is not None  # every RTP send format has a static PT
        self._sender = RtpSender(codec.payload_type, rng=self._rng)
        self._stats = RtpReceiveStats(clock_rate=codec.sample_rate)
        self._jitter = JitterBuffer(
            fmt.samples_per_frame, depth_frames=jitter_depth_frames, max_frames=jitter_max_frames
        )
        self._transport: asyncio.DatagramTransport | None = None
        self._sock: socket.socket | None = None
        self._kernel_times = False
        self._rx_codecs: dict[int, Codec | None] = {}  # payload type -> codec, None: not ours
        self._local: Address | None = None
        self._remote: Address | None = None
        self._remote_learned = False
        self._foreign_sources: set[Address] = set()
        self._on_frame: FrameSink | None = None
        self._on_arrival: FrameSink | None = None
        self._on_closed: Callable[[str], None] | None = None
        self._closed = False
        self._timer: asyncio.TimerHandle | None = None
        # With a shared ticker the playout rides the process-wide 20 ms clock (one callback for
        # every call) instead of a timer per call; ``_streaming`` says whether to play out.
        self._ticker = ticker
        self._ticker_reg: ClockRegistration | None = None
        self._streaming = False
        self._deadline = 0.0
        self._idle_ticks = 0
        self._last_send: float | None = None
        # The last frame encoded and its payload: the pacer sends one silence frame object
        # whenever the assistant is quiet, encoded once rather than 50 times a second per call.
        self._encoded: tuple[bytes, bytes] | None = None
        self._logged_pts: set[int] = set()
        self.packets_received = 0
        self.garbage = 0
        self.unsupported_payload = 0
        self.frames_delivered = 0
        self.silence_frames = 0
        self.socket_errors = 0
        self.send_without_remote = 0

    def set_arrival_sink(self, sink: FrameSink | None) -> None:
        """Every decoded inbound frame also goes to ``sink`` as it arrives, before the jitter
        buffer holds it (:class:`~callwright.media.transport.ArrivingFrames`)."""
        self._on_arrival = sink

    @property
    def jitter_depth_frames(self) -> int:
        """Frames of inbound audio held before playout (the jitter buffer's added delay)."""
        return self._jitter.depth_frames

    @property
    def local_address(self) -> Address:
        if self._local is None:
            raise MediaError("the RTP transport is not open yet")
        return self._local

    @property
    def advertise_address(self) -> str:
        """``host:port`` to pass to Asterisk as ``external_host``."""
        return format_address(self._advertise_host, self.local_address[1])

    @property
    def remote_address(self) -> Address | None:
        return self._remote

    def set_remote(self, host: str, port: int | str) -> None:
        """Send to ``host:port`` (Asterisk's UNICASTRTP_LOCAL_ADDRESS/PORT; strings accepted)."""
        try:
            address = ipaddress.ip_address(host)
            number = int(port)
        except ValueError:
            raise MediaError(f"invalid RTP remote address {host!r}:{port!r}") from None
        if not 0 < number < 65536:
            raise MediaError(f"invalid RTP remote port {port!r}")
        local = self._local
        if local is not None and address.version != ipaddress.ip_address(local[0]).version:
            raise MediaError(f"cannot send to {host} from a socket bound to {local[0]}")
        self._remote = (str(address), number)
        self._remote_learned = False

    async def open(self) -> None:
        """Bind the UDP socket (the first free port of the range). Safe to call twice."""
        if self._closed:
            raise MediaError("the RTP transport is closed")
        if self._sock is not None:
            return
        sock = bind_udp(self._bind_host, self._port_range, self._rng)
        if self._ticker is None:
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sock)
            self._transport = transport
        else:
            # Read on the clock's ticks (see _drain), not on each packet's readiness.
            self._kernel_times = self._clock is time.monotonic and enable_kernel_timestamps(sock)
        self._sock = sock
        host, port = sock.getsockname()[:2]
        self._local = (str(host), int(port))
        log.debug("RTP transport bound to %s", format_address(*self._local))

    async def start(self, on_frame: FrameSink, on_closed: Callable[[str], None]) -> None:
        """Start delivering inbound frames (binds first if :meth:`open` was not called)."""
        await self.open()
        self._on_frame = on_frame
        self._on_closed = on_closed
        if self._ticker is not None:
            self._ticker_reg = self._ticker.register(on_tick=self._on_clock_tick)
            self._streaming = bool(len(self._jitter))
        elif len(self._jitter):
            self._start_timer()

    async def close(self) -> None:
        """Stop the timer and release the socket. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._ticker is not None and self._ticker_reg is not None:
            self._ticker.unregister(self._ticker_reg)
            self._ticker_reg = None
        if self._transport is not None:
            self._transport.close()  # closes the socket too
        elif self._sock is not None:
            self._sock.close()
        self._on_frame = None
        self._on_arrival = None

    def _drain(self) -> None:
        """Read what arrived since the last tick (clock mode): at most ``MAX_PACKETS_PER_TICK``,
        so a flood cannot stall the clock (the kernel drops what its buffer cannot hold)."""
        sock = self._sock
        if sock is None:
            return
        offset: float | None = None
        for _ in range(MAX_PACKETS_PER_TICK):
            try:
                data, ancdata, _flags, addr = sock.recvmsg(MAX_DATAGRAM, ANCILLARY_SPACE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # an ICMP error reported on the socket, ...
                self._on_socket_error(exc)
                return
            arrival: float | None = None
            if ancdata and self._kernel_times:
                if offset is None:  # kernel stamps are CLOCK_REALTIME; the stats use monotonic
                    offset = time.time() - self._clock()
                arrival = kernel_time(ancdata, offset)
            try:
                self._on_datagram(data, peer_address(addr), arrival)
            except Exception:  # nothing a peer sends may break the call
                log.exception("unexpected failure handling a datagram")

    def _on_datagram(self, data: bytes, source: Address, arrival: float | None = None) -> None:
        """One datagram from ``source``; ``arrival`` is its monotonic arrival time (now if None)."""
        if self._closed:
            return
        fields = parse_plain_rtp(data)
        if fields is None:  # padding, CSRCs, an extension, or not RTP at all
            try:
                packet = parse_rtp(data)
            except ProtocolError as exc:
                self.garbage += 1
                log.debug("dropped a datagram from %s: %s", format_address(*source), exc)
                return
            fields = (packet.payload_type, packet.sequence, packet.timestamp, packet.ssrc,
                      packet.payload)
        payload_type, sequence, timestamp, ssrc, payload = fields
        try:
            codec = self._rx_codecs[payload_type]
        except KeyError:  # first packet of this payload type
            codec = self._rx_codecs[payload_type] = self._receive_codec(payload_type)
        if codec is None:
            self.unsupported_payload += 1
            if payload_type not in self._logged_pts:
                self._logged_pts.add(payload_type)
                log.info("ignoring RTP payload type %d from %s", payload_type,
                         format_address(*source))
            return
        try:
            pcm = codec.decode(payload)
        except (ProtocolError, MediaError) as exc:
            self.garbage += 1
            log.debug("dropped a datagram from %s: %s", format_address(*source), exc)
            return
        self.packets_received += 1
        if source != self._remote:
            self._note_source(source)
        self._stats.update_fields(
            sequence, timestamp, ssrc, self._clock() if arrival is None else arrival
        )
        if self._on_arrival is not None and len(pcm) == self.format.pcm_frame_bytes:
            try:
                self._on_arrival(pcm)  # before the jitter buffer's wait (see ArrivingFrames)
            except Exception:
                log.exception("the RTP arrival callback failed")
        self._jitter.push_frame(sequence, pcm, timestamp=timestamp, ssrc=ssrc)
        self._idle_ticks = 0
        if self._ticker is not None:
            self._streaming = True
        elif self._on_frame is not None and self._timer is None:
            self._start_timer()

    def _receive_codec(self, payload_type: int) -> Codec | None:
        """The codec for an incoming payload type at our sample rate, or None (not ours)."""
        codec = codec_for_payload_type(payload_type)
        if codec is None or codec.sample_rate != self.format.sample_rate:
            return None
        return codec

    def _note_source(self, source: Address) -> None:
        if self._remote is None:
            self._remote = source
            self._remote_learned = True
            log.info("RTP remote learned from the first packet: %s", format_address(*source))
            return
        if source == self._remote:
            return
        first_time = source not in self._foreign_sources
        if first_time and len(self._foreign_sources) < _MAX_LOGGED_SOURCES:
            self._foreign_sources.add(source)
        if self._remote_learned:
            if first_time:
                log.warning("RTP source moved from %s to %s; sending there now",
                            format_address(*self._remote), format_address(*source))
            self._remote = source  # symmetric RTP follows the peer
        elif first_time:
            log.warning("RTP arrives from %s but we send to %s (set_remote)",
                        format_address(*source), format_address(*self._remote))

    def _start_timer(self) -> None:
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + self._frame_s
        self._timer = loop.call_at(self._deadline, self._tick)

    def _on_clock_tick(self, index: int, now: float) -> None:
        if self._closed:
            return
        self._drain()
        if self._streaming:
            self._streaming = self._play_one()

    def _play_one(self) -> bool:
        """Play out one frame; False once the stream has stopped (buffer empty for a while)."""
        playout = self._jitter.tick()
        if playout.kind is PlayoutKind.FRAME and playout.payload is not None:
            self._idle_ticks = 0
            self._deliver(playout.payload)
        elif playout.kind is PlayoutKind.LOST:
            self._idle_ticks = 0
            self.silence_frames += 1
            self._deliver(self._silence)
        else:
            self._idle_ticks += 1
            if not len(self._jitter) and self._idle_ticks >= self._idle_stop_ticks:
                return False  # the stream stopped; the next packet restarts the playout
        return True

    def _tick(self) -> None:
        self._timer = None
        if self._closed or not self._play_one():
            return
        loop = asyncio.get_running_loop()
        self._deadline += self._frame_s
        now = loop.time()
        if self._deadline < now - self._frame_s * self._jitter.max_frames:
            self._deadline = now  # far behind (the loop was blocked): do not replay the backlog
        self._timer = loop.call_at(self._deadline, self._tick)

    def _deliver(self, pcm: bytes) -> None:
        size = self.format.pcm_frame_bytes
        if len(pcm) == size:  # the usual case: one packet, one frame
            self._deliver_frame(pcm)
            return
        for start in range(0, max(len(pcm), 1), size):
            frame = pcm[start:start + size]
            if len(frame) < size:
                frame += bytes(size - len(frame))
            if not self._deliver_frame(frame):
                return

    def _deliver_frame(self, frame: bytes) -> bool:
        """Hand one whole frame to the sink; False when there is no sink (closed)."""
        sink = self._on_frame
        if sink is None:
            return False
        self.frames_delivered += 1
        try:
            sink(frame)
        except Exception:
            log.exception("the RTP frame callback failed")
        return True

    def send_frame(self, pcm: bytes, *, marker: bool = False) -> None:
        """Encode one frame of PCM16 LE and send it as one RTP packet.

        Raises MediaError when the transport is closed or not open, or ``pcm`` has an odd length.
        Frames sent before any remote address is known are dropped (and counted).
        """
        if self._closed:
            raise MediaError("the RTP transport is closed")
        sock = self._sock
        if sock is None:
            raise MediaError("the RTP transport is not open")
        encoded = self._encoded
        if encoded is not None and encoded[0] is pcm:
            payload = encoded[1]
        else:
            payload = self.codec.encode(pcm)
            if type(pcm) is bytes:  # immutable: the same object is the same audio
                self._encoded = (pcm, payload)
        if self._remote is None:
            self.send_without_remote += 1
            if self.send_without_remote == 1:
                log.warning("RTP frame dropped: no remote address yet (call set_remote)")
            return
        now = self._clock()
        if self._last_send is not None and now - self._last_send > SEND_GAP_S:
            skipped = round((now - self._last_send) / self._frame_s) - 1
            self._sender.skip(skipped * self.format.samples_per_frame)
            marker = True
        self._last_send = now
        data = self._sender.packet(payload, len(pcm) // 2, marker)
        try:
            # Straight to our own non-blocking socket: a frame that cannot go now is dropped
            # (counted), never queued behind by asyncio's write buffer to arrive late.
            sock.sendto(data, self._remote)
        except OSError as exc:  # BlockingIOError (buffer full), ICMP errors, ...
            self._on_socket_error(exc)

    def _on_socket_error(self, exc: Exception) -> None:
        self.socket_errors += 1
        if self.socket_errors == 1 or self.socket_errors % 500 == 0:
            log.warning("RTP socket error (%d so far): %s", self.socket_errors, exc)

    def _on_connection_lost(self, exc: Exception | None) -> None:
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._ticker is not None and self._ticker_reg is not None:
            self._ticker.unregister(self._ticker_reg)
            self._ticker_reg = None
        callback = self._on_closed
        self._on_frame = None
        self._on_arrival = None
        if callback is not None:
            callback(f"RTP socket closed: {exc}" if exc else "RTP socket closed")

    def stats(self) -> RtpTransportStats:
        jb = self._jitter
        return RtpTransportStats(
            receive=self._stats.snapshot(),
            packets_received=self.packets_received,
            garbage=self.garbage,
            unsupported_payload=self.unsupported_payload,
            frames_delivered=self.frames_delivered,
            silence_frames=self.silence_frames,
            lost=jb.lost,
            late=jb.late,
            duplicates=jb.duplicates,
            overflow=jb.overflow,
            packets_sent=self._sender.packets_sent,
            octets_sent=self._sender.octets_sent,
            socket_errors=self.socket_errors,
            send_without_remote=self.send_without_remote,
            remote=None if self._remote is None else format_address(*self._remote),
        )
