"""The Asterisk side of an ExternalMedia AudioSocket channel (chan_audiosocket, TCP client).

Measured behaviour reproduced (tests/asterisk22/asterisk-facts/media.md section 2):
* Asterisk connects to ``external_host`` before it answers the HTTP request and sends the UUID
  frame (kind 0x01, the 16 raw bytes of ``data``) first;
* a frame is kind (1 byte), length (2 bytes big-endian), payload; audio is little-endian;
* caller audio goes out as 0x10 (slin 8 kHz, 320 B) or 0x12 (slin16, 640 B), and for
  ``format=ulaw`` as 0x10 frames carrying 160 µ-law bytes; caller DTMF as 0x03 + one ASCII byte;
  Asterisk never sends a hang-up frame;
* from the peer, 0x10 is read as slin 8 kHz (whatever the channel format) and 0x12 as slin16;
  a 0x00 (hang-up), 0xff (error) or 0x03 (DTMF) frame, or a TCP close, tears the channel down at
  once (no ChannelHangupRequest; the caller stays in the bridge);
* ``DELETE`` of the channel closes the TCP connection a few ms later, with no frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import uuid
from collections.abc import Callable

import numpy as np

from callwright.media import g711

log = logging.getLogger(__name__)

KIND_HANGUP = 0x00
KIND_UUID = 0x01
KIND_DTMF = 0x03
KIND_SLIN = 0x10
KIND_SLIN16 = 0x12
KIND_ERROR = 0xFF
AUDIOSOCKET_FORMATS = ("ulaw", "alaw", "slin", "slin16")


def frame(kind: int, payload: bytes) -> bytes:
    return struct.pack("!BH", kind, len(payload)) + payload


def downsample_2x(pcm16k: bytes) -> bytes:
    x = np.frombuffer(pcm16k[: len(pcm16k) - len(pcm16k) % 4], dtype="<i2").astype(np.int32)
    return ((x[0::2] + x[1::2]) // 2).astype("<i2").tobytes()


def upsample_2x(pcm8k: bytes, prev: int) -> tuple[bytes, int]:
    x = np.frombuffer(pcm8k[: len(pcm8k) - len(pcm8k) % 2], dtype="<i2").astype(np.int32)
    if x.size == 0:
        return b"", prev
    before = np.concatenate(([prev], x[:-1]))
    out = np.empty(x.size * 2, dtype=np.int32)
    out[0::2] = (before + x) // 2
    out[1::2] = x
    return out.astype("<i2").tobytes(), int(x[-1])


class AudioSocketEndpoint:
    """One AudioSocket channel's TCP connection. ``sink`` gets 8 kHz PCM16 LE from the peer;
    ``on_peer_gone`` is called once when the peer hangs up, errs, sends DTMF or closes."""

    def __init__(
        self,
        fmt: str,
        call_id: uuid.UUID,
        sink: Callable[[bytes], None],
        on_peer_gone: Callable[[str], None],
    ) -> None:
        if fmt not in AUDIOSOCKET_FORMATS:
            raise ValueError(f"AudioSocket cannot carry {fmt!r}")
        self.format = fmt
        self.call_id = call_id
        self._sink = sink
        self._on_peer_gone = on_peer_gone
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._prev = 0
        self.closed = False

    async def connect(self, host: str, port: int) -> None:
        """Connect and send the UUID frame; OSError if the peer is not listening."""
        reader, writer = await asyncio.open_connection(host, port)
        self._writer = writer
        writer.write(frame(KIND_UUID, self.call_id.bytes))
        self._reader_task = asyncio.get_running_loop().create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        reason = "closed"
        try:
            while True:
                header = await reader.readexactly(3)
                kind, length = struct.unpack("!BH", header)
                payload = await reader.readexactly(length) if length else b""
                if kind == KIND_SLIN:
                    self._sink(payload[: len(payload) - len(payload) % 2])
                elif kind == KIND_SLIN16:
                    self._sink(downsample_2x(payload))
                elif kind in (KIND_HANGUP, KIND_ERROR, KIND_DTMF):
                    reason = {KIND_HANGUP: "hangup", KIND_ERROR: "error"}.get(kind, "dtmf")
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            reason = "closed"
        except asyncio.CancelledError:
            return
        if not self.closed:
            self.close()
            self._on_peer_gone(reason)

    def deliver(self, pcm: bytes) -> None:
        """Caller audio from the bridge (8 kHz PCM16 LE) -> one frame."""
        if self.closed or self._writer is None or not pcm:
            return
        if self.format == "slin16":
            data, self._prev = upsample_2x(pcm, self._prev)
            self._writer.write(frame(KIND_SLIN16, data))
        elif self.format == "ulaw":
            self._writer.write(frame(KIND_SLIN, g711.ulaw_encode(pcm)))
        elif self.format == "alaw":
            self._writer.write(frame(KIND_SLIN, g711.alaw_encode(pcm)))
        else:
            self._writer.write(frame(KIND_SLIN, pcm[: len(pcm) - len(pcm) % 2]))

    def deliver_dtmf(self, digit: str) -> None:
        if not self.closed and self._writer is not None:
            self._writer.write(frame(KIND_DTMF, digit.encode("ascii")))

    def half_close(self) -> None:
        """Stop sending but keep reading (shutdown SHUT_WR): a broken peer, for tests. Asterisk
        itself always closes the whole connection."""
        if not self.closed and self._writer is not None and self._writer.can_write_eof():
            self._writer.write_eof()

    def close(self) -> None:
        """Close TCP with no frame (what Asterisk does on DELETE)."""
        self.closed = True
        if self._writer is not None:
            with contextlib.suppress(RuntimeError):
                self._writer.close()
            self._writer = None
        task = self._reader_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
