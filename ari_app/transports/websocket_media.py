"""WebSocket media (ExternalMedia ``transport=websocket``, chan_websocket in server mode).

We are the websocket *client*: after ``POST /channels/externalMedia?transport=websocket&
encapsulation=none&connection_type=server`` the channel waits for us at
``ws://<asterisk>/media/<MEDIA_WEBSOCKET_CONNECTION_ID>`` (subprotocol ``media``); it answers and
enters Stasis only once we connect. Then (asterisk-facts/media.md section 3):

* Asterisk sends ``MEDIA_START`` (TEXT) first, then one BINARY message per 20 ms frame of caller
  audio: 640 bytes of slin16 LE, 320 of slin, 160 of µ-law/A-law (the last frame of a played file
  is short). Caller DTMF comes as ``DTMF_END``.
* Our audio goes back the same way, one frame per BINARY message (never over 65,535 bytes: a
  larger message closes the websocket with 1009 and hangs up the channel). Asterisk queues it and
  plays a frame every 20 ms; with 900 frames queued it sends ``MEDIA_XOFF``, below 800
  ``MEDIA_XON``. While XOFF'd we send nothing: frames are dropped (and counted), since late audio
  is worse than lost audio on a call.
* ``DELETE`` of the channel closes the websocket with 1000; that, or any other close, is reported
  once through ``on_closed``.

Control messages are parsed by the sans-IO :mod:`callwright.media.ws_media`; a malformed one is
counted and skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from callwright.errors import MediaError, ProtocolError
from callwright.media import ws_media
from callwright.media.codecs import codec_for
from callwright.media.transport import FrameSink, MediaFormat

log = logging.getLogger(__name__)

#: Outbound messages waiting for the socket beyond which new frames are dropped (1 s).
MAX_SEND_QUEUE = 50
MEDIA_START_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class WebSocketMediaStats:
    frames_received: int
    frames_delivered: int
    dropped_before_start: int
    frames_sent: int
    dropped_xoff: int
    dropped_backlog: int
    xoff_count: int
    dtmf: int
    garbage: int
    unknown_events: int


class WebSocketMediaTransport:
    """MediaTransport over one media websocket (slin16 at 16 kHz, or slin/ulaw/alaw at 8 kHz)."""

    def __init__(
        self,
        fmt: MediaFormat,
        *,
        session: aiohttp.ClientSession | None = None,
        json_control: bool = False,
        max_send_queue: int = MAX_SEND_QUEUE,
    ) -> None:
        self.frame_bytes = ws_media.frame_bytes(fmt.codec)
        if fmt.frame_ms != 20:
            raise MediaError("WebSocket media frames are 20 ms")
        self.format = fmt
        self.json_control = json_control
        self.codec = codec_for(fmt.codec, endian="little")
        #: Called with each digit of ``DTMF_END``. ARI calls get the same digits as
        #: ChannelDtmfReceived, so sessions there leave this unset.
        self.on_dtmf: Callable[[str], None] | None = None
        self.media_start: ws_media.MediaStart | None = None
        self.last_status: ws_media.Status | None = None
        self._session = session
        self._own_session = session is None
        self._max_send_queue = max_send_queue
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._out: asyncio.Queue[bytes | str] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._on_frame: FrameSink | None = None
        self._on_closed: Callable[[str], None] | None = None
        self._ended_reason: str | None = None
        self._closed = False
        self.xoff = False
        self.frames_received = 0
        self.frames_delivered = 0
        self.dropped_before_start = 0
        self.frames_sent = 0
        self.dropped_xoff = 0
        self.dropped_backlog = 0
        self.xoff_count = 0
        self.dtmf = 0
        self.garbage = 0
        self.unknown_events = 0

    @property
    def ended_reason(self) -> str | None:
        return self._ended_reason

    async def connect(self, url: str, timeout_s: float = MEDIA_START_TIMEOUT_S) -> None:
        """Connect to ``url`` and wait for ``MEDIA_START``. MediaError if that fails, times out,
        or announces a format other than ours."""
        if self._closed or self._ws is not None:
            raise MediaError("the WebSocket media transport is closed or already connected")
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            async with asyncio.timeout(timeout_s):
                self._ws = await self._session.ws_connect(
                    url, protocols=("media",), max_msg_size=4 * ws_media.MAX_MESSAGE_BYTES,
                    autoping=True,
                )
                if self._ws.protocol != "media":
                    raise MediaError(f"{url} did not accept the 'media' subprotocol")
                self.media_start = await self._wait_media_start(self._ws)
        except TimeoutError:
            await self.close()
            raise MediaError(f"no MEDIA_START from {url} within {timeout_s} s") from None
        except (aiohttp.ClientError, OSError) as exc:
            await self.close()
            raise MediaError(f"cannot connect the media websocket {url}: {exc}") from exc
        except MediaError:
            await self.close()
            raise
        start = self.media_start
        if start.format != self.format.codec:
            await self.close()
            raise MediaError(f"MEDIA_START announces {start.format!r}, not {self.format.codec!r}")
        if start.optimal_frame_size != self.frame_bytes:
            log.info("media websocket: optimal_frame_size %d (we send %d-byte frames)",
                     start.optimal_frame_size, self.frame_bytes)
        loop = asyncio.get_running_loop()
        self._reader = loop.create_task(self._read(self._ws), name="ws-media-read")
        self._writer = loop.create_task(self._write(self._ws), name="ws-media-write")

    async def _wait_media_start(
        self, ws: aiohttp.ClientWebSocketResponse
    ) -> ws_media.MediaStart:
        while True:
            msg = await ws.receive()
            if msg.type == aiohttp.WSMsgType.TEXT:
                try:
                    event = ws_media.parse_event(msg.data)
                except ProtocolError as exc:
                    self._garbage(str(exc))
                    continue
                if isinstance(event, ws_media.MediaStart):
                    return event
                self._event(event)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                self.dropped_before_start += 1
            else:
                raise MediaError(f"the media websocket closed before MEDIA_START ({msg.type})")

    # -- MediaTransport --------------------------------------------------------------------------

    async def start(self, on_frame: FrameSink, on_closed: Callable[[str], None]) -> None:
        if self._ws is None and self._ended_reason is None:
            raise MediaError("the WebSocket media transport is not connected")
        self._on_frame = on_frame
        self._on_closed = on_closed
        if self._ended_reason is not None:
            self._report_closed()

    def send_frame(self, pcm: bytes) -> None:
        """Encode one frame of PCM16 LE and queue it as one BINARY message. Dropped (counted)
        while Asterisk has us XOFF'd, when the socket is behind, or after the stream ended."""
        payload = self.codec.encode(pcm)
        if self._ws is None or self._ended_reason is not None or self._closed:
            self.dropped_backlog += 1
            return
        if self.xoff:
            self.dropped_xoff += 1
            return
        if self._out.qsize() >= self._max_send_queue:
            self.dropped_backlog += 1
            if self.dropped_backlog % 250 == 1:
                log.warning("media websocket is behind; %d frames dropped", self.dropped_backlog)
            return
        limit = ws_media.MAX_MESSAGE_BYTES - ws_media.MAX_MESSAGE_BYTES % self.frame_bytes
        for start in range(0, max(len(payload), 1), limit):
            self._out.put_nowait(payload[start:start + limit])
        self.frames_sent += 1

    def command(self, name: str, correlation_id: str | None = None) -> None:
        """Queue a control command (``GET_STATUS``, ``MARK_MEDIA`` ...); MediaError if unknown."""
        text = ws_media.build_command(
            name, json_form=self.json_control, correlation_id=correlation_id
        )
        if self._ws is not None and self._ended_reason is None:
            self._out.put_nowait(text)

    async def close(self) -> None:
        """Close the websocket (Asterisk hangs the channel up) and stop. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._on_frame = None
        for task in (self._writer, self._reader):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._ws is not None:
            with contextlib.suppress(aiohttp.ClientError, OSError, RuntimeError):
                await self._ws.close()
        if self._own_session and self._session is not None:
            await self._session.close()

    # -- the socket ------------------------------------------------------------------------------

    async def _write(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            while True:
                item = await self._out.get()
                if isinstance(item, bytes):
                    await ws.send_bytes(item)
                else:
                    await ws.send_str(item)
        except (ConnectionError, aiohttp.ClientError, OSError, RuntimeError) as exc:
            self._end(f"send failed: {exc.__class__.__name__}")

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        reason = "websocket closed"
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.BINARY:
                    self._audio(msg.data)
                elif msg.type == aiohttp.WSMsgType.TEXT:
                    self._text(msg.data)
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    reason = f"websocket error: {ws.exception()}"
                    break
        except (ConnectionError, aiohttp.ClientError, OSError) as exc:
            reason = f"connection lost: {exc.__class__.__name__}"
        except Exception:  # nothing a peer sends may break the call
            log.exception("media websocket: unexpected failure reading")
            reason = "internal error reading"
        code = ws.close_code
        self._end(f"{reason} (code {code})" if code is not None else reason)

    def _text(self, text: str) -> None:
        try:
            event = ws_media.parse_event(text)
        except ProtocolError as exc:
            self._garbage(str(exc))
            return
        self._event(event)

    def _event(self, event: ws_media.WsMediaEvent) -> None:
        if isinstance(event, ws_media.MediaXoff):
            if not self.xoff:
                self.xoff_count += 1
                log.info("media websocket: MEDIA_XOFF, pausing our audio")
            self.xoff = True
        elif isinstance(event, ws_media.MediaXon):
            self.xoff = False
        elif isinstance(event, ws_media.DtmfEnd):
            self.dtmf += 1
            callback = self.on_dtmf
            if callback is not None:
                try:
                    callback(event.digit)
                except Exception:
                    log.exception("the media websocket DTMF callback failed")
        elif isinstance(event, ws_media.Status):
            self.last_status = event
        elif isinstance(event, ws_media.UnknownEvent):
            self.unknown_events += 1
            log.debug("media websocket: ignoring %s", event.name)
        elif isinstance(event, ws_media.MediaStart):
            self._garbage("a second MEDIA_START")

    def _garbage(self, what: str) -> None:
        self.garbage += 1
        if self.garbage <= 5 or self.garbage % 500 == 0:
            log.info("media websocket: skipped a bad message (%d so far): %s", self.garbage, what)

    def _audio(self, data: bytes) -> None:
        self.frames_received += 1
        sink = self._on_frame
        if sink is None:
            self.dropped_before_start += 1
            return
        try:
            pcm = self.codec.decode(data)
        except ProtocolError as exc:
            self._garbage(str(exc))
            return
        size = self.format.pcm_frame_bytes
        for start in range(0, len(pcm), size):
            frame = pcm[start:start + size]
            if len(frame) < size:  # the short last frame of a played file, padded
                frame += bytes(size - len(frame))
            self.frames_delivered += 1
            try:
                sink(frame)
            except Exception:
                log.exception("the media websocket frame callback failed")

    def _end(self, reason: str) -> None:
        if self._ended_reason is not None:
            return
        self._ended_reason = reason
        log.info("media websocket ended: %s", reason)
        self._report_closed()

    def _report_closed(self) -> None:
        callback, self._on_closed = self._on_closed, None
        self._on_frame = None
        if callback is not None and not self._closed:
            try:
                callback(f"websocket media: {self._ended_reason}")
            except Exception:
                log.exception("the media websocket closed callback failed")

    def stats(self) -> WebSocketMediaStats:
        return WebSocketMediaStats(
            frames_received=self.frames_received, frames_delivered=self.frames_delivered,
            dropped_before_start=self.dropped_before_start, frames_sent=self.frames_sent,
            dropped_xoff=self.dropped_xoff, dropped_backlog=self.dropped_backlog,
            xoff_count=self.xoff_count, dtmf=self.dtmf, garbage=self.garbage,
            unknown_events=self.unknown_events,
        )
