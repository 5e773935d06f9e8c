"""Our side of mod_audio_fork: the WebSocket server FreeSWITCH connects to, and the call's
media transport on one such connection.

Each call gets a path ``/fork/<token>`` before it starts the fork; FreeSWITCH's connection on that
path becomes the call's :class:`ForkTransport`: the metadata TEXT frame first, then the caller's
audio as BINARY L16 LE 20 ms frames (``on_frame``); what the pipeline sends goes back as BINARY
frames at the same rate, at the pacer's real-time pace. :meth:`ForkTransport.kill_audio` clears
what FreeSWITCH has buffered but not yet played (barge-in). Marks are sent with
:meth:`ForkTransport.mark`; FreeSWITCH's reports of them go to ``on_mark``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable

from aiohttp import WSMsgType, web

from callwright.errors import MediaError
from callwright.media.transport import FrameSink, MediaFormat
from fs_app import audio_fork
from fs_app.fork_feed import UtteranceFeed
from fs_app.playout_marks import PlayoutMarks

log = logging.getLogger(__name__)

#: How long a call waits for FreeSWITCH to connect its fork.
CONNECT_TIMEOUT_S = 5.0


def check_sample_rate(rate: int) -> None:
    """Refuse a call's media rate that neither module streams (8000 and 16000 only)."""
    if rate not in (8000, 16000):
        raise MediaError(f"[freeswitch] sample_rate must be 8000 or 16000: {rate}")


class ForkTransport:
    """A :class:`~callwright.media.transport.MediaTransport` over one mod_audio_fork socket."""

    def __init__(self, rate: int) -> None:
        self.format = MediaFormat("slin16" if rate == 16000 else "slin", rate)
        self._ws: web.WebSocketResponse | None = None
        self.connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._on_frame: FrameSink | None = None
        self._on_closed: Callable[[str], None] | None = None
        self.on_mark: Callable[[audio_fork.MarkReport], None] | None = None
        #: Marks before each utterance: when the caller actually heard it.
        self.marks = PlayoutMarks(self.mark, time.monotonic)
        #: The silence between utterances is not sent (fs_app.fork_feed).
        self.feed = UtteranceFeed()
        #: Called instead of ending the transport when the socket drops mid-call: the session
        #: starts the fork again (a new connection :meth:`serve`\ d on this transport) or
        #: :meth:`fail`\ s it.
        self.on_lost: Callable[[str], None] | None = None

        self._outbox: asyncio.Queue[bytes | str | None] = asyncio.Queue()
        self._done = asyncio.Event()
        self.metadata: str | None = None
        self.frames_in = 0
        self.closed_reason: str | None = None
        self._partial = b""
        self._released = False

    # -- the MediaTransport protocol ---------------------------------------------------------
    async def start(self, on_frame: FrameSink, on_closed: Callable[[str], None]) -> None:
        self._on_frame, self._on_closed = on_frame, on_closed
        if self.closed_reason is not None:
            on_closed(self.closed_reason)

    def send_frame(self, pcm: bytes) -> None:
        if self._ws is not None and self.closed_reason is None:
            self.marks.before_frame(pcm)
            if self.feed.wanted(pcm):
                self._outbox.put_nowait(bytes(pcm))

    async def close(self) -> None:
        self._outbox.put_nowait(None)
        self._done.set()

    # -- mod_audio_fork's controls -----------------------------------------------------------
    def kill_audio(self) -> None:
        """Drop what FreeSWITCH has buffered and not yet played (its marks come back cleared)."""
        if self._ws is not None and self.closed_reason is None:
            self._outbox.put_nowait(audio_fork.kill_audio())

    def release(self) -> None:
        """We are about to stop the fork ourselves (a transfer): its end is not a media failure
        and is not reported to the pipeline."""
        self._released = True

    def mark(self, name: str) -> None:
        if self._ws is not None and self.closed_reason is None:
            self._outbox.put_nowait(audio_fork.mark(name))

    # -- the connection (run by the server) --------------------------------------------------
    async def serve(self, ws: web.WebSocketResponse) -> None:
        self._ws = ws
        self._outbox = asyncio.Queue()  # nothing queued for a socket that is gone
        if not self.connected.done():
            self.connected.set_result(None)
        writer = asyncio.get_running_loop().create_task(self._write(ws))
        reason = "FreeSWITCH closed the fork"
        try:
            async for message in ws:
                if message.type == WSMsgType.BINARY:
                    self._audio(message.data)
                elif message.type == WSMsgType.TEXT:
                    self._text(message.data)
                elif message.type == WSMsgType.ERROR:
                    reason = f"fork socket error: {ws.exception()}"
            if ws.close_code not in (None, 1000):
                reason = f"FreeSWITCH closed the fork ({ws.close_code})"
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            self._ended(reason)

    def _audio(self, data: bytes) -> None:
        if not data:  # graceful-shutdown: one empty frame, no more audio
            return
        data = self._partial + data
        size = self.format.pcm_frame_bytes
        whole = len(data) - len(data) % size
        self._partial = data[whole:]
        for offset in range(0, whole, size):
            self.frames_in += 1
            if self._on_frame is not None:
                self._on_frame(data[offset:offset + size])

    def _text(self, text: str) -> None:
        if self.metadata is None and self.frames_in == 0:
            self.metadata = text
            return
        try:
            report = audio_fork.parse_from_freeswitch(text)
        except audio_fork.AudioForkError as exc:
            log.warning("mod_audio_fork sent a text frame we do not understand: %s", exc)
            return
        if report is not None:
            self.marks.reported(report.name, report.event)
            if self.on_mark is not None:
                self.on_mark(report)

    async def _write(self, ws: web.WebSocketResponse) -> None:
        while True:
            item = await self._outbox.get()
            if item is None:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.close(code=1000)
                return
            try:
                if isinstance(item, str):
                    await ws.send_str(item)
                else:
                    await ws.send_bytes(item)
            except (ConnectionError, RuntimeError) as exc:
                self._ended(f"could not send to FreeSWITCH: {exc}")
                return

    def _ended(self, reason: str) -> None:
        if self.closed_reason is not None:
            return
        if self.on_lost is not None and not self._released and not self._done.is_set():
            self._ws = None
            self._partial = b""
            self.connected = asyncio.get_running_loop().create_future()
            self.on_lost(reason)
            return
        self.fail(reason)

    def fail(self, reason: str) -> None:
        """The media is gone for good: the pipeline is told (once)."""
        if self.closed_reason is not None:
            return
        self.closed_reason = reason
        self._done.set()
        if self._on_closed is not None and not self._released:
            self._on_closed(reason)

    async def wait_done(self) -> None:
        await self._done.wait()


class ForkServer:
    """The WebSocket server mod_audio_fork connects to; one path per expected call."""

    def __init__(self, host: str, port: int, url_host: str = "") -> None:
        self._host, self._port, self._url_host = host, port, url_host or host
        self._expected: dict[str, ForkTransport] = {}
        self._runner: web.AppRunner | None = None
        self.refused = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/fork/{token}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise MediaError(f"cannot listen for mod_audio_fork on "
                             f"{self._host}:{self._port}: {exc}") from exc
        self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def port(self) -> int:
        return self._port

    def expect(self, transport: ForkTransport) -> str:
        """A fresh URL for one call's fork (ws://host:port/fork/<token>)."""
        token = secrets.token_urlsafe(16)
        self._expected[token] = transport
        return f"ws://{self._url_host}:{self._port}/fork/{token}"

    def forget(self, url: str) -> None:
        self._expected.pop(url.rsplit("/", 1)[-1], None)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        transport = self._expected.pop(request.match_info["token"], None)
        if transport is None:
            self.refused += 1
            log.warning("mod_audio_fork connected on an unknown path: refused")
            raise web.HTTPNotFound(text="no call expects this fork")
        ws = web.WebSocketResponse(protocols=(audio_fork.SUBPROTOCOL,), autoping=True)
        await ws.prepare(request)
        await transport.serve(ws)
        return ws
