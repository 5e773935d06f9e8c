"""Password hashing with argon2id.

Hashing and verifying take tens of milliseconds of CPU on purpose, so the async methods run them in
a worker thread and never block the event loop.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 10
MAX_LENGTH = 1024

# A hash of a random password, verified against when the user does not exist, so that a login for
# an unknown e-mail costs the same time as one for a known e-mail.
_DUMMY_PASSWORD = "callwright-dummy-password-for-timing"


class PasswordPolicyError(ValueError):
    """A new password does not meet the policy; the message says why, for the user."""


def check_policy(password: str) -> None:
    """Raise :class:`PasswordPolicyError` if ``password`` is too short, too long or blank."""
    if len(password) < MIN_LENGTH:
        raise PasswordPolicyError(f"the password must have at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordPolicyError(f"the password must have at most {MAX_LENGTH} characters")
    if not password.strip():
        raise PasswordPolicyError("the password must not be only spaces")


class Passwords:
    """argon2id hashing with parameters chosen at construction (tests use cheaper ones)."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None

    @classmethod
    def fast_for_tests(cls) -> Passwords:
        """Cheap parameters: still argon2id, still salted, but quick. Never use in production."""
        return cls(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))

    def hash_sync(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify_sync(self, stored_hash: str, password: str) -> bool:
        try:
            return bool(self._hasher.verify(stored_hash, password))
        except VerifyMismatchError:
            return False
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        try:
            return bool(self._hasher.check_needs_rehash(stored_hash))
        except InvalidHashError:
            return True

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self.hash_sync, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """True if ``password`` matches; with no ``stored_hash``, spend the same time, say no."""
        if stored_hash is None:
            if self._dummy_hash is None:
                self._dummy_hash = await self.hash(_DUMMY_PASSWORD)
            await asyncio.to_thread(self.verify_sync, self._dummy_hash, password)
            return False
        return await asyncio.to_thread(self.verify_sync, stored_hash, password)
