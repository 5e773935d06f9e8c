"""G.711 µ-law and A-law (ITU-T G.711), vectorised with numpy lookup tables.

Linear audio is signed 16-bit PCM. G.711 works on 14-bit (µ-law) and 13-bit (A-law) values; the
16-bit samples are shifted down on encode and decoded values are scaled back up, as the usual
reference implementations do, so results are bit-exact with them:

Encoding follows the ITU-T G.191 reference (one's complement of negative samples before the
shift), the table search mirrors G.711's segment/decision-interval structure.

* µ-law decodes to ±32124 at most; 0xFF and 0x7F both decode to 0 (Asterisk's silence is 0xFF).
* A-law decodes to ±32256 at most; 0xD5 and 0x55 decode to +8 and -8 (Asterisk's silence is 0xD5).

Decoding (both laws) and A-law encoding use the C ``audioop`` module when it is there (the
standard library up to 3.12, the ``audioop-lts`` package from 3.13): its results are identical to
these tables (checked by the tests) and a 20 ms frame costs ~0.2 µs instead of ~3 µs of numpy
overhead. Its µ-law encoder rounds negative samples differently from G.191 (508 of 65536 values),
so µ-law encoding always uses the table.

Every table is built once at import time from the segment definitions of G.711: decoding uses a
256-entry table indexed by the code byte, encoding a 65536-entry table indexed by the int16 value
reinterpreted as uint16.
"""

from __future__ import annotations

import warnings
from types import ModuleType

import numpy as np
import numpy.typing as npt

from callwright.errors import MediaError

#: The code byte for digital silence.
ULAW_SILENCE = 0xFF
ALAW_SILENCE = 0xD5

_ULAW_BIAS = 0x84          # 132 in 16-bit units
_ULAW_BIAS_14 = 33         # the same bias in 14-bit units
_ULAW_MAX_14 = 0x1FFF      # largest biased 14-bit magnitude: segment 7, mantissa 15

Int16Array = npt.NDArray[np.int16]
UInt8Array = npt.NDArray[np.uint8]


def _segment(magnitude: npt.NDArray[np.int64], segment_ends: list[int]) -> npt.NDArray[np.int64]:
    """Index of the first segment whose end is >= ``magnitude`` (8 when above every segment)."""
    return np.searchsorted(np.asarray(segment_ends, dtype=np.int64), magnitude, side="left")


def _build_ulaw_decode() -> Int16Array:
    code = np.arange(256, dtype=np.int64)
    inverted = ~code & 0xFF
    mantissa = inverted & 0x0F
    exponent = (inverted & 0x70) >> 4
    magnitude = (((mantissa << 3) + _ULAW_BIAS) << exponent) - _ULAW_BIAS
    negative = (inverted & 0x80) != 0
    return np.where(negative, -magnitude, magnitude).astype(np.int16)


def _build_alaw_decode() -> Int16Array:
    code = np.arange(256, dtype=np.int64) ^ 0x55
    mantissa = (code & 0x0F) << 4
    exponent = (code & 0x70) >> 4
    magnitude = np.where(
        exponent == 0,
        mantissa + 8,
        (mantissa + 0x108) << np.maximum(exponent - 1, 0),
    )
    positive = (code & 0x80) != 0
    return np.where(positive, magnitude, -magnitude).astype(np.int16)


def _all_int16_by_uint16_index() -> npt.NDArray[np.int64]:
    """Every int16 value, ordered so that index ``i`` holds ``int16(uint16(i))``."""
    return np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int64)


def _build_ulaw_encode() -> UInt8Array:
    pcm = _all_int16_by_uint16_index()
    negative = pcm < 0
    # One's complement for negative values (as ITU-T G.191's reference does): -1 and 0 both
    # land on magnitude 0, so the quantizer is symmetric around -0.5.
    magnitude = np.minimum((np.where(negative, ~pcm, pcm) >> 2) + _ULAW_BIAS_14, _ULAW_MAX_14)
    segment = _segment(magnitude, [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
    mantissa = (magnitude >> (segment + 1)) & 0x0F
    mask = np.where(negative, 0x7F, 0xFF)
    code: npt.NDArray[np.int64] = ((segment << 4) | mantissa) ^ mask
    return code.astype(np.uint8)


def _build_alaw_encode() -> UInt8Array:
    pcm = _all_int16_by_uint16_index() >> 3            # arithmetic shift to 13 bits
    negative = pcm < 0
    magnitude = np.where(negative, -pcm - 1, pcm)
    segment = _segment(magnitude, [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
    shift = np.where(segment < 2, 1, np.minimum(segment, 7))
    code = np.where(segment >= 8, 0x7F, (segment << 4) | ((magnitude >> shift) & 0x0F))
    mask = np.where(negative, 0x55, 0xD5)
    return (code ^ mask).astype(np.uint8)


ULAW_DECODE: Int16Array = _build_ulaw_decode()
ALAW_DECODE: Int16Array = _build_alaw_decode()
ULAW_ENCODE: UInt8Array = _build_ulaw_encode()
ALAW_ENCODE: UInt8Array = _build_alaw_encode()
for _table in (ULAW_DECODE, ALAW_DECODE, ULAW_ENCODE, ALAW_ENCODE):
    _table.setflags(write=False)

_LE_INT16 = np.dtype("<i2")


def _check_even(pcm: bytes) -> None:
    if len(pcm) % 2:
        raise MediaError(f"PCM16 audio must have an even number of bytes, got {len(pcm)}")


def _pcm_indices(pcm: bytes) -> npt.NDArray[np.uint16]:
    _check_even(pcm)
    return np.frombuffer(pcm, dtype="<u2")


def _load_audioop() -> ModuleType | None:
    try:
        with warnings.catch_warnings():
            # Python 3.11-3.12 warn that audioop is deprecated (removed in 3.13, where the
            # audioop-lts distribution provides the same module): used only where it is bit-exact.
            warnings.simplefilter("ignore", DeprecationWarning)
            import audioop
    except ImportError:  # 3.13+ without audioop-lts: the numpy tables do everything
        return None
    return audioop


_audioop = _load_audioop()


def ulaw_decode(payload: bytes) -> bytes:
    """µ-law bytes to PCM16 little-endian."""
    if _audioop is not None:
        pcm: bytes = _audioop.ulaw2lin(payload, 2)
        return pcm
    codes = np.frombuffer(payload, dtype=np.uint8)
    return ULAW_DECODE[codes].astype(_LE_INT16, copy=False).tobytes()


def ulaw_encode(pcm: bytes) -> bytes:
    """PCM16 little-endian to µ-law bytes. Raises MediaError for an odd byte count."""
    return ULAW_ENCODE[_pcm_indices(pcm)].tobytes()


def alaw_decode(payload: bytes) -> bytes:
    """A-law bytes to PCM16 little-endian."""
    if _audioop is not None:
        pcm: bytes = _audioop.alaw2lin(payload, 2)
        return pcm
    codes = np.frombuffer(payload, dtype=np.uint8)
    return ALAW_DECODE[codes].astype(_LE_INT16, copy=False).tobytes()


def alaw_encode(pcm: bytes) -> bytes:
    """PCM16 little-endian to A-law bytes. Raises MediaError for an odd byte count."""
    if _audioop is not None:
        _check_even(pcm)
        codes: bytes = _audioop.lin2alaw(pcm, 2)
        return codes
    return ALAW_ENCODE[_pcm_indices(pcm)].tobytes()
