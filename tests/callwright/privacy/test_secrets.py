from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from callwright.privacy.secrets import DecryptionFailed, KeyFileError, MasterKey


def test_creates_a_key_file_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "master.key"
    key = MasterKey.load_or_create(path)
    data = path.read_bytes()
    assert len(data) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key.key_id == hashlib.sha256(data).hexdigest()[:8]


def test_loads_the_same_key_again(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    first = MasterKey.load_or_create(path)
    second = MasterKey.load_or_create(path)
    assert first.key_id == second.key_id
    sealed = first.encrypt(b"hello", b"aad")
    assert second.decrypt(sealed, b"aad") == b"hello"


def test_new_keys_are_random(tmp_path: Path) -> None:
    a = MasterKey.load_or_create(tmp_path / "a.key")
    b = MasterKey.load_or_create(tmp_path / "b.key")
    assert a.key_id != b.key_id


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_refuses_a_key_file_others_can_read(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "master.key"
    MasterKey.load_or_create(path)
    os.chmod(path, mode)
    with pytest.raises(KeyFileError, match="chmod 600"):
        MasterKey.load_or_create(path)


def test_refuses_a_key_file_of_the_wrong_size(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_bytes(b"x" * 31)
    os.chmod(path, 0o600)
    with pytest.raises(KeyFileError, match="31 bytes"):
        MasterKey.load_or_create(path)


def test_repr_does_not_show_the_key(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    key = MasterKey.load_or_create(path)
    raw = path.read_bytes()
    assert raw.hex() not in repr(key)
    assert repr(key) == f"MasterKey(key_id={key.key_id!r})"


def test_round_trip_with_random_nonce() -> None:
    key = MasterKey.generate()
    one = key.encrypt(b"sk-secret", b"org:1")
    two = key.encrypt(b"sk-secret", b"org:1")
    assert one != two  # fresh nonce each time
    assert len(one) == 12 + len(b"sk-secret") + 16
    assert b"sk-secret" not in one
    assert key.decrypt(one, b"org:1") == b"sk-secret"
    assert key.decrypt(two, b"org:1") == b"sk-secret"


@pytest.mark.parametrize("position", [0, 11, 12, 20, -1])
def test_detects_tampering(position: int) -> None:
    key = MasterKey.generate()
    sealed = bytearray(key.encrypt(b"sk-secret-value", b"aad"))
    sealed[position] ^= 0x01
    with pytest.raises(DecryptionFailed, match="altered"):
        key.decrypt(bytes(sealed), b"aad")


def test_wrong_aad_or_key_fails() -> None:
    key = MasterKey.generate()
    sealed = key.encrypt(b"secret", b"org:1")
    with pytest.raises(DecryptionFailed):
        key.decrypt(sealed, b"org:2")
    with pytest.raises(DecryptionFailed):
        MasterKey.generate().decrypt(sealed, b"org:1")


def test_truncated_value_fails_clearly() -> None:
    with pytest.raises(DecryptionFailed, match="shorter"):
        MasterKey.generate().decrypt(b"\x00" * 27, b"")


def test_key_must_be_32_bytes() -> None:
    with pytest.raises(KeyFileError):
        MasterKey(b"short")
