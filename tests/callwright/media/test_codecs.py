from __future__ import annotations

import numpy as np
import pytest

from callwright.errors import ConfigError, MediaError, ProtocolError
from callwright.media import codecs
from callwright.media.codecs import check_rtp_send_format, codec_for, codec_for_payload_type

# Asterisk's first slin packet payload (big-endian samples 0, -1, 0, 0, 0, -1, ...).
ASTERISK_SLIN_PAYLOAD = bytes.fromhex(
    "0000ffff000000000000ffff0000ffff" "000000000000ffff0000000000010000"
)


def ramp(samples: int) -> bytes:
    return (np.arange(samples, dtype=np.int64) * 97 - 15000).astype("<i2").tobytes()


@pytest.mark.parametrize(
    ("name", "endian", "rate", "pt", "frame_bytes"),
    [
        ("ulaw", "big", 8000, 0, 160),
        ("alaw", "big", 8000, 8, 160),
        ("slin", "big", 8000, 10, 320),
        ("slin16", "big", 16000, 118, 640),
        ("slin", "little", 8000, None, 320),
        ("slin16", "little", 16000, None, 640),
    ],
)
def test_codec_table(name: str, endian: str, rate: int, pt: int | None, frame_bytes: int) -> None:
    codec = codec_for(name, endian=endian)  # type: ignore[arg-type]
    assert codec.name == name
    assert codec.sample_rate == rate
    assert codec.payload_type == pt
    assert codec.bytes_per_frame(20) == frame_bytes
    assert len(codec.silence(20)) == frame_bytes
    # Silence decodes to 20 ms of (near) zero: A-law has no zero level, 0xD5 is +8.
    decoded = np.frombuffer(codec.decode(codec.silence(20)), dtype="<i2")
    assert decoded.size == rate // 50
    assert set(decoded.tolist()) == ({8} if name == "alaw" else {0})


def test_silence_payloads_are_what_asterisk_sends() -> None:
    assert codec_for("ulaw").silence(20) == b"\xff" * 160
    assert codec_for("alaw").silence(20) == b"\xd5" * 160
    assert codec_for("slin").silence(10) == bytes(160)


def test_slin_over_rtp_is_big_endian() -> None:
    pcm = codec_for("slin").decode(ASTERISK_SLIN_PAYLOAD)
    samples = np.frombuffer(pcm, dtype="<i2").tolist()
    assert samples[:6] == [0, -1, 0, 0, 0, -1]
    assert samples[-2] == 1
    assert codec_for("slin").encode(pcm) == ASTERISK_SLIN_PAYLOAD


def test_little_endian_slin_passes_bytes_through() -> None:
    pcm = ramp(320)
    le = codec_for("slin16", endian="little")
    assert le.encode(pcm) == pcm
    assert le.decode(pcm) == pcm
    be = codec_for("slin16").encode(pcm)
    assert be != pcm and be[0::2] == pcm[1::2] and be[1::2] == pcm[0::2]


@pytest.mark.parametrize("name", ["ulaw", "alaw", "slin", "slin16"])
def test_encode_decode_round_trip(name: str) -> None:
    codec = codec_for(name)
    pcm = ramp(codec.sample_rate // 50)
    back = np.frombuffer(codec.decode(codec.encode(pcm)), dtype="<i2").astype(np.int64)
    original = np.frombuffer(pcm, dtype="<i2").astype(np.int64)
    tolerance = 0 if name.startswith("slin") else np.maximum(np.abs(original) // 16, 16)
    assert np.all(np.abs(back - original) <= tolerance)


def test_payload_types() -> None:
    assert codec_for_payload_type(0) is codecs.ULAW
    assert codec_for_payload_type(8) is codecs.ALAW
    assert codec_for_payload_type(10) is codecs.SLIN
    assert codec_for_payload_type(11) is codecs.SLIN
    assert codec_for_payload_type(118) is codecs.SLIN16
    assert codec_for_payload_type(101) is None  # telephone-event: not audio
    assert codec_for_payload_type(13) is None


def test_odd_lengths() -> None:
    with pytest.raises(ProtocolError):
        codec_for("slin").decode(b"\x00\x01\x02")
    with pytest.raises(MediaError):
        codec_for("slin").encode(b"\x00")
    with pytest.raises(MediaError):
        codec_for("ulaw").encode(b"\x00")
    # µ-law payloads of any length decode (Asterisk's last frame of a file can be 8 bytes).
    assert len(codec_for("ulaw").decode(b"\xff" * 8)) == 16


def test_unknown_format_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        codec_for("g729")
    assert info.value.key == "media.format"
    with pytest.raises(ConfigError):
        codec_for("slin", endian="middle")  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["ulaw", "alaw", "slin"])
def test_rtp_send_formats_accepted(fmt: str) -> None:
    check_rtp_send_format(fmt)


def test_slin16_over_rtp_is_refused_with_the_reason() -> None:
    with pytest.raises(ConfigError) as info:
        check_rtp_send_format("slin16")
    assert info.value.key == "media.format"
    message = str(info.value)
    assert "118" in message
    assert "drops" in message
    assert "AudioSocket" in message and "WebSocket" in message


def test_unknown_rtp_format_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        check_rtp_send_format("opus")
    assert info.value.key == "media.format"


def test_bytes_per_frame_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        codec_for("ulaw").bytes_per_frame(0)
