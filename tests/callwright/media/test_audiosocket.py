"""The AudioSocket frame codec: the frames recorded from Asterisk 22.10.1, any split, garbage."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callwright.errors import MediaError, ProtocolError
from callwright.media import audiosocket as wire

CALL_UUID = uuid.UUID("19456d8c-674e-42c5-b7be-0563d79cd2ce")
# First frames of the audiosocket-slin16 run (asterisk-facts/media-measurements.jsonl).
RECORDED_UUID = bytes.fromhex("01001019456d8c674e42c5b7be0563d79cd2ce")
RECORDED_SLIN16 = bytes.fromhex("120280") + bytes(640)
RECORDED_SLIN = bytes.fromhex("100140") + bytes.fromhex("0000ffff000000000000ffff") + bytes(308)
RECORDED_DTMF = bytes.fromhex("03000131")  # '1'
RECORDED_DIALPLAN_UUID = bytes.fromhex("0100107c2a5d4e1b3f4a6e9d8c0123456789ab")


def parse_all(data: bytes, chunk: int | None = None) -> list[wire.Frame]:
    parser = wire.AudioSocketParser()
    out: list[wire.Frame] = []
    step = chunk or max(len(data), 1)
    for start in range(0, len(data), step):
        parser.feed(data[start:start + step])
        out.extend(parser.frames())
    parser.check_eof()
    return out


def test_the_recorded_frames_parse() -> None:
    stream = RECORDED_UUID + RECORDED_SLIN16 + RECORDED_DTMF + RECORDED_SLIN
    frames = parse_all(stream)
    assert frames[0] == wire.UuidFrame(CALL_UUID)
    assert frames[1] == wire.AudioFrame(0x12, 16000, bytes(640))
    assert frames[2] == wire.DtmfFrame("1")
    assert isinstance(frames[3], wire.AudioFrame)
    assert (frames[3].sample_rate, len(frames[3].payload)) == (8000, 320)
    assert parse_all(RECORDED_DIALPLAN_UUID) == [
        wire.UuidFrame(uuid.UUID("7c2a5d4e-1b3f-4a6e-9d8c-0123456789ab"))
    ]


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 641])
def test_any_split_gives_the_same_frames(chunk: int) -> None:
    stream = RECORDED_UUID + RECORDED_SLIN16 * 3 + RECORDED_DTMF
    assert parse_all(stream, chunk) == parse_all(stream)


def test_a_partial_frame_waits_for_the_rest() -> None:
    parser = wire.AudioSocketParser()
    parser.feed(RECORDED_SLIN16[:100])
    assert parser.next_frame() is None
    assert parser.buffered == 100
    parser.feed(RECORDED_SLIN16[100:])
    assert isinstance(parser.next_frame(), wire.AudioFrame)
    assert parser.buffered == 0


def test_a_stream_ending_inside_a_frame_is_a_protocol_error() -> None:
    parser = wire.AudioSocketParser()
    parser.feed(RECORDED_SLIN16[:-1])
    assert parser.next_frame() is None
    with pytest.raises(ProtocolError, match="inside a frame"):
        parser.check_eof()


def test_the_short_last_frame_of_a_file_is_kept_as_it_is() -> None:
    [frame] = parse_all(bytes.fromhex("120020") + bytes(32))
    assert frame == wire.AudioFrame(0x12, 16000, bytes(32))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x00\x00\x00", wire.HangupFrame()),
        (b"\xff\x00\x01\x01", wire.ErrorFrame(1, b"\x01")),
        (b"\xff\x00\x00", wire.ErrorFrame(None, b"")),
        (b"\x11\x00\x02ab", wire.UnknownFrame(0x11, b"ab")),
        (b"\x03\x00\x01#", wire.DtmfFrame("#")),
    ],
)
def test_other_kinds(data: bytes, expected: wire.Frame) -> None:
    assert parse_all(data) == [expected]


@pytest.mark.parametrize(
    "bad",
    [
        b"\x01\x00\x0f" + bytes(15),   # a UUID of 15 bytes
        b"\x03\x00\x00",               # DTMF without a digit
        b"\x03\x00\x02" + b"12",       # two digits
        b"\x03\x00\x01" + b"x",        # not a DTMF digit
        b"\x03\x00\x01" + b"\xff",     # not ASCII
    ],
)
def test_a_bad_frame_raises_after_being_consumed(bad: bytes) -> None:
    parser = wire.AudioSocketParser()
    parser.feed(bad + RECORDED_DTMF)
    with pytest.raises(ProtocolError):
        parser.next_frame()
    assert parser.next_frame() == wire.DtmfFrame("1"), "parsing goes on in step"


def test_builders_round_trip() -> None:
    pcm = bytes(range(256)) * 2 + bytes(128)
    assert wire.uuid_frame(CALL_UUID) == RECORDED_UUID
    assert wire.audio_frame(bytes(640), 16000) == RECORDED_SLIN16
    assert wire.dtmf_frame("1") == RECORDED_DTMF
    stream = (
        wire.uuid_frame(CALL_UUID) + wire.audio_frame(pcm, 8000) + wire.audio_frame(pcm, 16000)
        + wire.hangup_frame() + wire.error_frame(4)
    )
    assert parse_all(stream) == [
        wire.UuidFrame(CALL_UUID),
        wire.AudioFrame(0x10, 8000, pcm),
        wire.AudioFrame(0x12, 16000, pcm),
        wire.HangupFrame(),
        wire.ErrorFrame(4, b"\x04"),
    ]


def test_builders_refuse_what_the_wire_cannot_carry() -> None:
    with pytest.raises(MediaError):
        wire.audio_frame(bytes(3), 8000)
    with pytest.raises(MediaError):
        wire.audio_frame(bytes(4), 48000)
    with pytest.raises(MediaError):
        wire.build_frame(0x10, bytes(wire.MAX_PAYLOAD + 1))
    with pytest.raises(MediaError):
        wire.build_frame(256)
    with pytest.raises(MediaError):
        wire.dtmf_frame("12")
    with pytest.raises(MediaError):
        wire.error_frame(300)
    assert len(wire.build_frame(0x10, bytes(wire.MAX_PAYLOAD))) == wire.MAX_PAYLOAD + 3


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048), st.integers(min_value=1, max_value=64))
def test_random_bytes_give_frames_or_a_protocol_error(data: bytes, chunk: int) -> None:
    parser = wire.AudioSocketParser()
    for start in range(0, len(data), chunk):
        parser.feed(data[start:start + chunk])
        while True:
            try:
                frame = parser.next_frame()
            except ProtocolError:
                continue
            if frame is None:
                break
            assert isinstance(frame, wire.Frame)
    try:
        parser.check_eof()
    except ProtocolError:
        assert parser.buffered > 0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=700).map(lambda b: wire.build_frame(0x12, b)),
            st.sampled_from("0123456789*#").map(wire.dtmf_frame),
            st.uuids().map(wire.uuid_frame),
        ),
        max_size=8,
    ),
    st.integers(min_value=0, max_value=6000),
)
def test_truncated_valid_streams_give_a_prefix_of_the_frames(frames: list[bytes], cut: int) -> None:
    stream = b"".join(frames)
    whole = parse_all(stream)
    parser = wire.AudioSocketParser()
    parser.feed(stream[:cut])
    got = parser.frames()
    assert got == whole[: len(got)]
    if cut < len(stream):
        assert len(got) < len(whole) or parser.buffered == 0
