from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callwright.privacy.recording_crypto import (
    CHUNK_SIZE,
    MAGIC,
    TAG_BYTES,
    EncryptedReader,
    NotAnEncryptedRecording,
    RecordingCryptoError,
    RecordingTampered,
    WrongRecordingKey,
    copy_plaintext,
    decrypt_to,
    encrypt_file,
    encrypt_recording,
    is_encrypted,
)
from callwright.privacy.secrets import DecryptionFailed, MasterKey

SMALL_CHUNK = 1024


def write_plain(folder: Path, size: int, name: str = "call.wav") -> tuple[Path, bytes]:
    data = os.urandom(size)
    path = folder / name
    path.write_bytes(data)
    return path, data


def header_length(path: Path) -> int:
    """Total header size of a .cwenc file, read from its fields."""
    raw = path.read_bytes()
    id_len = raw[len(MAGIC) + 1]
    fixed_at = len(MAGIC) + 2 + id_len
    wrapped_len = struct.unpack(">H", raw[fixed_at + 20: fixed_at + 22])[0]
    return int(fixed_at + 22 + wrapped_len)


@pytest.mark.parametrize(
    "size", [0, 1, SMALL_CHUNK - 1, SMALL_CHUNK, SMALL_CHUNK + 1, 3 * SMALL_CHUNK + 17]
)
def test_round_trip_small_chunks(tmp_path: Path, size: int) -> None:
    key = MasterKey.generate()
    path, data = write_plain(tmp_path, size)
    new_path, key_id = encrypt_file(path, key, chunk_size=SMALL_CHUNK)
    assert new_path == tmp_path / "call.wav.cwenc" and key_id == key.key_id
    assert not path.exists(), "the plaintext must be deleted"
    assert decrypt_to(new_path, tmp_path / "out.wav", key).read_bytes() == data
    with EncryptedReader(new_path, key) as reader:
        assert reader.size == size
        assert reader.read(0, size + 100) == data


def test_default_format_hides_the_plaintext(tmp_path: Path) -> None:
    key = MasterKey.generate()
    path, data = write_plain(tmp_path, 3 * CHUNK_SIZE + 1234)
    new_path, _ = encrypt_file(path, key)
    sealed = new_path.read_bytes()
    assert sealed.startswith(MAGIC)
    assert data[:64] not in sealed and data[CHUNK_SIZE: CHUNK_SIZE + 64] not in sealed
    assert stat.S_IMODE(new_path.stat().st_mode) == 0o600
    assert len(sealed) == header_length(new_path) + len(data) + 4 * TAG_BYTES
    assert is_encrypted(new_path) and not is_encrypted(tmp_path / "missing.wav")
    out = decrypt_to(new_path, tmp_path / "plain.wav", key)
    assert out.read_bytes() == data


def test_same_plaintext_encrypts_differently(tmp_path: Path) -> None:
    key = MasterKey.generate()
    data = os.urandom(5000)
    (tmp_path / "a.wav").write_bytes(data)
    (tmp_path / "b.wav").write_bytes(data)
    a, _ = encrypt_file(tmp_path / "a.wav", key, chunk_size=SMALL_CHUNK)
    b, _ = encrypt_file(tmp_path / "b.wav", key, chunk_size=SMALL_CHUNK)
    body = header_length(a)
    assert a.read_bytes()[body:] != b.read_bytes()[body:]


def test_random_range_reads_equal_the_plaintext_slice(tmp_path: Path) -> None:
    key = MasterKey.generate()
    path, data = write_plain(tmp_path, 7 * SMALL_CHUNK + 333)
    new_path, _ = encrypt_file(path, key, chunk_size=SMALL_CHUNK)
    with EncryptedReader(new_path, key) as reader:

        @settings(max_examples=300, deadline=None)
        @given(offset=st.integers(0, len(data) + 50), length=st.integers(0, 4 * SMALL_CHUNK))
        def check(offset: int, length: int) -> None:
            assert reader.read(offset, length) == data[offset: offset + length]

        check()


def test_a_read_decrypts_only_the_chunks_it_needs(tmp_path: Path) -> None:
    key = MasterKey.generate()
    path, data = write_plain(tmp_path, 4 * SMALL_CHUNK)
    new_path, _ = encrypt_file(path, key, chunk_size=SMALL_CHUNK)
    body = header_length(new_path)
    raw = bytearray(new_path.read_bytes())
    raw[body + 3 * (SMALL_CHUNK + TAG_BYTES) + 5] ^= 0x01  # damage the last chunk only
    new_path.write_bytes(bytes(raw))
    with EncryptedReader(new_path, key) as reader:
        assert reader.read(10, 2 * SMALL_CHUNK) == data[10: 10 + 2 * SMALL_CHUNK]
        with pytest.raises(RecordingTampered, match="chunk 3"):
            reader.read(3 * SMALL_CHUNK, 10)


def test_every_changed_byte_is_detected(tmp_path: Path) -> None:
    key = MasterKey.generate()
    path, _ = encrypt_file(write_plain(tmp_path, 2 * SMALL_CHUNK + 100)[0], key,
                           chunk_size=SMALL_CHUNK)
    original = path.read_bytes()
    out = tmp_path / "out.wav"
    for position in range(len(original)):
        damaged = bytearray(original)
        damaged[position] ^= 0x80
        path.write_bytes(bytes(damaged))
        with pytest.raises(RecordingCryptoError):
            decrypt_to(path, out, key)
        assert not out.exists(), f"partial plaintext left after damage at byte {position}"


@pytest.mark.parametrize("cut", [1, TAG_BYTES, SMALL_CHUNK + TAG_BYTES, 2 * SMALL_CHUNK])
def test_truncation_is_detected(tmp_path: Path, cut: int) -> None:
    key = MasterKey.generate()
    path, _ = encrypt_file(write_plain(tmp_path, 3 * SMALL_CHUNK)[0], key,
                           chunk_size=SMALL_CHUNK)
    raw = path.read_bytes()
    path.write_bytes(raw[:-cut])
    with pytest.raises(RecordingTampered, match="truncated"):
        EncryptedReader(path, key)


def test_truncation_inside_the_header_and_appended_bytes(tmp_path: Path) -> None:
    key = MasterKey.generate()
    path, _ = encrypt_file(write_plain(tmp_path, 100)[0], key, chunk_size=SMALL_CHUNK)
    raw = path.read_bytes()
    path.write_bytes(raw[:20])
    with pytest.raises(RecordingTampered):
        EncryptedReader(path, key)
    path.write_bytes(raw[:5])
    with pytest.raises(NotAnEncryptedRecording):
        EncryptedReader(path, key)
    path.write_bytes(raw + b"\x00")
    with pytest.raises(RecordingTampered, match="unexpected bytes"):
        EncryptedReader(path, key)


def test_swapped_chunks_are_detected(tmp_path: Path) -> None:
    key = MasterKey.generate()
    path, _ = encrypt_file(write_plain(tmp_path, 3 * SMALL_CHUNK)[0], key,
                           chunk_size=SMALL_CHUNK)
    raw = path.read_bytes()
    body, step = header_length(path), SMALL_CHUNK + TAG_BYTES
    first, second = raw[body: body + step], raw[body + step: body + 2 * step]
    path.write_bytes(raw[:body] + second + first + raw[body + 2 * step:])
    with EncryptedReader(path, key) as reader, pytest.raises(RecordingTampered, match="chunk 0"):
        reader.read(0, 10)


def test_a_chunk_from_another_file_is_refused(tmp_path: Path) -> None:
    key = MasterKey.generate()
    a, _ = encrypt_file(write_plain(tmp_path, 2 * SMALL_CHUNK, "a.wav")[0], key,
                        chunk_size=SMALL_CHUNK)
    b, _ = encrypt_file(write_plain(tmp_path, 2 * SMALL_CHUNK, "b.wav")[0], key,
                        chunk_size=SMALL_CHUNK)
    body = header_length(a)
    raw_a, raw_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(raw_a[:body] + raw_b[body:])
    with EncryptedReader(a, key) as reader, pytest.raises(RecordingTampered):
        reader.read(0, 2 * SMALL_CHUNK)


def test_wrong_key_is_named(tmp_path: Path) -> None:
    key, other = MasterKey.generate(), MasterKey.generate()
    path, _ = encrypt_file(write_plain(tmp_path, 500)[0], key)
    with pytest.raises(WrongRecordingKey, match=key.key_id):
        EncryptedReader(path, other)
    with pytest.raises(DecryptionFailed):  # one base class for callers to catch
        decrypt_to(path, tmp_path / "x.wav", other)
    assert not (tmp_path / "x.wav").exists()


def test_plain_files_are_not_encrypted_recordings(tmp_path: Path) -> None:
    path, _ = write_plain(tmp_path, 2000)
    with pytest.raises(NotAnEncryptedRecording):
        EncryptedReader(path, MasterKey.generate())


def test_negative_ranges_are_refused(tmp_path: Path) -> None:
    key = MasterKey.generate()
    path, _ = encrypt_file(write_plain(tmp_path, 100)[0], key)
    with EncryptedReader(path, key) as reader:
        with pytest.raises(ValueError):
            reader.read(-1, 5)
        assert reader.read(100, 5) == b""


def test_copy_plaintext_reads_both_kinds(tmp_path: Path) -> None:
    key = MasterKey.generate()
    plain, data = write_plain(tmp_path, 3000, "plain.wav")
    sealed, _ = encrypt_file(write_plain(tmp_path, 3000, "sealed.wav")[0], key)
    got: list[bytes] = []
    assert copy_plaintext(plain, key, got.append) == 3000
    assert b"".join(got) == data
    got.clear()
    with EncryptedReader(sealed, key) as reader:
        expected = reader.read(0, reader.size)
    assert copy_plaintext(sealed, key, got.append) == 3000
    assert b"".join(got) == expected


async def test_encrypt_recording_runs_off_the_event_loop(tmp_path: Path) -> None:
    key = MasterKey.generate()
    path, data = write_plain(tmp_path, 24 * 1024 * 1024)  # ~12 min of 16 kHz stereo
    new_path, key_id = await encrypt_recording(path, key)
    assert key_id == key.key_id and not path.exists()
    with EncryptedReader(new_path, key) as reader:
        assert reader.size == len(data)
        assert reader.read(len(data) - 70_000, 80_000) == data[-70_000:]
