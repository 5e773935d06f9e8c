"""mod_audio_stream (amigniter, community edition) on one channel: the WebSocket client
FreeSWITCH runs for ``uuid_audio_stream``, as recorded in audio-stream-s1/s2/s3.

It connects asking for no subprotocol, sends the metadata (if any) as the first TEXT frame, fires
``mod_audio_stream::connect``, then sends one BINARY frame of the channel's read audio (the
caller) every 20 ms at the stream's rate. Every TEXT frame from the server fires ``::json`` with
it verbatim, except ``streamAudio``, which is written to ``<tmp>/<uuid>_<n>.tmp.r8|r16`` and fires
``::play`` with that path; BINARY frames from the server are ignored (no audio back). The server
closing fires ``::disconnect`` (code 1000, reason always empty, as recorded); a refused connection
or upgrade fires ``::error``. ``stop``, ``send_text`` and a hang-up fire nothing.

Only ``mono`` is modelled: ``mixed`` and ``stereo`` starts are refused (``-ERR Operation
Failed``), so nothing is simulated that was not checked.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

import aiohttp

from callwright.media.resample import Resampler
from fs_app import audio_stream
from fs_app.simulator.ws_outbox import Outbox, send_queued

log = logging.getLogger(__name__)

#: Fires a CUSTOM event ``mod_audio_stream::<name>`` on the channel with a body.
CustomEvent = Callable[[str, str], None]


class AudioStream:
    def __init__(self, uuid: str, url: str, rate: int, metadata: str | None, channel_rate: int,
                 fire: CustomEvent) -> None:
        self.uuid, self.url, self.rate, self.metadata = uuid, url, rate, metadata
        self._fire = fire
        self._up = Resampler(channel_rate, rate)
        self._frame_bytes = rate * 2 // 50
        self._pending = bytearray()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self._outbox: Outbox = asyncio.Queue()
        self._files = 0
        self.paused = False
        self.closed = False
        #: The files ``streamAudio`` wrote (the module leaves them in /tmp; tests remove them).
        self.files: list[Path] = []

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def read_frame(self, pcm: bytes) -> None:
        """The channel's read audio of one 20 ms frame (sent unless paused or closed)."""
        if self._ws is None or self.paused or self.closed:
            return
        self._pending += self._up.process(pcm)
        while len(self._pending) >= self._frame_bytes:
            self._outbox.put_nowait(bytes(self._pending[:self._frame_bytes]))
            del self._pending[:self._frame_bytes]

    def send_text(self, rest: str) -> None:
        self._outbox.put_nowait(audio_stream.cut_text(rest))

    async def drop(self) -> None:
        """The stream's socket goes away mid-call (close 1001, for tests): what a network
        failure looks like to the server. No event: the recorded ``::disconnect`` follows a
        server close, and what the module fires when its own side fails was not recorded."""
        self.closed = True
        ws = self._ws
        if ws is not None and not ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.close(code=1001)
        self._outbox.put_nowait(None)

    async def stop(self, rest: str | None = None) -> None:
        """``stop [text]`` or the channel hung up: the text cut at its first space, close 1000."""
        if rest:
            self._outbox.put_nowait(audio_stream.cut_text(rest))
        self._outbox.put_nowait(None)
        if self._task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(self._task), 2.0)
        self.closed = True

    async def _run(self) -> None:
        session = aiohttp.ClientSession()
        try:
            try:
                self._ws = await session.ws_connect(
                    self.url, autoping=True, headers={"Origin": "http://127.0.0.1"})
            except aiohttp.WSServerHandshakeError:
                self.closed = True
                self._fire("error", audio_stream.error_body("WebSocket upgrade failed"))
                return
            except (aiohttp.ClientError, OSError):
                self.closed = True
                self._fire("error",
                           audio_stream.error_body("Connection refused (system error 111)"))
                return
            if self.metadata is not None:
                await self._ws.send_str(self.metadata)
            self._fire("connect", audio_stream.connect_body())
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
            await session.close()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                self._server_text(message.data)
            # BINARY from the server: ignored (the community edition streams nothing back)
        if not self.closed:
            self.closed = True
            self._fire("disconnect", audio_stream.disconnect_body(1000))
            self._outbox.put_nowait(None)

    def _server_text(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        data = message.get("data") if isinstance(message, dict) else None
        if not (isinstance(message, dict) and message.get("type") == "streamAudio"
                and isinstance(data, dict)):
            self._fire("json", text)
            return
        rate, audio = data.get("sampleRate"), data.get("audioData")
        if rate not in (8000, 16000) or not isinstance(audio, str):
            log.error("mod_audio_stream: streamAudio without sampleRate/audioData ignored")
            return
        try:
            pcm = base64.b64decode(audio, validate=True)
        except binascii.Error:
            log.error("mod_audio_stream: streamAudio audioData is not base64")
            return
        path = Path(tempfile.gettempdir()) / \
            f"{self.uuid}_{self._files}.tmp.r{rate // 1000}"
        self._files += 1
        path.write_bytes(pcm)
        self.files.append(path)
        self._fire("play", json.dumps({"audioDataType": "raw", "sampleRate": rate,
                                       "file": str(path)}, separators=(",", ":")))
