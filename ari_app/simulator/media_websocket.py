"""The Asterisk side of a WebSocket ExternalMedia channel (chan_websocket, server mode).

Measured behaviour reproduced (tests/asterisk22/asterisk-facts/media.md section 3):
* the app connects to ``/media/<MEDIA_WEBSOCKET_CONNECTION_ID>`` (subprotocol ``media``, no
  credentials); Asterisk sends ``MEDIA_START`` first, then the channel is answered and enters
  Stasis;
* caller audio goes out as BINARY messages of one frame each (ulaw/alaw 160 B, slin 320 B,
  slin16 640 B, little-endian), only while the caller produces audio; caller DTMF as
  ``DTMF_END``;
* audio from the app is queued in frames and played at one frame per 20 ms; at most 1000 frames
  (a message arriving when 1000 or more are queued is dropped), ``MEDIA_XOFF`` at 900,
  ``MEDIA_XON`` below 800; a message over 65,535 bytes closes the websocket (1009) and hangs
  the channel up with cause 38;
* commands: GET_STATUS, MARK_MEDIA, START/STOP_MEDIA_BUFFERING, REPORT_QUEUE_DRAINED,
  FLUSH_MEDIA, HANGUP; unknown ones are ignored. Replies are plain text, or JSON with
  ``transport_data=f(json)``;
* ``DELETE`` of the channel closes the websocket with 1000 and no message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
from aiohttp import WSCloseCode, WSMsgType, web

from ari_app.simulator.media_audiosocket import downsample_2x, upsample_2x
from callwright.media import g711

FRAME_SIZES = {"ulaw": 160, "alaw": 160, "slin": 320, "slin16": 640}
MAX_MESSAGE = 65535
QUEUE_MAX = 1000
XOFF_LEVEL = 900
XON_LEVEL = 800


class WebSocketMediaEndpoint:
    """One WebSocket media channel. ``sink`` gets 8 kHz PCM16 LE played from the app's queue.

    ``on_connect`` runs when the app connects (answer + Stasis); ``on_hangup(cause, tech)``
    when the app asks for a hang-up or breaks the protocol.
    """

    def __init__(
        self,
        fmt: str,
        connection_id: str,
        json_mode: bool,
        channelvars: dict[str, str],
        sink: Callable[[bytes], None],
        on_connect: Callable[[], None],
        on_hangup: Callable[[int, int | None], None],
    ) -> None:
        self.format = fmt
        self.connection_id = connection_id
        self.json_mode = json_mode
        self.channelvars = channelvars
        self.frame_size = FRAME_SIZES[fmt]
        self.channel_id = ""
        self.channel_name = ""
        self._sink = sink
        self._on_connect = on_connect
        self._on_hangup = on_hangup
        self._ws: web.WebSocketResponse | None = None
        self._queue: deque[bytes | tuple[str, str]] = deque()
        self._frames = 0
        self._bulk: bytearray | None = None
        self._xoff = False
        self._queue_full = False
        self._report_drained = False
        self._prev = 0
        self._player: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._out: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self.closed = False

    @property
    def connected(self) -> bool:
        return self._ws is not None

    # -- the websocket ------------------------------------------------------------------------
    async def serve(self, request: web.Request) -> web.StreamResponse:
        if self._ws is not None or self.closed:
            return web.Response(status=409, text="already connected")
        ws = web.WebSocketResponse(protocols=("media",), max_msg_size=MAX_MESSAGE)
        await ws.prepare(request)
        self._ws = ws
        loop = asyncio.get_running_loop()
        self._writer = loop.create_task(self._write(ws))
        self._send_soon(self._media_start())
        self._on_connect()
        self._player = loop.create_task(self._play())
        try:
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    self._audio(msg.data)
                elif msg.type == WSMsgType.TEXT:
                    await self._command(msg.data)
                elif msg.type == WSMsgType.ERROR:
                    too_big = getattr(msg.data, "code", None) == WSCloseCode.MESSAGE_TOO_BIG
                    if too_big and not self.closed:
                        self._on_hangup(38, 1001)
                    break
        finally:
            self._stop_player()
            if not self.closed:
                # Not recorded: we assume a media websocket closed by the app ends the channel.
                self._on_hangup(16, None)
            if self._writer is not None:
                self._writer.cancel()
        return ws

    def _media_start(self) -> str:
        if self.json_mode:
            return json.dumps(
                {
                    "event": "MEDIA_START",
                    "connection_id": self.connection_id,
                    "channel": self.channel_name,
                    "channel_id": self.channel_id,
                    "format": self.format,
                    "optimal_frame_size": self.frame_size,
                    "ptime": 20,
                    "channel_variables": self.channelvars,
                },
                separators=(",", ":"),
            )
        return (
            f"MEDIA_START connection_id:{self.connection_id} channel:{self.channel_name} "
            f"channel_id:{self.channel_id} format:{self.format} "
            f"optimal_frame_size:{self.frame_size} ptime:20"
        )

    def _event(self, name: str, plain_arg: str = "", **fields: Any) -> str:
        if self.json_mode:
            return json.dumps(
                {"event": name, "channel_id": self.channel_id, **fields}, separators=(",", ":")
            )
        return f"{name} {plain_arg}".rstrip()

    async def _write(self, ws: web.WebSocketResponse) -> None:
        """Send queued messages in order; ``None`` closes the websocket with 1000."""
        with contextlib.suppress(ConnectionError, RuntimeError):
            while True:
                item = await self._out.get()
                if item is None:
                    await ws.close(code=WSCloseCode.OK)
                    return
                if ws.closed:
                    continue
                if isinstance(item, bytes):
                    await ws.send_bytes(item)
                else:
                    await ws.send_str(item)

    def _send_soon(self, message: str | bytes) -> None:
        if self._ws is not None:
            self._out.put_nowait(message)

    # -- app -> caller -------------------------------------------------------------------------
    def _audio(self, data: bytes) -> None:
        if self._bulk is not None:
            self._bulk.extend(data)
            return
        if self._frames >= QUEUE_MAX:
            return  # dropped, as Asterisk does when the queue is full
        self._enqueue(data)

    def _enqueue(self, data: bytes) -> None:
        for i in range(0, len(data), self.frame_size):
            self._queue.append(bytes(data[i : i + self.frame_size]))
            self._frames += 1
        if self._frames >= XOFF_LEVEL and not self._xoff:
            self._xoff = self._queue_full = True
            self._send_soon(self._event("MEDIA_XOFF"))

    def _status(self) -> str:
        fields: dict[str, Any] = {
            "queue_length": self._frames,
            "xon_level": XON_LEVEL,
            "xoff_level": XOFF_LEVEL,
            "queue_full": self._queue_full,
            "bulk_media": self._bulk is not None,
            "media_paused": False,
        }
        if self.json_mode:
            return self._event("STATUS", **fields)
        plain = " ".join(
            f"{k}:{str(v).lower() if isinstance(v, bool) else v}" for k, v in fields.items()
        )
        return f"STATUS channel_id:{self.channel_id} {plain}"

    async def _command(self, text: str) -> None:
        name, arg = "", ""
        if self.json_mode or text.lstrip().startswith("{"):
            try:
                body = json.loads(text)
            except ValueError:
                return
            if isinstance(body, dict):
                name = str(body.get("command", ""))
                arg = str(body.get("correlation_id", ""))
        else:
            name, _, arg = text.strip().partition(" ")
        if name == "GET_STATUS":
            self._send_soon(self._status())
        elif name == "MARK_MEDIA":
            self._queue.append(("mark", arg))
        elif name == "START_MEDIA_BUFFERING":
            self._bulk = bytearray()
        elif name == "STOP_MEDIA_BUFFERING":
            data, self._bulk = bytes(self._bulk or b""), None
            self._enqueue(data)
            self._queue.append(("bulk", arg))
        elif name == "REPORT_QUEUE_DRAINED":
            self._report_drained = True
        elif name == "FLUSH_MEDIA":
            self._queue.clear()
            self._frames = 0
            self._check_xon()
        elif name == "HANGUP":
            self._on_hangup(16, None)

    def _check_xon(self) -> None:
        if self._xoff and self._frames < XON_LEVEL:
            self._xoff = False
            self._send_soon(self._event("MEDIA_XON"))

    async def _play(self) -> None:
        next_at = time.monotonic()
        while True:
            next_at += 0.02
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            played = False
            while self._queue and not played:
                item = self._queue.popleft()
                if isinstance(item, tuple):
                    kind, ident = item
                    if kind == "mark":
                        self._send_soon(
                            self._event("MEDIA_MARK_PROCESSED", ident, correlation_id=ident)
                        )
                    else:
                        self._send_soon(
                            self._event("MEDIA_BUFFERING_COMPLETED", ident, correlation_id=ident)
                        )
                    continue
                self._frames -= 1
                played = True
                self._sink(self._decode(item))
                self._check_xon()
            if not self._queue and self._report_drained:
                self._report_drained = False
                self._send_soon(self._event("QUEUE_DRAINED"))

    def _decode(self, payload: bytes) -> bytes:
        if self.format == "ulaw":
            return g711.ulaw_decode(payload)
        if self.format == "alaw":
            return g711.alaw_decode(payload)
        if self.format == "slin16":
            return downsample_2x(payload)
        return payload[: len(payload) - len(payload) % 2]

    # -- caller -> app -------------------------------------------------------------------------
    def deliver(self, pcm: bytes) -> None:
        ws = self._ws
        if self.closed or ws is None or ws.closed or not pcm:
            return
        if self.format == "slin16":
            data, self._prev = upsample_2x(pcm, self._prev)
        elif self.format == "ulaw":
            data = g711.ulaw_encode(pcm)
        elif self.format == "alaw":
            data = g711.alaw_encode(pcm)
        else:
            data = pcm
        self._send_soon(data)

    def deliver_dtmf(self, digit: str) -> None:
        if self.json_mode:
            self._send_soon(self._event("DTMF_END", digit=digit))
        else:
            self._send_soon(f"DTMF_END digit:{digit} channel_id:{self.channel_id}")

    def _stop_player(self) -> None:
        if self._player is not None:
            self._player.cancel()
            self._player = None

    def close(self) -> None:
        """The channel is gone: close the websocket with 1000 and no message."""
        self.closed = True
        self._stop_player()
        if self._ws is not None:
            self._out.put_nowait(None)


def silence_frame(fmt: str) -> bytes:
    """One frame of silence in ``fmt`` (for tests and callers of the simulator)."""
    if fmt == "ulaw":
        return bytes([g711.ULAW_SILENCE]) * 160
    if fmt == "alaw":
        return bytes([g711.ALAW_SILENCE]) * 160
    return np.zeros(FRAME_SIZES[fmt] // 2, dtype="<i2").tobytes()
