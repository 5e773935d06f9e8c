"""Wire formats of the audio we exchange with Asterisk, and how to pick one.

Every codec converts between its wire payload and PCM16 little-endian (the pipeline's format) at
the codec's own sample rate; none of them resamples.

| name     | rate  | RTP PT                 | payload per 20 ms | bytes                     |
|----------|-------|------------------------|-------------------|---------------------------|
| ulaw     | 8000  | 0                      | 160               | G.711 µ-law               |
| alaw     | 8000  | 8                      | 160               | G.711 A-law               |
| slin     | 8000  | 10 (11 also received)  | 320               | L16 big-endian over RTP   |
| slin16   | 16000 | 118 (receive only)     | 640               | L16 big-endian over RTP   |

AudioSocket and WebSocket media carry slin/slin16 little-endian: ``codec_for("slin16",
endian="little")``. Asterisk 22 silently drops RTP it receives with a dynamic payload type, 118
included, so :func:`check_rtp_send_format` refuses slin16 for ExternalMedia RTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from callwright.errors import ConfigError, MediaError, ProtocolError
from callwright.media import g711

Endian = Literal["big", "little"]

#: The formats ExternalMedia RTP can carry in both directions.
RTP_SEND_FORMATS = ("ulaw", "alaw", "slin")
#: Every format name :func:`codec_for` knows.
FORMAT_NAMES = ("ulaw", "alaw", "slin", "slin16")


class Codec(Protocol):
    """Converts one wire format to and from PCM16 LE at ``sample_rate``."""

    @property
    def name(self) -> str: ...

    @property
    def sample_rate(self) -> int: ...

    @property
    def payload_type(self) -> int | None:
        """The RTP payload type this format is sent with, or None when it has none."""

    def bytes_per_frame(self, frame_ms: int) -> int:
        """Wire payload bytes for ``frame_ms`` milliseconds of audio."""

    def decode(self, payload: bytes) -> bytes:
        """Wire payload to PCM16 LE. Raises ProtocolError when the payload cannot be decoded."""

    def encode(self, pcm: bytes) -> bytes:
        """PCM16 LE to wire payload. Raises MediaError for an odd byte count."""

    def silence(self, frame_ms: int) -> bytes:
        """Wire payload of ``frame_ms`` milliseconds of digital silence."""


def _samples(sample_rate: int, frame_ms: int) -> int:
    if frame_ms <= 0:
        raise ValueError(f"frame_ms must be positive, got {frame_ms}")
    return sample_rate * frame_ms // 1000


@dataclass(frozen=True, slots=True)
class G711Codec:
    """G.711 µ-law or A-law at 8 kHz, one byte per sample."""

    name: str
    payload_type: int | None
    silence_byte: int
    sample_rate: int = 8000

    def bytes_per_frame(self, frame_ms: int) -> int:
        return _samples(self.sample_rate, frame_ms)

    def decode(self, payload: bytes) -> bytes:
        if self.name == "alaw":
            return g711.alaw_decode(payload)
        return g711.ulaw_decode(payload)

    def encode(self, pcm: bytes) -> bytes:
        if self.name == "alaw":
            return g711.alaw_encode(pcm)
        return g711.ulaw_encode(pcm)

    def silence(self, frame_ms: int) -> bytes:
        return bytes([self.silence_byte]) * self.bytes_per_frame(frame_ms)


@dataclass(frozen=True, slots=True)
class L16Codec:
    """Signed 16-bit linear PCM, big-endian (RTP, RFC 3551 L16) or little-endian."""

    name: str
    sample_rate: int
    endian: Endian
    payload_type: int | None

    def bytes_per_frame(self, frame_ms: int) -> int:
        return 2 * _samples(self.sample_rate, frame_ms)

    def decode(self, payload: bytes) -> bytes:
        if len(payload) % 2:
            raise ProtocolError(
                f"{self.name} payload must have an even number of bytes, got {len(payload)}"
            )
        if self.endian == "little":
            return bytes(payload)
        return np.frombuffer(payload, dtype=">i2").astype("<i2").tobytes()

    def encode(self, pcm: bytes) -> bytes:
        if len(pcm) % 2:
            raise MediaError(f"PCM16 audio must have an even number of bytes, got {len(pcm)}")
        if self.endian == "little":
            return bytes(pcm)
        return np.frombuffer(pcm, dtype="<i2").astype(">i2").tobytes()

    def silence(self, frame_ms: int) -> bytes:
        return bytes(self.bytes_per_frame(frame_ms))


ULAW = G711Codec(name="ulaw", payload_type=0, silence_byte=g711.ULAW_SILENCE)
ALAW = G711Codec(name="alaw", payload_type=8, silence_byte=g711.ALAW_SILENCE)
#: L16 8 kHz big-endian, as Asterisk sends it over RTP (PT 10).
SLIN = L16Codec(name="slin", sample_rate=8000, endian="big", payload_type=10)
#: L16 16 kHz big-endian, as Asterisk sends it over RTP (dynamic PT 118). Receive only.
SLIN16 = L16Codec(name="slin16", sample_rate=16000, endian="big", payload_type=118)
#: Little-endian L16 for AudioSocket and WebSocket media (no RTP payload type).
SLIN_LE = L16Codec(name="slin", sample_rate=8000, endian="little", payload_type=None)
SLIN16_LE = L16Codec(name="slin16", sample_rate=16000, endian="little", payload_type=None)

_BY_NAME: dict[tuple[str, Endian], Codec] = {
    ("ulaw", "big"): ULAW,
    ("ulaw", "little"): ULAW,
    ("alaw", "big"): ALAW,
    ("alaw", "little"): ALAW,
    ("slin", "big"): SLIN,
    ("slin", "little"): SLIN_LE,
    ("slin16", "big"): SLIN16,
    ("slin16", "little"): SLIN16_LE,
}

_BY_PAYLOAD_TYPE: dict[int, Codec] = {0: ULAW, 8: ALAW, 10: SLIN, 11: SLIN, 118: SLIN16}


def codec_for(name: str, *, endian: Endian = "big") -> Codec:
    """The codec for an Asterisk format name. ``endian`` only matters for slin and slin16.

    Raises ConfigError (key ``media.format``) for an unknown name.
    """
    if endian not in ("big", "little"):
        raise ConfigError("media.endian", "'big' or 'little'", endian)
    codec = _BY_NAME.get((name, endian))
    if codec is None:
        raise ConfigError("media.format", f"one of {', '.join(FORMAT_NAMES)}", name)
    return codec


def codec_for_payload_type(pt: int) -> Codec | None:
    """The codec for a received RTP payload type, or None when we cannot decode it.

    PT 0, 8 and 10/11 are the static RFC 3551 meanings; 118 is the dynamic type Asterisk uses
    for slin16 on ExternalMedia.
    """
    return _BY_PAYLOAD_TYPE.get(pt)


def check_rtp_send_format(fmt: str) -> None:
    """Raise ConfigError unless audio in ``fmt`` can be sent back to Asterisk over RTP."""
    if fmt in RTP_SEND_FORMATS:
        return
    if fmt == "slin16":
        raise ConfigError(
            "media.format",
            "ulaw, alaw or slin for ExternalMedia RTP: Asterisk 22 silently drops slin16 sent "
            "back with dynamic payload type 118, so the caller would hear nothing; use the "
            "AudioSocket or WebSocket media transport for 16 kHz audio in both directions",
            fmt,
        )
    raise ConfigError("media.format", f"one of {', '.join(RTP_SEND_FORMATS)} for RTP", fmt)
