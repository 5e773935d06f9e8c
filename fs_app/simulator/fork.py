"""mod_audio_fork on one channel: the WebSocket client FreeSWITCH runs for ``uuid_audio_fork``.

It connects with subprotocol ``audio.drachtio.org`` (a server that does not select it is still
accepted), sends the metadata as the first TEXT frame, then one BINARY frame of the channel's read
audio (the caller) every 20 ms, resampled to the fork's rate. What the server sends back is acted
on as the module does (:func:`fs_app.audio_fork.parse_from_server`), audio into a
:class:`~fs_app.simulator.playout.Playout` when bidirectional streaming is on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from callwright.media.resample import Resampler
from fs_app.audio_fork import SUBPROTOCOL, mark_report, parse_from_server
from fs_app.simulator.playout import Playout
from fs_app.simulator.ws_outbox import Outbox, send_queued

log = logging.getLogger(__name__)

#: Fires a CUSTOM event ``mod_audio_fork::<name>`` on the channel with a body.
CustomEvent = Callable[[str, str], None]


@dataclass
class ForkOptions:
    url: str
    mix: str
    rate: int
    bugname: str
    metadata: str | None
    bidirectional: bool
    stream_rate: int


class Fork:
    def __init__(self, options: ForkOptions, channel_rate: int, fire: CustomEvent,
                 on_kill: Callable[[], None]) -> None:
        self.options = options
        self._fire = fire
        self._on_kill = on_kill
        self._up = Resampler(channel_rate, options.rate)
        self._frame_bytes = options.rate * 2 // 50
        self._pending = bytearray()
        self.playout = Playout(channel_rate, options.stream_rate) \
            if options.bidirectional else None
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self._outbox: Outbox = asyncio.Queue()
        self.paused = False
        self.graceful = False
        self.closed = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    # -- from the channel --------------------------------------------------------------------
    def read_frame(self, pcm: bytes) -> None:
        """The channel's read audio of one 20 ms frame (sent unless paused or shut)."""
        if self._ws is None or self.paused or self.graceful or self.closed:
            return
        # The resampler's output comes in uneven pieces; the module sends whole 20 ms frames.
        self._pending += self._up.process(pcm)
        while len(self._pending) >= self._frame_bytes:
            self._outbox.put_nowait(bytes(self._pending[:self._frame_bytes]))
            del self._pending[:self._frame_bytes]

    def write_frame(self) -> bytes | None:
        """Called each 20 ms while the channel writes a frame: the fork's audio to write instead
        (None: nothing buffered); reports the marks that have now played."""
        if self.playout is None:
            return None
        frame, played = self.playout.next_frame()
        for name in played:
            self._outbox.put_nowait(mark_report(name, "playout"))
        return frame

    def send_text(self, text: str) -> None:
        self._outbox.put_nowait(text)

    def shut_gracefully(self) -> None:
        """``graceful-shutdown``: audio stops, one zero-length BINARY frame, socket kept open."""
        self.graceful = True
        self._outbox.put_nowait(b"")

    async def drop(self) -> None:
        """The fork's socket goes away mid-call (close 1001, for tests): what a network failure
        or the module's restart looks like to the server. No event, as no server close."""
        ws = self._ws
        if ws is not None and not ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.close(code=1001)
        self._outbox.put_nowait(None)

    async def stop(self, text: str | None = None) -> None:
        """``stop [text]`` or the channel hung up: the optional final TEXT frame, close 1000."""
        if text:
            self._outbox.put_nowait(text)
        self._outbox.put_nowait(None)
        if self._task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._task), 2.0)
        self.closed = True

    # -- the WebSocket -----------------------------------------------------------------------
    async def _run(self) -> None:
        self._session = aiohttp.ClientSession()
        try:
            try:
                self._ws = await self._session.ws_connect(
                    self.options.url, protocols=(SUBPROTOCOL,), autoping=True,
                    headers={"Pragma": "no-cache", "Cache-Control": "no-cache",
                             "Origin": "http://127.0.0.1"},
                )
            except aiohttp.WSServerHandshakeError:
                self._fire("connect_failed", '{"reason":"HS: ws upgrade response not 101"}')
                return
            except (aiohttp.ClientError, OSError):
                self._fire("connect_failed", '{"reason":"Unable to connect"}')
                return
            if self.options.metadata is not None:
                await self._ws.send_str(self.options.metadata)
            self._fire("connect", "")
            reader = asyncio.get_running_loop().create_task(self._read(self._ws))
            try:
                await send_queued(self._outbox, self._ws)
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
        finally:
            self.closed = True
            if self._ws is not None and not self._ws.closed:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self._ws.close(code=1000)
            await self._session.close()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type == aiohttp.WSMsgType.BINARY:
                if self.playout is not None:
                    self.playout.add_audio(message.data)
            elif message.type == aiohttp.WSMsgType.TEXT:
                self._server_text(message.data)
        if not self.closed:
            self.closed = True
            self._fire("disconnect", "")
            self._outbox.put_nowait(None)

    def _server_text(self, text: str) -> None:
        parsed = parse_from_server(text)
        if parsed is None:
            log.error("mod_audio_fork: server message ignored: %.200s", text)
            return
        if parsed.type == "mark":
            name = parsed.data.get("name") if isinstance(parsed.data, dict) else None
            if self.playout is not None and isinstance(name, str):
                self.playout.add_mark(name)
            return
        if parsed.type == "killAudio":
            if self.playout is not None:
                for name in self.playout.kill():
                    self._outbox.put_nowait(mark_report(name, "cleared"))
            self._fire("kill_audio", "")
            self._on_kill()  # CF_BREAK: the channel's playback ends
            return
        if parsed.type == "disconnect":
            self._fire("disconnect", "")
            self._outbox.put_nowait(None)
            return
        if parsed.type == "playAudio":
            if self.playout is None:  # file mode; ignored while streaming back
                self._fire("play_audio", json.dumps(parsed.data, separators=(",", ":")))
            return
        self._fire(parsed.event, parsed.event_body)
