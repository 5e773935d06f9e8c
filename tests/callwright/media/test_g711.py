from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from callwright.errors import MediaError
from callwright.media import g711

ALL_INT16 = np.arange(-32768, 32768, dtype=np.int64)
ALL_PCM = ALL_INT16.astype("<i2").tobytes()
ALL_CODES = bytes(range(256))

LAWS: dict[str, tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]] = {
    "ulaw": (g711.ulaw_encode, g711.ulaw_decode),
    "alaw": (g711.alaw_encode, g711.alaw_decode),
}


def pcm_of(values: list[int] | npt.NDArray[np.int64]) -> bytes:
    return np.asarray(values, dtype="<i2").tobytes()


def values_of(pcm: bytes) -> npt.NDArray[np.int64]:
    return np.frombuffer(pcm, dtype="<i2").astype(np.int64)


# Scalar references written from ITU-T G.191's description of G.711 (one's complement for
# negative samples, 14-bit µ-law / 13-bit A-law), independent of the table construction.
def ref_ulaw_encode(x: int) -> int:
    magnitude = min(((~x if x < 0 else x) >> 2) + 33, 0x1FFF)
    segment = (magnitude >> 6).bit_length()  # 0..7
    mantissa = (magnitude >> (segment + 1)) & 0x0F
    code = 0x7F - ((segment << 4) | mantissa)
    return code | 0x80 if x >= 0 else code


def ref_alaw_encode(x: int) -> int:
    ix = (~x if x < 0 else x) >> 4
    if ix > 15:
        exponent = 1
        while ix > 31:
            ix >>= 1
            exponent += 1
        ix = (ix - 16) + (exponent << 4)
    if x >= 0:
        ix |= 0x80
    return ix ^ 0x55


def ref_ulaw_decode(code: int) -> int:
    inverted = ~code & 0xFF
    segment = (inverted >> 4) & 0x07
    step = 4 << (segment + 1)
    value = (0x80 << segment) + step * (inverted & 0x0F) + step // 2 - 4 * 33
    return -value if code < 0x80 else value


def ref_alaw_decode(code: int) -> int:
    ix = (code ^ 0x55) & 0x7F
    exponent = ix >> 4
    mantissa = ix & 0x0F
    if exponent > 0:
        mantissa += 16
    mantissa = (mantissa << 4) + 8
    if exponent > 1:
        mantissa <<= exponent - 1
    return mantissa if code > 127 else -mantissa


def test_known_decoded_values() -> None:
    ulaw = values_of(g711.ulaw_decode(bytes([0xFF, 0x7F, 0x00, 0x80, 0xFE, 0x7E])))
    assert ulaw.tolist() == [0, 0, -32124, 32124, 8, -8]
    alaw = values_of(g711.alaw_decode(bytes([0xD5, 0x55, 0xAA, 0x2A])))
    assert alaw.tolist() == [8, -8, 32256, -32256]


def test_silence_bytes_match_what_asterisk_sends() -> None:
    assert g711.ulaw_encode(bytes(320)) == bytes([0xFF]) * 160
    assert g711.alaw_encode(bytes(320)) == bytes([0xD5]) * 160
    assert g711.ULAW_SILENCE == 0xFF and g711.ALAW_SILENCE == 0xD5
    # Asterisk's first ulaw packet (silence with a little noise) decodes to near-zero samples.
    asterisk = bytes.fromhex("ff7fffffff7fff7fffffff7fffffffff")
    assert set(values_of(g711.ulaw_decode(asterisk)).tolist()) == {0}


def test_full_scale_encodes_to_the_extreme_codes() -> None:
    assert g711.ulaw_encode(pcm_of([32767, -32768])) == bytes([0x80, 0x00])
    assert g711.alaw_encode(pcm_of([32767, -32768])) == bytes([0xAA, 0x2A])


@pytest.fixture(params=["audioop", "tables"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both implementations: the C audioop fast path (where present) and the numpy tables."""
    if request.param == "tables":
        monkeypatch.setattr(g711, "_audioop", None)
    elif g711._audioop is None:
        pytest.skip("platform: audioop is not available on this Python (3.13+ without audioop-lts)"
                    )
    return str(request.param)


@pytest.mark.parametrize(
    ("decode", "reference"),
    [(g711.ulaw_decode, ref_ulaw_decode), (g711.alaw_decode, ref_alaw_decode)],
)
def test_decode_is_bit_exact_for_every_code(
    decode: Callable[[bytes], bytes], reference: Callable[[int], int], backend: str
) -> None:
    assert values_of(decode(ALL_CODES)).tolist() == [reference(c) for c in range(256)]


@pytest.mark.parametrize(
    ("encode", "reference"),
    [(g711.ulaw_encode, ref_ulaw_encode), (g711.alaw_encode, ref_alaw_encode)],
)
def test_encode_is_bit_exact_for_every_int16(
    encode: Callable[[bytes], bytes], reference: Callable[[int], int], backend: str
) -> None:
    got = np.frombuffer(encode(ALL_PCM), dtype=np.uint8)
    want = np.fromiter((reference(int(x)) for x in ALL_INT16), dtype=np.uint8, count=65536)
    mismatches = np.nonzero(got != want)[0]
    assert mismatches.size == 0, f"first mismatch at {int(ALL_INT16[mismatches[0]])}"


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox is not installed")
@pytest.mark.parametrize(("law", "sox_name"), [("ulaw", "u-law"), ("alaw", "a-law")])
def test_decode_matches_sox(law: str, sox_name: str, tmp_path: Path) -> None:
    codes = tmp_path / "codes.raw"
    codes.write_bytes(ALL_CODES)
    out = tmp_path / "out.raw"
    subprocess.run(
        ["sox", "-t", "raw", "-r", "8000", "-e", sox_name, "-b", "8", "-c", "1", str(codes),
         "-t", "raw", "-e", "signed", "-b", "16", "-L", str(out)],
        check=True, capture_output=True, timeout=30,
    )
    _, decode = LAWS[law]
    assert decode(ALL_CODES) == out.read_bytes()


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_round_trip_error_is_within_half_a_step(law: str) -> None:
    encode, decode = LAWS[law]
    levels = np.unique(values_of(decode(ALL_CODES)))
    inside = ALL_INT16[(ALL_INT16 >= levels[0]) & (ALL_INT16 <= levels[-1])]
    decoded = values_of(decode(encode(pcm_of(inside))))
    error = np.abs(decoded - inside)
    # Each sample decodes to the level of its decision interval, whose width is the quantizer
    # step there: at most the wider of the gaps from that level to its neighbours.
    index = np.searchsorted(levels, decoded)
    assert np.array_equal(levels[index], decoded)
    gap_below = levels[index] - levels[np.maximum(index - 1, 0)]
    gap_above = levels[np.minimum(index + 1, len(levels) - 1)] - levels[index]
    step = np.maximum(gap_below, gap_above)
    truncation = 4 if law == "ulaw" else 8  # the low bits dropped before quantizing
    assert np.all(error <= step // 2 + truncation)
    assert error.max() >= 256  # and the bound is not trivially loose: top segment step is 1024


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_encoding_is_monotonic(law: str) -> None:
    encode, decode = LAWS[law]
    decoded = values_of(decode(encode(ALL_PCM)))
    assert np.all(np.diff(decoded) >= 0)


def test_decoded_codes_encode_back_to_themselves() -> None:
    alaw = g711.alaw_encode(g711.alaw_decode(ALL_CODES))
    assert alaw == ALL_CODES
    ulaw = g711.ulaw_encode(g711.ulaw_decode(ALL_CODES))
    # µ-law has two zeros: 0x7F (-0) decodes to 0, which encodes as 0xFF (+0).
    assert ulaw == ALL_CODES.replace(b"\x7f", b"\xff")


def test_odd_pcm_length_is_refused() -> None:
    with pytest.raises(MediaError):
        g711.ulaw_encode(b"\x00\x00\x00")
    with pytest.raises(MediaError):
        g711.alaw_encode(b"\x01")


def test_tables_are_read_only() -> None:
    with pytest.raises(ValueError):
        g711.ULAW_DECODE[0] = 1


@given(
    st.lists(st.integers(-32768, 32767), min_size=1, max_size=400),
    st.sampled_from(["ulaw", "alaw"]),
)
def test_round_trip_relative_error_property(samples: list[int], law: str) -> None:
    encode, decode = LAWS[law]
    pcm = pcm_of(samples)
    encoded = encode(pcm)
    assert len(encoded) == len(samples)
    back = values_of(decode(encoded))
    original = np.asarray(samples, dtype=np.int64)
    limit = 32124 if law == "ulaw" else 32256
    clipped = np.clip(original, -limit, limit)
    # Relative error of G.711 is at most ~1/16 above the linear segments; absolute near zero.
    assert np.all(np.abs(back - clipped) <= np.maximum(np.abs(clipped) // 16, 16))
    assert np.all(np.sign(back) * np.sign(clipped) >= 0)
