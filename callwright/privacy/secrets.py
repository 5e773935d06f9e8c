"""The instance master key and authenticated encryption of small secrets (DESIGN §5).

The master key is 32 random bytes kept in a file outside the database, mode 0600. Secrets are
sealed with AES-256-GCM: a fresh random 12-byte nonce is prepended to the ciphertext (which ends
with GCM's 16-byte tag). The associated data (``aad``) binds a ciphertext to where it belongs, so
a sealed value copied to another row or another org fails to open.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from callwright.errors import CallwrightError

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16


class KeyFileError(CallwrightError):
    """The master key file is missing, unreadable, of the wrong size, or readable by others."""


class DecryptionFailed(CallwrightError):
    """A sealed value did not open: it was altered, belongs elsewhere, or needs another key."""


class SealingKey:
    """An AES-256 key that seals small values (AES-GCM) and names itself by ``key_id``.

    The master key is one; an org's data keys (:mod:`callwright.privacy.keyring`) are others.
    Its ``repr`` never shows the key."""

    __slots__ = ("_aead", "_key", "key_id")

    def __init__(self, key: bytes, key_id: str) -> None:
        if len(key) != KEY_BYTES:
            raise KeyFileError(f"a key is {KEY_BYTES} bytes, got {len(key)}")
        if not key_id or not key_id.isascii() or len(key_id) > 64:
            raise ValueError(f"a key id is 1-64 ASCII characters, got {key_id!r}")
        self._key = bytes(key)
        self._aead = AESGCM(self._key)
        self.key_id = key_id

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key_id={self.key_id!r})"

    @property
    def material(self) -> bytes:
        """The raw key, for wrapping it under another key. Never log it."""
        return self._key

    def encrypt(self, plaintext: bytes, aad: bytes) -> bytes:
        """Seal ``plaintext``: ``nonce (12 bytes) || ciphertext || tag (16 bytes)``."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, aad)

    def decrypt(self, sealed: bytes, aad: bytes) -> bytes:
        """Open a value sealed by :meth:`encrypt` with the same ``aad``.

        Raises :class:`DecryptionFailed` if a byte was changed, the ``aad`` differs (the value was
        moved to another row or org), or the value was sealed with another key.
        """
        if len(sealed) < NONCE_BYTES + TAG_BYTES:
            raise DecryptionFailed(
                f"sealed value is {len(sealed)} bytes, shorter than nonce and tag"
            )
        nonce, body = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, body, aad)
        except InvalidTag as exc:
            raise DecryptionFailed(
                f"sealed value failed authentication with key {self.key_id}: it was altered, "
                "belongs to another record, or was sealed with a different key"
            ) from exc


class MasterKey(SealingKey):
    """The instance's AES-256 key, kept in a file. Its id is the first 8 hex digits of the key's
    sha256: it names the key without revealing it."""

    __slots__ = ()

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise KeyFileError(f"a master key is {KEY_BYTES} bytes, got {len(key)}")
        super().__init__(key, hashlib.sha256(bytes(key)).hexdigest()[:8])

    @classmethod
    def generate(cls) -> MasterKey:
        """A new random key held only in memory (tests, key rotation)."""
        return cls(os.urandom(KEY_BYTES))

    @classmethod
    def load_or_create(cls, path: Path) -> MasterKey:
        """Read the key at ``path``, or create it (32 random bytes, mode 0600) if absent.

        Refuses a key file that group or others may read or write, or that is not exactly 32
        bytes: the error says what is wrong and how to fix it.
        """
        try:
            return cls._load(path)
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = os.urandom(KEY_BYTES)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it meanwhile: use theirs
            return cls._load(path)
        except OSError as exc:
            raise KeyFileError(f"cannot create master key file {path}: {exc}") from exc
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, key)
            os.fsync(fd)
        finally:
            os.close(fd)
        return cls(key)

    @classmethod
    def _load(cls, path: Path) -> MasterKey:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise KeyFileError(f"cannot open master key file {path}: {exc}") from exc
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise KeyFileError(f"master key file {path} is not a regular file")
            loose = stat.S_IMODE(info.st_mode) & 0o077
            if loose:
                raise KeyFileError(
                    f"master key file {path} has mode {stat.S_IMODE(info.st_mode):04o}: group or "
                    f"others can access it; run `chmod 600 {path}` (and consider the key exposed)"
                )
            data = os.read(fd, KEY_BYTES + 1)
        finally:
            os.close(fd)
        if len(data) != KEY_BYTES:
            raise KeyFileError(
                f"master key file {path} holds {len(data)} bytes, expected exactly {KEY_BYTES}"
            )
        return cls(data)
