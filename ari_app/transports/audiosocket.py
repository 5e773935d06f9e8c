"""AudioSocket media: one :class:`AudioSocketTransport` per call, on a connection accepted by the
process's :class:`~ari_app.transports.audiosocket_server.AudioSocketServer`.

Asterisk is the TCP *client*. For ExternalMedia (``encapsulation=audiosocket``, ``data=<uuid>``) it
connects before the HTTP request returns and sends the UUID frame first; the AudioSocket() dialplan
application does the same with the UUID of its first argument. So a call registers the UUID it is
about to ask for (``server.expect``), then asks, then waits for the connection
(:meth:`AudioSocketTransport.wait_connected`)::

    server = AudioSocketServer("127.0.0.1", 9092)
    await server.start()
    transport = server.expect(call_uuid, MediaFormat("slin16", 16000))
    # POST /channels/externalMedia?external_host=<server.external_host>&data=<call_uuid>
    #      &format=slin16&encapsulation=audiosocket&transport=tcp
    await transport.wait_connected(2.0)
    await transport.start(on_frame, on_closed)

What Asterisk does, and so what the transport must do (asterisk-facts/media.md section 2): audio is
0x10 (slin 8 kHz) or 0x12 (slin16) little-endian, and both are accepted back; a hang-up, error or
DTMF frame sent to Asterisk, or a TCP close, destroys the channel at once, so the transport sends
only audio unless asked to :meth:`~AudioSocketTransport.hang_up`; if no frame moves for 2 s,
Asterisk hangs up, so the transport sends a frame of silence whenever nothing was sent for
``keepalive_s`` (the pipeline's pacer normally sends one every 20 ms). Asterisk never sends a
hang-up frame: the end of a call is the end of the TCP stream (EOF, a half-close or a reset), which
is reported once through ``on_closed``. Garbage is counted and skipped; a stream that keeps
producing nothing but garbage is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from callwright.errors import MediaError, ProtocolError
from callwright.media import audiosocket as wire
from callwright.media.codecs import SLIN16_LE, Codec, codec_for
from callwright.media.resample import Resampler
from callwright.media.transport import FrameSink, MediaFormat

log = logging.getLogger(__name__)

#: Asterisk hangs up after 2000 ms with no frame either way; stay well inside it.
KEEPALIVE_S = 0.5
#: Bytes queued in the socket beyond which outbound frames are dropped (1 s of slin16).
MAX_WRITE_BUFFER = 32_000
#: This many bad frames in a row and the stream is considered unusable.
MAX_GARBAGE_RUN = 50
READ_CHUNK = 65_536
FORMATS = ("slin", "slin16", "ulaw", "alaw")


@dataclass(frozen=True, slots=True)
class AudioSocketStats:
    frames_received: int
    audio_frames: int
    frames_delivered: int
    dropped_before_start: int
    resampled_frames: int
    dtmf: int
    garbage: int
    unknown_kinds: int
    frames_sent: int
    keepalives: int
    send_dropped: int


class AudioSocketTransport:
    """MediaTransport over one AudioSocket TCP connection (PCM16 LE at 8 or 16 kHz)."""

    def __init__(
        self,
        fmt: MediaFormat,
        call_uuid: uuid.UUID | None = None,
        *,
        keepalive_s: float = KEEPALIVE_S,
        max_write_buffer: int = MAX_WRITE_BUFFER,
    ) -> None:
        if fmt.codec not in FORMATS:
            raise MediaError(f"AudioSocket cannot carry {fmt.codec!r}")
        self._out_kind = wire.audio_kind(fmt.sample_rate)
        if fmt.frame_ms != 20:
            raise MediaError("AudioSocket frames are 20 ms")
        self.format = fmt
        self.call_uuid = call_uuid
        #: Called with each digit the caller presses (0x03 frames). ARI calls get the same digits
        #: as ChannelDtmfReceived, so sessions there leave this unset.
        self.on_dtmf: Callable[[str], None] | None = None
        self._keepalive_s = keepalive_s
        self._max_write_buffer = max_write_buffer
        # A 0x10 frame is µ-law/A-law on such a channel, slin 8 kHz otherwise; 0x12 is slin16.
        self._codec8: Codec = codec_for(fmt.codec if fmt.sample_rate == 8000 else "slin",
                                        endian="little")
        self._resamplers: dict[int, Resampler] = {}
        self._silence = bytes(fmt.pcm_frame_bytes)
        self._pending = b""
        self._parser = wire.AudioSocketParser()
        self._connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._read_task: asyncio.Task[None] | None = None
        self._keepalive: asyncio.TimerHandle | None = None
        self._last_send = 0.0
        self._on_frame: FrameSink | None = None
        self._on_closed: Callable[[str], None] | None = None
        self._ended_reason: str | None = None
        self._closed = False
        self._garbage_run = 0
        self.peer: str | None = None
        self.frames_received = 0
        self.audio_frames = 0
        self.frames_delivered = 0
        self.dropped_before_start = 0
        self.resampled_frames = 0
        self.dtmf = 0
        self.garbage = 0
        self.unknown_kinds = 0
        self.frames_sent = 0
        self.keepalives = 0
        self.send_dropped = 0

    # -- connection ------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._writer is not None

    @property
    def ended_reason(self) -> str | None:
        """Why the stream ended (None while it is up)."""
        return self._ended_reason

    async def wait_connected(self, timeout_s: float) -> None:
        """Wait for Asterisk's connection. MediaError on timeout, or if it was closed first."""
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.shield(self._connected)
        except TimeoutError:
            raise MediaError(
                f"no AudioSocket connection for {self.call_uuid} within {timeout_s} s"
            ) from None

    def attach(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
        parser: wire.AudioSocketParser,
    ) -> None:
        """Take over a connection whose UUID frame was read (``parser`` holds what followed)."""
        if self._closed or self._writer is not None:
            raise MediaError("this AudioSocket transport already has a connection")
        self._reader, self._writer, self._parser = reader, writer, parser
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else None
        loop = asyncio.get_running_loop()
        self._last_send = loop.time()
        self._keepalive = loop.call_later(self._keepalive_s, self._keep_alive)
        self._read_task = loop.create_task(self._read(), name=f"audiosocket-{self.call_uuid}")
        if not self._connected.done():
            self._connected.set_result(None)

    def _fail_waiters(self, reason: str) -> None:
        if not self._connected.done():
            self._connected.set_exception(MediaError(f"AudioSocket {self.call_uuid}: {reason}"))
            self._connected.exception()  # retrieved: nobody may be waiting

    # -- MediaTransport --------------------------------------------------------------------------

    async def start(self, on_frame: FrameSink, on_closed: Callable[[str], None]) -> None:
        """Deliver frames from now on. If the stream already ended, ``on_closed`` runs at once."""
        if self._closed and self._ended_reason is None:
            raise MediaError("the AudioSocket transport is closed")
        self._on_frame = on_frame
        self._on_closed = on_closed
        if self._ended_reason is not None:
            self._report_closed()

    def send_frame(self, pcm: bytes) -> None:
        """Send one frame of PCM16 LE at the format's rate as a 0x10/0x12 frame.

        Frames are dropped (and counted) before the connection, after it ended, and while the
        socket's send buffer is over ``max_write_buffer`` (a peer that stopped reading)."""
        if len(pcm) % 2:
            raise MediaError(f"PCM16 audio must have an even number of bytes, got {len(pcm)}")
        writer = self._writer
        if writer is None or self._ended_reason is not None or writer.is_closing():
            self.send_dropped += 1
            return
        if writer.transport.get_write_buffer_size() > self._max_write_buffer:
            self.send_dropped += 1
            if self.send_dropped % 250 == 1:
                log.warning("AudioSocket %s: the peer is not reading; %d frames dropped",
                            self.call_uuid, self.send_dropped)
            return
        for start in range(0, max(len(pcm), 1), wire.MAX_PAYLOAD - 1):
            writer.write(wire.build_frame(self._out_kind, pcm[start:start + wire.MAX_PAYLOAD - 1]))
        self.frames_sent += 1
        self._last_send = asyncio.get_running_loop().time()

    async def close(self) -> None:
        """Close the socket (no frame: Asterisk tears the channel down). Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._on_frame = None
        self._fail_waiters("closed before Asterisk connected")
        self._stop_timers()
        task = self._read_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._close_socket()

    async def hang_up(self) -> None:
        """End the call on purpose: a hang-up frame, then close (Asterisk destroys the channel)."""
        writer = self._writer
        if writer is not None and not writer.is_closing() and self._ended_reason is None:
            writer.write(wire.hangup_frame())
            with contextlib.suppress(ConnectionError, OSError):
                await writer.drain()
        await self.close()

    # -- receiving -------------------------------------------------------------------------------

    async def _read(self) -> None:
        assert self._reader is not None
        reason = "peer closed the connection"
        try:
            self._drain_parser()  # what arrived with the UUID frame
            while self._ended_reason is None:
                data = await self._reader.read(READ_CHUNK)
                if not data:
                    try:
                        self._parser.check_eof()
                    except ProtocolError as exc:
                        self.garbage += 1
                        log.info("AudioSocket %s: %s", self.call_uuid, exc)
                    break
                self._parser.feed(data)
                self._drain_parser()
        except (ConnectionError, OSError) as exc:
            reason = f"connection lost: {exc.__class__.__name__}"
        except asyncio.CancelledError:
            return
        except Exception:  # nothing a peer sends may break the call
            log.exception("AudioSocket %s: unexpected failure reading", self.call_uuid)
            reason = "internal error reading"
        self._end(self._ended_reason or reason)
        await self._close_socket()

    def _drain_parser(self) -> None:
        while self._ended_reason is None:
            try:
                frame = self._parser.next_frame()
            except ProtocolError as exc:
                self._garbage(str(exc))
                continue
            if frame is None:
                return
            self._handle(frame)

    def _garbage(self, what: str) -> None:
        self.garbage += 1
        self._garbage_run += 1
        if self.garbage <= 5 or self.garbage % 500 == 0:
            log.info("AudioSocket %s: skipped a bad frame (%d so far): %s",
                     self.call_uuid, self.garbage, what)
        if self._garbage_run >= MAX_GARBAGE_RUN:
            self._ended_reason = f"unusable stream: {self._garbage_run} bad frames in a row"

    def _handle(self, frame: wire.Frame) -> None:
        self.frames_received += 1
        if isinstance(frame, wire.AudioFrame):
            self._garbage_run = 0
            self._audio(frame)
        elif isinstance(frame, wire.DtmfFrame):
            self._garbage_run = 0
            self.dtmf += 1
            callback = self.on_dtmf
            if callback is not None:
                try:
                    callback(frame.digit)
                except Exception:
                    log.exception("the AudioSocket DTMF callback failed")
        elif isinstance(frame, wire.HangupFrame):
            self._ended_reason = "peer sent a hang-up frame"
        elif isinstance(frame, wire.ErrorFrame):
            self._ended_reason = f"peer sent an error frame (code {frame.code})"
        elif isinstance(frame, wire.UuidFrame):
            self._garbage(f"a second UUID frame ({frame.uuid})")
        else:
            self.unknown_kinds += 1
            self._garbage(f"unknown frame kind 0x{frame.kind:02x}")

    def _audio(self, frame: wire.AudioFrame) -> None:
        self.audio_frames += 1
        try:
            codec = self._codec8 if frame.sample_rate == 8000 else SLIN16_LE
            pcm = codec.decode(frame.payload)
        except ProtocolError as exc:
            self._garbage(str(exc))
            return
        nominal = self._codec8.bytes_per_frame(20) if frame.sample_rate == 8000 else 640
        short = len(frame.payload) < nominal
        if frame.sample_rate != self.format.sample_rate:
            self.resampled_frames += 1
            resampler = self._resamplers.get(frame.sample_rate)
            if resampler is None:
                resampler = Resampler(frame.sample_rate, self.format.sample_rate)
                self._resamplers[frame.sample_rate] = resampler
            pcm = resampler.process(pcm)
            short = False
        self._deliver(pcm, pad=short)

    def _deliver(self, pcm: bytes, *, pad: bool) -> None:
        sink = self._on_frame
        if sink is None:
            self.dropped_before_start += 1
            return
        size = self.format.pcm_frame_bytes
        buffered = self._pending + pcm
        whole = len(buffered) // size * size
        frames = [buffered[i:i + size] for i in range(0, whole, size)]
        rest = buffered[whole:]
        if rest and pad:  # Asterisk's short last frame of a file: play it now, padded
            frames.append(rest + bytes(size - len(rest)))
            rest = b""
        self._pending = rest
        for one in frames:
            self.frames_delivered += 1
            try:
                sink(one)
            except Exception:
                log.exception("the AudioSocket frame callback failed")

    # -- ending ----------------------------------------------------------------------------------

    def _end(self, reason: str) -> None:
        """The stream is over (EOF, reset, hang-up/error frame, garbage): report it once."""
        if self._ended_reason is None:
            self._ended_reason = reason
        self._stop_timers()
        log.info("AudioSocket %s ended: %s", self.call_uuid, self._ended_reason)
        self._report_closed()

    def _report_closed(self) -> None:
        callback, self._on_closed = self._on_closed, None
        self._on_frame = None
        if callback is not None and not self._closed:
            try:
                callback(f"audiosocket: {self._ended_reason}")
            except Exception:
                log.exception("the AudioSocket closed callback failed")

    async def _close_socket(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()

    def _stop_timers(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None

    def _keep_alive(self) -> None:
        self._keepalive = None
        if self._closed or self._ended_reason is not None:
            return
        loop = asyncio.get_running_loop()
        idle = loop.time() - self._last_send
        if idle >= self._keepalive_s * 0.9:
            self.keepalives += 1
            self.send_frame(self._silence)
            idle = 0.0
        self._keepalive = loop.call_later(self._keepalive_s - idle, self._keep_alive)

    def stats(self) -> AudioSocketStats:
        return AudioSocketStats(
            frames_received=self.frames_received, audio_frames=self.audio_frames,
            frames_delivered=self.frames_delivered,
            dropped_before_start=self.dropped_before_start,
            resampled_frames=self.resampled_frames, dtmf=self.dtmf, garbage=self.garbage,
            unknown_kinds=self.unknown_kinds, frames_sent=self.frames_sent,
            keepalives=self.keepalives, send_dropped=self.send_dropped,
        )


