"""The protocol every media transport implements (ExternalMedia RTP, AudioSocket, WebSocket).

A transport moves 20 ms frames between the PBX and the call pipeline. It decodes what arrives into
PCM16 LE at ``sample_rate`` and encodes what it is given. Sockets live in the transport; the codecs
and packet formats it uses are sans-IO modules in ``callwright.media``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class MediaFormat:
    """The audio format on the wire and in the pipeline."""

    codec: str          # "ulaw", "alaw", "slin", "slin16"
    sample_rate: int    # 8000 or 16000
    frame_ms: int = 20

    @property
    def samples_per_frame(self) -> int:
        return self.sample_rate * self.frame_ms // 1000

    @property
    def pcm_frame_bytes(self) -> int:
        """Bytes of one frame as PCM16."""
        return self.samples_per_frame * 2


#: Called with each inbound frame, decoded to PCM16 LE at the transport's sample rate.
FrameSink = Callable[[bytes], None]


class MediaTransport(Protocol):
    format: MediaFormat

    async def start(self, on_frame: FrameSink, on_closed: Callable[[str], None]) -> None:
        """Start receiving. ``on_closed(reason)`` is called once if the peer goes away."""

    def send_frame(self, pcm: bytes) -> None:
        """Encode and send one frame of PCM16 LE (exactly ``format.pcm_frame_bytes``)."""

    async def close(self) -> None:
        """Stop and release the socket. Safe to call twice."""


@runtime_checkable
class ArrivingFrames(Protocol):
    """A transport that holds inbound frames in a jitter buffer (RTP) and can also hand each one
    over as it arrives: decoded, in arrival order, before the buffer's wait (~40 ms). For what
    must not wait for the buffer: a caller talking over a reply, or going on after their turn was
    taken as ended (the reply is taken back). ``None`` stops it."""

    def set_arrival_sink(self, sink: FrameSink | None) -> None:
        """Call ``sink`` with every inbound frame as it arrives, besides the played-out one."""
