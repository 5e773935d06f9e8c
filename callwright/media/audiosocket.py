"""The AudioSocket wire format (Asterisk's chan_audiosocket and AudioSocket() application), sans-IO.

A frame is one byte of kind, a 2-byte **big-endian** payload length, then the payload. Audio
samples are signed 16-bit **little-endian**. What Asterisk 22.10.1 was seen to send and accept
(tests/asterisk22/asterisk-facts/media.md section 2):

| kind | name    | payload                                                                        |
|------|---------|--------------------------------------------------------------------------------|
| 0x00 | hang-up | empty. Asterisk never sends it; if we send it the channel is destroyed         |
| 0x01 | UUID    | 16 raw bytes, always the first frame: the ``data`` of ExternalMedia, or the    |
|      |         | UUID given to the AudioSocket() dialplan application                           |
| 0x03 | DTMF    | one ASCII digit per key the caller pressed. Sending one destroys the channel   |
| 0x10 | slin    | 8 kHz audio, 320 bytes per 20 ms (on a ``format=ulaw`` channel Asterisk puts   |
|      |         | 160 µ-law bytes in it; it always reads a 0x10 it receives as slin 8 kHz)       |
| 0x12 | slin16  | 16 kHz audio, 640 bytes per 20 ms                                              |
| 0xff | error   | an optional 1-byte code. Sending one destroys the channel                      |

The last audio frame of a played file can be short (32 bytes for slin16). Other kinds (Asterisk's
headers define more slin rates) are returned as :class:`UnknownFrame` for the caller to count and
skip: the length field keeps the stream in step.

:class:`AudioSocketParser` is incremental: :meth:`~AudioSocketParser.feed` bytes as they arrive
(any split), then take frames with :meth:`~AudioSocketParser.next_frame` or
:meth:`~AudioSocketParser.frames`. A frame that cannot be what its kind says (a UUID that is not
16 bytes, an empty or non-ASCII DTMF) raises :class:`~callwright.errors.ProtocolError` *after*
being consumed, so parsing can go on with the next frame. Nothing else is ever raised.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from callwright.errors import MediaError, ProtocolError

KIND_HANGUP = 0x00
KIND_UUID = 0x01
KIND_DTMF = 0x03
KIND_SLIN = 0x10
KIND_SLIN16 = 0x12
KIND_ERROR = 0xFF

HEADER_BYTES = 3
MAX_PAYLOAD = 0xFFFF
#: Audio kinds and their sample rates.
AUDIO_KINDS: dict[int, int] = {KIND_SLIN: 8000, KIND_SLIN16: 16000}
_KIND_FOR_RATE = {rate: kind for kind, rate in AUDIO_KINDS.items()}
DTMF_DIGITS = frozenset("0123456789*#ABCDabcd")

_HEADER = struct.Struct("!BH")


@dataclass(frozen=True, slots=True)
class HangupFrame:
    kind: int = KIND_HANGUP


@dataclass(frozen=True, slots=True)
class UuidFrame:
    uuid: uuid.UUID
    kind: int = KIND_UUID


@dataclass(frozen=True, slots=True)
class DtmfFrame:
    digit: str
    kind: int = KIND_DTMF


@dataclass(frozen=True, slots=True)
class AudioFrame:
    """Audio as it came: ``payload`` is slin LE at ``sample_rate`` (or µ-law, see the table)."""

    kind: int
    sample_rate: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class ErrorFrame:
    code: int | None
    payload: bytes
    kind: int = KIND_ERROR


@dataclass(frozen=True, slots=True)
class UnknownFrame:
    kind: int
    payload: bytes


Frame = HangupFrame | UuidFrame | DtmfFrame | AudioFrame | ErrorFrame | UnknownFrame


def decode_frame(kind: int, payload: bytes) -> Frame:
    """The frame for one kind and payload. Raises ProtocolError when they do not fit."""
    if kind in AUDIO_KINDS:
        return AudioFrame(kind, AUDIO_KINDS[kind], payload)
    if kind == KIND_UUID:
        if len(payload) != 16:
            raise ProtocolError(f"AudioSocket UUID frame of {len(payload)} bytes (expected 16)")
        return UuidFrame(uuid.UUID(bytes=payload))
    if kind == KIND_DTMF:
        digit = payload.decode("ascii", errors="replace")
        if len(payload) != 1 or digit not in DTMF_DIGITS:
            raise ProtocolError(f"AudioSocket DTMF frame with payload {payload[:8].hex()!r}")
        return DtmfFrame(digit.upper())
    if kind == KIND_HANGUP:
        return HangupFrame()
    if kind == KIND_ERROR:
        return ErrorFrame(payload[0] if payload else None, payload)
    return UnknownFrame(kind, payload)


class AudioSocketParser:
    """Bytes in, frames out, for one connection."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.frames_parsed = 0

    @property
    def buffered(self) -> int:
        """Bytes received that do not make a whole frame yet."""
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def next_frame(self) -> Frame | None:
        """The next whole frame, or None until more bytes are fed.

        Raises ProtocolError for a frame that does not fit its kind (it is consumed first)."""
        if len(self._buffer) < HEADER_BYTES:
            return None
        kind, length = _HEADER.unpack_from(self._buffer)
        end = HEADER_BYTES + length
        if len(self._buffer) < end:
            return None
        payload = bytes(self._buffer[HEADER_BYTES:end])
        del self._buffer[:end]
        self.frames_parsed += 1
        return decode_frame(kind, payload)

    def frames(self) -> list[Frame]:
        """Every whole frame buffered now. Raises ProtocolError at the first bad one; the frames
        before it are lost to this call, so transports use :meth:`next_frame` instead."""
        out: list[Frame] = []
        while (frame := self.next_frame()) is not None:
            out.append(frame)
        return out

    def check_eof(self) -> None:
        """The stream ended: raise ProtocolError if it stopped inside a frame."""
        if self._buffer:
            raise ProtocolError(f"AudioSocket stream ended inside a frame ({len(self._buffer)} "
                                "bytes left over)")


# -- building frames ---------------------------------------------------------------------------


def build_frame(kind: int, payload: bytes = b"") -> bytes:
    if not 0 <= kind <= 0xFF:
        raise MediaError(f"AudioSocket kind {kind} is not one byte")
    if len(payload) > MAX_PAYLOAD:
        raise MediaError(f"AudioSocket payload of {len(payload)} bytes is over {MAX_PAYLOAD}")
    return _HEADER.pack(kind, len(payload)) + payload


def uuid_frame(value: uuid.UUID) -> bytes:
    return build_frame(KIND_UUID, value.bytes)


def audio_kind(sample_rate: int) -> int:
    """0x10 for 8 kHz, 0x12 for 16 kHz; MediaError for any other rate."""
    try:
        return _KIND_FOR_RATE[sample_rate]
    except KeyError:
        raise MediaError(f"AudioSocket carries 8000 or 16000 Hz audio, not {sample_rate}") from None


def audio_frame(pcm: bytes, sample_rate: int) -> bytes:
    """One frame of slin LE audio at ``sample_rate`` (8000 → 0x10, 16000 → 0x12)."""
    if len(pcm) % 2:
        raise MediaError(f"PCM16 audio must have an even number of bytes, got {len(pcm)}")
    return build_frame(audio_kind(sample_rate), pcm)


def dtmf_frame(digit: str) -> bytes:
    """A DTMF frame, as Asterisk sends it. Sent *to* Asterisk it destroys the channel."""
    if len(digit) != 1 or digit not in DTMF_DIGITS:
        raise MediaError(f"not a DTMF digit: {digit!r}")
    return build_frame(KIND_DTMF, digit.encode("ascii"))


def hangup_frame() -> bytes:
    """Ends the call: Asterisk destroys the channel when it receives this."""
    return build_frame(KIND_HANGUP)


def error_frame(code: int = 0x01) -> bytes:
    """An error frame (destroys the channel on Asterisk)."""
    if not 0 <= code <= 0xFF:
        raise MediaError(f"AudioSocket error code {code} is not one byte")
    return build_frame(KIND_ERROR, bytes([code]))
