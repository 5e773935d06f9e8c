"""Encryption at rest for call recordings: a chunked AES-256-GCM file format (``.cwenc``).

A finished WAV is encrypted once, after the call, into ``<name>.wav.cwenc``; the plaintext is then
deleted. Every file has its own random 256-bit file key, sealed ("wrapped") in the header with the
org's current data key (:mod:`callwright.privacy.keyring`; files written before the keyring wrap
it with the instance master key, whose id is then the legacy key id), so a long-lived key never
encrypts bulk data and nonces can never repeat across files. The header names the wrapping key's
id: a file stays readable after a rotation, and :func:`reencrypt_file` rewraps it under a new key
(a temporary file renamed over the old one).

Layout (integers big-endian)::

    magic        8  b"CWENC\\r\\n\\x1a"
    version      1  1
    key_id_len   1  n
    key_id       n  the id of the key that wraps the file key (ASCII)
    chunk_size   4  plaintext bytes per chunk (64 KiB)
    plain_len    8  plaintext length
    file_nonce   8  random
    wrapped_len  2  m
    wrapped      m  the file key sealed with that key, AAD = every header byte before it
    chunk 0 .. k-1  AES-256-GCM(data key) ciphertext || 16-byte tag

Chunk ``i`` holds plaintext bytes ``[i * chunk_size, min((i + 1) * chunk_size, plain_len))``, is
sealed with nonce ``file_nonce || i`` (u32) and AAD ``header || i`` (u64). So a changed byte, a
changed header field, two swapped chunks, a chunk taken from another file or a truncated file all
fail with :class:`RecordingTampered` before any plaintext of the affected chunk is returned; the
file's size must match the header exactly. :class:`EncryptedReader` decrypts only the chunks a
read touches (HTTP Range requests).

Everything here is blocking file and crypto work: call it through ``asyncio.to_thread`` from async
code (:func:`encrypt_recording` does that for you).
"""

from __future__ import annotations

import asyncio
import os
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from callwright.privacy.keyring import Keyring
from callwright.privacy.secrets import NONCE_BYTES as SEALED_NONCE_BYTES
from callwright.privacy.secrets import TAG_BYTES as SEALED_TAG_BYTES
from callwright.privacy.secrets import DecryptionFailed, SealingKey

MAGIC = b"CWENC\r\n\x1a"
VERSION = 1
SUFFIX = ".cwenc"
CHUNK_SIZE = 64 * 1024
TAG_BYTES = 16
DATA_KEY_BYTES = 32
FILE_NONCE_BYTES = 8
_MIN_CHUNK, _MAX_CHUNK = 1024, 16 * 1024 * 1024
_MAX_WRAPPED = 512
_FIXED = struct.Struct(">IQ8sH")  # chunk_size, plain_len, file_nonce, wrapped_len
_COPY_BYTES = 1024 * 1024


class RecordingCryptoError(DecryptionFailed):
    """An encrypted recording could not be opened or read."""


class NotAnEncryptedRecording(RecordingCryptoError):
    """The file is not in the ``.cwenc`` format (or in a version this code does not know)."""


class WrongRecordingKey(RecordingCryptoError):
    """The recording was encrypted under a key this instance does not hold."""


#: What opens a recording: the key itself, or a look-up from the key id in the file's header to
#: the key (raising :class:`WrongRecordingKey` for an id it does not know).
KeySource = SealingKey | Callable[[str], SealingKey]


class RecordingTampered(RecordingCryptoError):
    """The file was altered, truncated, extended or had chunks moved."""


def encrypted_path(path: Path) -> Path:
    """Where :func:`encrypt_file` puts the encrypted form of ``path``."""
    return path.with_name(path.name + SUFFIX)


def is_encrypted(path: Path) -> bool:
    """True if ``path`` starts with the ``.cwenc`` magic."""
    try:
        with open(path, "rb") as handle:
            return handle.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def _chunk_nonce(file_nonce: bytes, index: int) -> bytes:
    return file_nonce + struct.pack(">I", index)


def _chunk_aad(header: bytes, index: int) -> bytes:
    return header + struct.pack(">Q", index)


def _chunk_count(plain_len: int, chunk_size: int) -> int:
    return -(-plain_len // chunk_size)


def _header_prefix(key_id: str, chunk_size: int, plain_len: int, file_nonce: bytes,
                   wrapped_len: int) -> bytes:
    raw_id = key_id.encode("ascii")
    return (MAGIC + bytes([VERSION, len(raw_id)]) + raw_id
            + _FIXED.pack(chunk_size, plain_len, file_nonce, wrapped_len))


def encrypt_file(
    path: Path | str, key: SealingKey, *, chunk_size: int = CHUNK_SIZE
) -> tuple[Path, str]:
    """Encrypt ``path`` into ``<path>.cwenc``, delete the plaintext; return (new path, key id).

    The encrypted file is written under a temporary name, flushed to disk, then renamed: a crash
    leaves either the plaintext alone or both files (never a half-written ``.cwenc``).
    """
    source = Path(path)
    target = encrypted_path(source)
    with open(source, "rb") as plain:
        plain_len = os.fstat(plain.fileno()).st_size

        def read(want: int) -> bytes:
            block = plain.read(want)
            if len(block) != want:
                raise RecordingCryptoError(f"{source} changed while it was encrypted")
            return block

        _write_encrypted(target, read, plain_len, key, chunk_size)
        if plain.read(1):
            target.unlink(missing_ok=True)
            raise RecordingCryptoError(f"{source} grew while it was encrypted")
    source.unlink()
    return target, key.key_id


def reencrypt_file(path: Path | str, keys: KeySource, new_key: SealingKey) -> str:
    """Rewrite the ``.cwenc`` file at ``path`` under ``new_key`` (a new file key too); return the
    key id it had. The new form is written to ``<path>.part``, flushed, then renamed over
    ``path``: a crash leaves the old file whole (and a ``.part`` that the next run replaces).
    Every chunk of the old file is authenticated before the rename."""
    source = Path(path)
    with EncryptedReader(source, keys) as reader:
        old_id = reader.key_id
        position = 0

        def read(want: int) -> bytes:
            nonlocal position
            block = reader.read(position, want)
            position += len(block)
            return block

        _write_encrypted(source, read, reader.size, new_key, reader.chunk_size)
    return old_id


def _write_encrypted(target: Path, read: Callable[[int], bytes], plain_len: int,
                     key: SealingKey, chunk_size: int) -> None:
    """Write ``plain_len`` bytes (from ``read``) encrypted to ``target`` via ``<target>.part``."""
    if not _MIN_CHUNK <= chunk_size <= _MAX_CHUNK:
        raise ValueError(f"chunk size must be {_MIN_CHUNK} to {_MAX_CHUNK} bytes")
    partial = target.with_name(target.name + ".part")
    file_key = AESGCM.generate_key(bit_length=8 * DATA_KEY_BYTES)
    aead = AESGCM(file_key)
    file_nonce = os.urandom(FILE_NONCE_BYTES)
    wrapped_len = SEALED_NONCE_BYTES + DATA_KEY_BYTES + SEALED_TAG_BYTES
    prefix = _header_prefix(key.key_id, chunk_size, plain_len, file_nonce, wrapped_len)
    wrapped = key.encrypt(file_key, prefix)
    if len(wrapped) != wrapped_len:  # the sealing format changed under us
        raise RecordingCryptoError(f"sealed key is {len(wrapped)} bytes, not {wrapped_len}")
    header = prefix + wrapped
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(header)
            for index in range(_chunk_count(plain_len, chunk_size)):
                block = read(min(chunk_size, plain_len - index * chunk_size))
                out.write(aead.encrypt(_chunk_nonce(file_nonce, index), block,
                                       _chunk_aad(header, index)))
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)


async def encrypt_recording(path: Path | str, key: SealingKey) -> tuple[Path, str]:
    """:func:`encrypt_file` in a worker thread (for the call path)."""
    return await asyncio.to_thread(encrypt_file, Path(path), key)


async def open_encrypted(path: Path | str, keyring: Keyring) -> EncryptedReader:
    """An :class:`EncryptedReader` on ``path`` with the key its header names, from ``keyring``
    (the file is read in worker threads)."""
    try:
        key = await keyring.key(await asyncio.to_thread(header_key_id, path))
    except RecordingCryptoError:
        raise
    except DecryptionFailed as exc:
        raise WrongRecordingKey(f"{path}: {exc}") from exc
    return await asyncio.to_thread(EncryptedReader, path, key)


def header_key_id(path: Path | str) -> str:
    """The id of the key that wraps the file key of the ``.cwenc`` file at ``path``."""
    with open(path, "rb") as handle:
        start = handle.read(len(MAGIC) + 2)
        if len(start) < len(MAGIC) + 2 or start[: len(MAGIC)] != MAGIC:
            raise NotAnEncryptedRecording(f"{path} is not an encrypted recording")
        raw = handle.read(start[len(MAGIC) + 1])
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise RecordingTampered(f"{path} has a damaged key id in its header") from exc


class EncryptedReader:
    """Random access to the plaintext of a ``.cwenc`` file; decrypts only the chunks it needs.

    Opening checks the magic, the key id, the sealed file key (which authenticates the header)
    and the file's size. Reads may come from several threads. Close it (or use ``with``).
    """

    def __init__(self, path: Path | str, keys: KeySource) -> None:
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_RDONLY)
        self._cache: tuple[int, bytes] | None = None
        self._lock = threading.Lock()
        try:
            self._open(keys)
        except BaseException:
            os.close(self._fd)
            raise

    def _open(self, keys: KeySource) -> None:
        start = os.pread(self._fd, len(MAGIC) + 2, 0)
        if len(start) < len(MAGIC) + 2 or start[: len(MAGIC)] != MAGIC:
            raise NotAnEncryptedRecording(f"{self.path} is not an encrypted recording")
        version, id_len = start[len(MAGIC)], start[len(MAGIC) + 1]
        if version != VERSION:
            raise NotAnEncryptedRecording(
                f"{self.path} uses encrypted-recording format version {version}; "
                f"this version of Callwright reads version {VERSION}"
            )
        fixed_at = len(MAGIC) + 2 + id_len
        rest = os.pread(self._fd, id_len + _FIXED.size, len(MAGIC) + 2)
        if len(rest) != id_len + _FIXED.size:
            raise RecordingTampered(f"{self.path} is truncated inside its header")
        try:
            self.key_id = rest[:id_len].decode("ascii")
        except UnicodeDecodeError as exc:
            raise RecordingTampered(f"{self.path} has a damaged key id in its header") from exc
        chunk_size, plain_len, file_nonce, wrapped_len = _FIXED.unpack(rest[id_len:])
        if isinstance(keys, SealingKey):
            key = keys
            if self.key_id != key.key_id:
                raise WrongRecordingKey(
                    f"{self.path} was encrypted with key {self.key_id}; the key given is "
                    f"{key.key_id}"
                )
        else:
            try:
                key = keys(self.key_id)
            except RecordingCryptoError:
                raise
            except DecryptionFailed as exc:
                raise WrongRecordingKey(f"{self.path}: {exc}") from exc
        if not _MIN_CHUNK <= chunk_size <= _MAX_CHUNK or wrapped_len > _MAX_WRAPPED:
            raise RecordingTampered(f"{self.path} has an impossible header (altered?)")
        prefix_len = fixed_at + _FIXED.size
        prefix = os.pread(self._fd, prefix_len, 0)
        wrapped = os.pread(self._fd, wrapped_len, prefix_len)
        if len(wrapped) != wrapped_len:
            raise RecordingTampered(f"{self.path} is truncated inside its header")
        try:
            data_key = key.decrypt(wrapped, prefix)
        except DecryptionFailed as exc:
            raise RecordingTampered(
                f"{self.path}: the header failed authentication (altered or damaged)"
            ) from exc
        self._header = prefix + wrapped
        self._aead = AESGCM(data_key)
        self._nonce = bytes(file_nonce)
        self.chunk_size = int(chunk_size)
        #: The plaintext length in bytes.
        self.size = int(plain_len)
        self._chunks = _chunk_count(self.size, self.chunk_size)
        expected = len(self._header) + self.size + self._chunks * TAG_BYTES
        actual = os.fstat(self._fd).st_size
        if actual < expected:
            raise RecordingTampered(
                f"{self.path} is truncated: {actual} bytes, the header promises {expected}"
            )
        if actual > expected:
            raise RecordingTampered(
                f"{self.path} has {actual - expected} unexpected bytes after its last chunk"
            )

    def _chunk(self, index: int) -> bytes:
        cached = self._cache
        if cached is not None and cached[0] == index:
            return cached[1]
        plain_start = index * self.chunk_size
        plain_len = min(self.chunk_size, self.size - plain_start)
        offset = len(self._header) + index * (self.chunk_size + TAG_BYTES)
        sealed = os.pread(self._fd, plain_len + TAG_BYTES, offset)
        if len(sealed) != plain_len + TAG_BYTES:
            raise RecordingTampered(f"{self.path} was truncated while being read")
        try:
            plain = self._aead.decrypt(_chunk_nonce(self._nonce, index), sealed,
                                       _chunk_aad(self._header, index))
        except InvalidTag as exc:
            raise RecordingTampered(
                f"{self.path}: chunk {index} failed authentication (altered, moved or replaced)"
            ) from exc
        with self._lock:
            self._cache = (index, plain)
        return plain

    def chunks(self, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        """The plaintext from ``offset`` (at most ``length`` bytes), a chunk's worth at a time."""
        if offset < 0 or (length is not None and length < 0):
            raise ValueError("offset and length must not be negative")
        end = self.size if length is None else min(self.size, offset + length)
        position = offset
        while position < end:
            index = position // self.chunk_size
            chunk = self._chunk(index)
            start = position - index * self.chunk_size
            piece = chunk[start: start + (end - position)]
            yield piece
            position += len(piece)

    def read(self, offset: int, length: int) -> bytes:
        """Plaintext bytes ``[offset, offset + length)``, cut at the end of the recording."""
        return b"".join(self.chunks(offset, length))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> EncryptedReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def decrypt_to(path: Path | str, out: Path | str, keys: KeySource) -> Path:
    """Decrypt the whole of ``path`` into ``out`` (mode 0600); return ``out``.

    Every chunk is authenticated before it is written; on any error ``out`` is removed, so a
    tampered recording never leaves a partial plaintext behind.
    """
    target = Path(out)
    with EncryptedReader(path, keys) as reader:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                for piece in reader.chunks():
                    handle.write(piece)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
    return target


def copy_plaintext(
    path: Path | str, keys: KeySource, write: Callable[[bytes], object]
) -> int:
    """Feed the plaintext of a recording (encrypted or not) to ``write``; return the bytes fed."""
    total = 0
    source = Path(path)
    if is_encrypted(source):
        with EncryptedReader(source, keys) as reader:
            for piece in reader.chunks():
                write(piece)
                total += len(piece)
        return total
    with open(source, "rb") as handle:
        while block := handle.read(_COPY_BYTES):
            write(block)
            total += len(block)
    return total


def recording_files(path: Path | str) -> list[Path]:
    """Every file a recording at ``path`` may have left: the file itself, the plaintext WAV an
    interrupted encryption left beside a ``.cwenc``, and an unfinished ``.cwenc.part``."""
    given = Path(path)
    if given.name.endswith(SUFFIX):
        plain, sealed = given.with_name(given.name[: -len(SUFFIX)]), given
    else:
        plain, sealed = given, encrypted_path(given)
    partial = sealed.with_name(sealed.name + ".part")
    return [given] + [p for p in (plain, sealed, partial) if p != given]


def remove_recording(path: Path | str) -> bool:
    """Delete a recording and its leftovers; True if the recording file itself existed.

    Raises OSError if a file exists but cannot be removed (the caller keeps its reference so a
    later run retries).
    """
    existed = False
    for index, candidate in enumerate(recording_files(path)):
        try:
            candidate.unlink()
        except FileNotFoundError:
            continue
        if index == 0:
            existed = True
    return existed
