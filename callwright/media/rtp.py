"""RTP packets (RFC 3550 section 5.1), sans-IO: bytes in, :class:`RtpPacket` out, and back.

:func:`parse_rtp` accepts anything a peer may send and raises only :class:`ProtocolError` for
bytes that are not a valid RTP packet. CSRC lists and header extensions are skipped to find the
payload; padding is stripped (its length is kept in ``RtpPacket.padding``).

:class:`RtpSender` numbers outgoing packets of one stream: a random SSRC, a random first
sequence number and timestamp, the timestamp advancing by the samples each packet carries.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

from callwright.errors import ProtocolError

RTP_VERSION = 2
HEADER_SIZE = 12
SEQ_MOD = 1 << 16
TS_MOD = 1 << 32

_HEADER = struct.Struct("!BBHII")
_AFTER_FIRST = struct.Struct("!BHII")  # marker/payload type, sequence, timestamp, SSRC
#: First octet of a plain packet: version 2, no padding, no extension, no CSRC (what Asterisk and
#: almost every endpoint send).
_PLAIN_FIRST = RTP_VERSION << 6
_EXTENSION = struct.Struct("!HH")


@dataclass(frozen=True, slots=True, kw_only=True)
class RtpPacket:
    """One RTP packet. ``padding`` is the number of padding octets (0 when the P bit is clear)."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    version: int = RTP_VERSION
    padding: int = 0
    csrcs: tuple[int, ...] = ()
    extension_profile: int | None = None
    extension_data: bytes = b""

    def __post_init__(self) -> None:
        if self.version != RTP_VERSION:
            raise ValueError(f"RTP version must be 2, got {self.version}")
        _check_range("payload_type", self.payload_type, 1 << 7)
        _check_range("sequence", self.sequence, SEQ_MOD)
        _check_range("timestamp", self.timestamp, TS_MOD)
        _check_range("ssrc", self.ssrc, TS_MOD)
        _check_range("padding", self.padding, 256)
        if len(self.csrcs) > 15:
            raise ValueError(f"at most 15 CSRCs, got {len(self.csrcs)}")
        for csrc in self.csrcs:
            _check_range("csrc", csrc, TS_MOD)
        if self.extension_profile is None:
            if self.extension_data:
                raise ValueError("extension_data needs an extension_profile")
        else:
            _check_range("extension_profile", self.extension_profile, 1 << 16)
            if len(self.extension_data) % 4 or len(self.extension_data) // 4 >= 1 << 16:
                raise ValueError("extension_data must be a multiple of 4 bytes, < 256 KiB")

    def to_bytes(self) -> bytes:
        """Serialise to the wire format (padding octets are zeros, the last one the count)."""
        first = (RTP_VERSION << 6) | len(self.csrcs)
        if self.padding:
            first |= 0x20
        if self.extension_profile is not None:
            first |= 0x10
        parts = [
            _HEADER.pack(
                first,
                (0x80 if self.marker else 0) | self.payload_type,
                self.sequence,
                self.timestamp,
                self.ssrc,
            )
        ]
        if self.csrcs:
            parts.append(struct.pack(f"!{len(self.csrcs)}I", *self.csrcs))
        if self.extension_profile is not None:
            parts.append(
                _EXTENSION.pack(self.extension_profile, len(self.extension_data) // 4)
            )
            parts.append(self.extension_data)
        parts.append(self.payload)
        if self.padding:
            parts.append(bytes(self.padding - 1) + bytes([self.padding]))
        return b"".join(parts)


def _check_range(name: str, value: int, limit: int) -> None:
    if not 0 <= value < limit:
        raise ValueError(f"{name} must be in 0..{limit - 1}, got {value}")


def build_rtp(
    payload_type: int,
    sequence: int,
    timestamp: int,
    ssrc: int,
    payload: bytes,
    *,
    marker: bool = False,
) -> bytes:
    """A plain RTP packet (no CSRC, extension or padding) as bytes. Fast path for senders."""
    if not (0 <= payload_type < 128 and 0 <= sequence < SEQ_MOD and 0 <= ssrc < TS_MOD):
        raise ValueError(f"bad payload type {payload_type}, sequence {sequence} or ssrc {ssrc}")
    return _plain_packet(payload_type, sequence, timestamp % TS_MOD, ssrc, payload, marker)


def _plain_packet(
    payload_type: int, sequence: int, timestamp: int, ssrc: int, payload: bytes, marker: bool
) -> bytes:
    """A version-2 packet without CSRC, extension or padding; the fields must be in range."""
    return _HEADER.pack(
        0x80, (0x80 | payload_type) if marker else payload_type, sequence, timestamp, ssrc
    ) + payload


def parse_plain_rtp(data: bytes) -> tuple[int, int, int, int, bytes] | None:
    """The hot path of a receiver: ``(payload_type, sequence, timestamp, ssrc, payload)`` of a
    plain packet (version 2, no padding, extension or CSRC list), else None, meaning "use
    :func:`parse_rtp`" (which validates anything else or raises). Never raises."""
    if len(data) < HEADER_SIZE or data[0] != _PLAIN_FIRST:
        return None
    second, sequence, timestamp, ssrc = _AFTER_FIRST.unpack_from(data, 1)
    return second & 0x7F, sequence, timestamp, ssrc, data[HEADER_SIZE:]


def parse_rtp(data: bytes) -> RtpPacket:
    """Parse one RTP packet. Raises ProtocolError when ``data`` is not valid RTP."""
    size = len(data)
    if size < HEADER_SIZE:
        raise ProtocolError(f"RTP packet too short: {size} bytes, the header alone is 12")
    first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
    version = first >> 6
    if version != RTP_VERSION:
        raise ProtocolError(f"not RTP: version {version}, expected 2")
    csrc_count = first & 0x0F
    offset = HEADER_SIZE + 4 * csrc_count
    if offset > size:
        raise ProtocolError(
            f"RTP CSRC list of {csrc_count} entries runs past the end of a {size}-byte packet"
        )
    csrcs = struct.unpack_from(f"!{csrc_count}I", data, HEADER_SIZE) if csrc_count else ()
    extension_profile: int | None = None
    extension_data = b""
    if first & 0x10:
        if offset + 4 > size:
            raise ProtocolError(
                f"RTP header extension runs past the end of a {size}-byte packet"
            )
        extension_profile, words = _EXTENSION.unpack_from(data, offset)
        start = offset + 4
        offset = start + 4 * words
        if offset > size:
            raise ProtocolError(
                f"RTP header extension of {words} words runs past the end of a {size}-byte packet"
            )
        extension_data = bytes(data[start:offset])
    end = size
    padding = 0
    if first & 0x20:
        padding = data[-1]
        if padding == 0 or padding > size - offset:
            raise ProtocolError(
                f"bad RTP padding length {padding}: {size - offset} bytes follow the header"
            )
        end -= padding
    return RtpPacket(
        payload_type=second & 0x7F,
        sequence=sequence,
        timestamp=timestamp,
        ssrc=ssrc,
        payload=bytes(data[offset:end]),
        marker=bool(second & 0x80),
        padding=padding,
        csrcs=tuple(csrcs),
        extension_profile=extension_profile,
        extension_data=extension_data,
    )


class RtpSender:
    """Numbers the packets of one outgoing RTP stream (sans-IO: returns bytes to send).

    SSRC, first sequence number and first timestamp are random unless given. Each
    :meth:`packet` uses the current sequence number and timestamp, then advances the sequence by
    one (wrapping at 65536) and the timestamp by the packet's sample count (wrapping at 2**32).
    """

    def __init__(
        self,
        payload_type: int,
        *,
        ssrc: int | None = None,
        first_sequence: int | None = None,
        first_timestamp: int | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not 0 <= payload_type < 128:
            raise ValueError(f"payload type must be in 0..127, got {payload_type}")
        rand = rng if rng is not None else random.SystemRandom()
        self.payload_type = payload_type
        self.ssrc = ssrc if ssrc is not None else rand.getrandbits(32)
        self._sequence = first_sequence if first_sequence is not None else rand.getrandbits(16)
        self._timestamp = first_timestamp if first_timestamp is not None else rand.getrandbits(32)
        _check_range("ssrc", self.ssrc, TS_MOD)
        _check_range("first_sequence", self._sequence, SEQ_MOD)
        _check_range("first_timestamp", self._timestamp, TS_MOD)
        self.packets_sent = 0
        self.octets_sent = 0

    @property
    def next_sequence(self) -> int:
        return self._sequence

    @property
    def next_timestamp(self) -> int:
        return self._timestamp

    def packet(self, payload: bytes, samples: int, marker: bool = False) -> bytes:
        """The next packet carrying ``payload`` (``samples`` samples long), as bytes.

        Set ``marker`` on the first packet of a talkspurt (after a silence in which nothing was
        sent).
        """
        if samples < 0:
            raise ValueError(f"samples must not be negative, got {samples}")
        # The fields are in range by construction (checked once, kept modulo their sizes).
        data = _plain_packet(
            self.payload_type, self._sequence, self._timestamp, self.ssrc, payload, marker
        )
        self._sequence = (self._sequence + 1) % SEQ_MOD
        self._timestamp = (self._timestamp + samples) % TS_MOD
        self.packets_sent += 1
        self.octets_sent += len(payload)
        return data

    def skip(self, samples: int) -> None:
        """Advance the timestamp over ``samples`` samples that were not sent (a silence gap)."""
        if samples < 0:
            raise ValueError(f"samples must not be negative, got {samples}")
        self._timestamp = (self._timestamp + samples) % TS_MOD
