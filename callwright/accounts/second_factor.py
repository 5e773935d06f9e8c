"""Enrolling, checking and removing a user's TOTP second factor and recovery codes.

The TOTP secret is sealed with the instance master key, bound to the user's row (the associated
data), so a sealed secret copied onto another user does not open.
"""

from __future__ import annotations

from dataclasses import dataclass

from callwright.accounts.totp import (
    RecoveryCodes,
    TotpVerifier,
    new_recovery_codes,
    new_secret,
    provisioning_uri,
)
from callwright.privacy.secrets import MasterKey
from callwright.store.users import User, UserRepo


def totp_aad(user_id: int) -> bytes:
    return f"users.totp_secret:{user_id}".encode()


@dataclass(frozen=True)
class Enrollment:
    secret: str
    uri: str


class SecondFactor:
    def __init__(
        self,
        users: UserRepo,
        master_key: MasterKey,
        verifier: TotpVerifier,
        recovery: RecoveryCodes,
    ) -> None:
        self._users = users
        self._key = master_key
        self._verifier = verifier
        self._recovery = recovery

    def _open(self, user_id: int, sealed: bytes) -> str:
        return self._key.decrypt(sealed, totp_aad(user_id)).decode()

    async def begin(self, user: User) -> Enrollment:
        """A new pending secret for ``user`` (replacing any earlier pending one)."""
        secret = new_secret()
        sealed = self._key.encrypt(secret.encode(), totp_aad(user.id))
        await self._users.set_totp_pending(user.id, sealed)
        return Enrollment(secret, provisioning_uri(secret, user.email))

    def pending(self, user: User) -> Enrollment | None:
        if user.totp_pending_enc is None:
            return None
        secret = self._open(user.id, user.totp_pending_enc)
        return Enrollment(secret, provisioning_uri(secret, user.email))

    async def confirm(self, user: User, code: str) -> list[str] | None:
        """Turn the pending secret on if ``code`` matches it; return the new recovery codes."""
        enrollment = self.pending(user)
        if enrollment is None:
            return None
        check = self._verifier.verify(enrollment.secret, code, 0)
        if not check.ok:
            return None
        codes = new_recovery_codes()
        hashes = await self._recovery.hash_all(codes)
        sealed = self._key.encrypt(enrollment.secret.encode(), totp_aad(user.id))
        await self._users.enable_totp(user.id, sealed, check.step, hashes)
        return codes

    async def check(self, user: User, code: str) -> str | None:
        """How ``code`` was accepted ("totp" or "recovery"), or None if it was not."""
        if user.totp_secret_enc is None:
            return None
        stripped = code.strip()
        if len(stripped.replace(" ", "")) == 6:
            result = self._verifier.verify(
                self._open(user.id, user.totp_secret_enc), stripped, user.totp_last_step
            )
            if result.ok and await self._users.use_totp_step(user.id, result.step):
                return "totp"
            return None
        remaining = await self._recovery.use(user.recovery_hashes, stripped)
        if remaining is not None and await self._users.replace_recovery_hashes(
            user.id, user.recovery_hashes, remaining
        ):
            return "recovery"
        return None

    async def new_recovery_codes(self, user: User) -> list[str]:
        codes = new_recovery_codes()
        hashes = await self._recovery.hash_all(codes)
        await self._users.set_recovery_hashes(user.id, hashes)
        return codes

    async def remove(self, user: User) -> None:
        await self._users.disable_totp(user.id)
