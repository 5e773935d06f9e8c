from __future__ import annotations

import dataclasses
import random
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callwright.errors import ProtocolError
from callwright.media.rtp import RtpPacket, RtpSender, build_rtp, parse_plain_rtp, parse_rtp

# First packets captured from Asterisk 22 (header | first payload bytes), see asterisk-facts.
ASTERISK_ULAW = bytes.fromhex("80007cc0000000a001b7d5aa" "ff7fffffff7fff7f")
ASTERISK_SLIN16 = bytes.fromhex("80761b0e0000014017af8742" "00000000")


def test_parses_asterisk_ulaw_packet() -> None:
    packet = parse_rtp(ASTERISK_ULAW)
    assert packet.version == 2
    assert packet.payload_type == 0
    assert packet.sequence == 0x7CC0
    assert packet.timestamp == 160
    assert packet.ssrc == 0x01B7D5AA
    assert packet.marker is False
    assert packet.padding == 0
    assert packet.csrcs == ()
    assert packet.extension_profile is None
    assert packet.payload == bytes.fromhex("ff7fffffff7fff7f")


def test_parses_asterisk_slin16_packet() -> None:
    packet = parse_rtp(ASTERISK_SLIN16)
    assert (packet.payload_type, packet.timestamp) == (118, 320)


def test_skips_csrcs_and_extension_and_strips_padding() -> None:
    header = bytes([0x80 | 0x20 | 0x10 | 2, 0x80 | 8]) + struct.pack("!HII", 65535, 7, 99)
    csrcs = struct.pack("!II", 1, 2)
    extension = struct.pack("!HH", 0xBEDE, 2) + b"abcdefgh"
    payload = b"PAYLOAD"
    padding = b"\x00\x00\x03"
    packet = parse_rtp(header + csrcs + extension + payload + padding)
    assert packet.marker is True
    assert packet.payload_type == 8
    assert packet.sequence == 65535
    assert packet.csrcs == (1, 2)
    assert packet.extension_profile == 0xBEDE
    assert packet.extension_data == b"abcdefgh"
    assert packet.payload == payload
    assert packet.padding == 3
    # And serialising gives the same bytes back.
    assert packet.to_bytes() == header + csrcs + extension + payload + padding


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "too short"),
        (bytes.fromhex("80000001000000a001b7d5"), "too short"),
        (bytes.fromhex("40000001000000a001b7d5aaff"), "version 1"),
        (bytes.fromhex("00000001000000a001b7d5aaff"), "version 0"),
        (bytes.fromhex("83000001000000a001b7d5aa00000001"), "CSRC list"),
        (bytes.fromhex("90000001000000a001b7d5aabede"), "extension"),
        (bytes.fromhex("90000001000000a001b7d5aabede000200000000"), "extension of 2 words"),
        (bytes.fromhex("a0000001000000a001b7d5aaff00"), "padding length 0"),
        (bytes.fromhex("a0000001000000a001b7d5aaff05"), "padding length 5"),
        (bytes.fromhex("a0000001000000a001b7d5aa"), "padding"),
    ],
)
def test_malformed_packets_raise_protocol_error(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_rtp(data)


def test_padding_may_take_the_whole_payload() -> None:
    packet = parse_rtp(bytes.fromhex("a0000001000000a001b7d5aa00000004"))
    assert packet.payload == b"" and packet.padding == 4


def test_build_rtp_matches_asterisk_header() -> None:
    data = build_rtp(0, 0x7CC0, 160, 0x01B7D5AA, bytes.fromhex("ff7fffffff7fff7f"))
    assert data == ASTERISK_ULAW
    assert build_rtp(0, 1, 2, 3, b"", marker=True)[1] == 0x80


def test_packet_validation() -> None:
    with pytest.raises(ValueError):
        RtpPacket(payload_type=128, sequence=0, timestamp=0, ssrc=0)
    with pytest.raises(ValueError):
        RtpPacket(payload_type=0, sequence=65536, timestamp=0, ssrc=0)
    with pytest.raises(ValueError):
        RtpPacket(payload_type=0, sequence=0, timestamp=0, ssrc=0, csrcs=tuple(range(16)))
    with pytest.raises(ValueError):
        RtpPacket(payload_type=0, sequence=0, timestamp=0, ssrc=0, extension_data=b"abcd")
    with pytest.raises(ValueError):
        RtpPacket(payload_type=0, sequence=0, timestamp=0, ssrc=0, extension_profile=1,
                  extension_data=b"abc")
    with pytest.raises(ValueError):
        build_rtp(0, 70000, 0, 0, b"")


def test_sender_numbers_packets() -> None:
    sender = RtpSender(0, ssrc=0x1234, first_sequence=65534, first_timestamp=2**32 - 160)
    packets = [parse_rtp(sender.packet(bytes(160), 160, marker=(i == 0))) for i in range(4)]
    assert [p.sequence for p in packets] == [65534, 65535, 0, 1]
    assert [p.timestamp for p in packets] == [2**32 - 160, 0, 160, 320]
    assert [p.marker for p in packets] == [True, False, False, False]
    assert {p.ssrc for p in packets} == {0x1234}
    assert {p.payload_type for p in packets} == {0}
    assert sender.packets_sent == 4 and sender.octets_sent == 640
    sender.skip(800)
    assert parse_rtp(sender.packet(b"x", 1)).timestamp == 480 + 800


def test_sender_randomises_ssrc_sequence_and_timestamp() -> None:
    first = [parse_rtp(RtpSender(0).packet(b"", 160)) for _ in range(8)]
    assert len({p.ssrc for p in first}) > 1
    assert len({p.sequence for p in first}) > 1
    assert len({p.timestamp for p in first}) > 1
    seeded = [RtpSender(8, rng=random.Random(7)).packet(b"a", 160) for _ in range(2)]
    assert seeded[0] == seeded[1]


def test_sender_rejects_bad_payload_type() -> None:
    with pytest.raises(ValueError):
        RtpSender(200)


packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127),
    sequence=st.integers(0, 65535),
    timestamp=st.integers(0, 2**32 - 1),
    ssrc=st.integers(0, 2**32 - 1),
    payload=st.binary(max_size=400),
    marker=st.booleans(),
    padding=st.integers(0, 255),
    csrcs=st.lists(st.integers(0, 2**32 - 1), max_size=15).map(tuple),
    extension_profile=st.none() | st.integers(0, 65535),
    extension_data=st.just(b""),
)


@given(packets, st.binary(max_size=64).map(lambda b: b[: len(b) // 4 * 4]))
def test_build_parse_round_trip(packet: RtpPacket, extension: bytes) -> None:
    if packet.extension_profile is not None:
        packet = dataclasses.replace(packet, extension_data=extension)
    assert parse_rtp(packet.to_bytes()) == packet


@given(st.binary(max_size=300))
def test_parse_random_bytes_only_raises_protocol_error(data: bytes) -> None:
    try:
        packet = parse_rtp(data)
    except ProtocolError:
        return
    assert packet.version == 2
    assert len(packet.payload) <= len(data) - 12


@given(packets, st.data())
def test_parse_truncated_or_corrupted_packets_only_raises_protocol_error(
    packet: RtpPacket, data: st.DataObject
) -> None:
    wire = bytearray(packet.to_bytes())
    cut = data.draw(st.integers(0, len(wire)))
    del wire[cut:]
    if wire:
        index = data.draw(st.integers(0, len(wire) - 1))
        wire[index] = data.draw(st.integers(0, 255))
    try:
        parse_rtp(bytes(wire))
    except ProtocolError:
        pass


@given(packets, st.binary(max_size=64).map(lambda b: b[: len(b) // 4 * 4]))
def test_plain_fast_path_agrees_with_the_full_parser(packet: RtpPacket, extension: bytes) -> None:
    """parse_plain_rtp takes only version-2 packets without padding, CSRCs or an extension, and
    reads them exactly as parse_rtp does; for anything else it defers (None)."""
    if packet.extension_profile is not None:
        packet = dataclasses.replace(packet, extension_data=extension)
    wire = packet.to_bytes()
    fields = parse_plain_rtp(wire)
    plain = not packet.padding and not packet.csrcs and packet.extension_profile is None
    if not plain:
        assert fields is None
        return
    assert fields == (
        packet.payload_type, packet.sequence, packet.timestamp, packet.ssrc, packet.payload
    )


@given(st.binary(max_size=300))
def test_plain_fast_path_never_raises_and_accepts_only_version_2(data: bytes) -> None:
    fields = parse_plain_rtp(data)
    if fields is not None:
        assert len(data) >= 12 and data[0] == 0x80
        full = parse_rtp(data)
        assert fields == (full.payload_type, full.sequence, full.timestamp, full.ssrc,
                          full.payload)
