"""TOTP second factor (RFC 6238, via pyotp) and one-time recovery codes.

A code is accepted in the current 30 s step or the one before or after (clock drift), and only once:
the caller keeps the last accepted step and passes it back, so a code seen over a shoulder cannot be
replayed. Recovery codes are random, shown once, stored as argon2 hashes and crossed out when used.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import pyotp

from callwright.accounts.passwords import Passwords

RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i look-alikes
STEP_SECONDS = 30
DRIFT_STEPS = 1


def new_secret() -> str:
    """A fresh base32 secret (160 bits)."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, account: str, issuer: str = "Callwright") -> str:
    """The ``otpauth://`` URI an authenticator app reads (shown as text and as a QR-free link)."""
    return str(pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer))


def normalise_code(code: str) -> str:
    return "".join(ch for ch in code if not ch.isspace() and ch != "-")


@dataclass(frozen=True)
class TotpCheck:
    ok: bool
    step: int  # the accepted time step, to store as the new "last step"; 0 when not ok


class TotpVerifier:
    """Checks 6-digit codes against a secret with a clock given at construction."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def current_code(self, secret: str) -> str:
        """The code an authenticator shows now (for tests and the simulator)."""
        return str(pyotp.TOTP(secret).at(int(self._clock())))

    def verify(self, secret: str, code: str, last_step: int) -> TotpCheck:
        code = normalise_code(code)
        if len(code) != 6 or not code.isdigit():
            return TotpCheck(False, 0)
        totp = pyotp.TOTP(secret)
        now_step = int(self._clock()) // STEP_SECONDS
        for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
            if step <= last_step:
                continue  # already used (or older than a used one): no replay
            if secrets.compare_digest(str(totp.at(step * STEP_SECONDS)), code):
                return TotpCheck(True, step)
        return TotpCheck(False, 0)


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """``count`` random codes like ``k7m2p-x9qrt`` (50 bits each)."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


class RecoveryCodes:
    """Hashing and checking recovery codes with the same argon2 hasher as passwords."""

    def __init__(self, passwords: Passwords) -> None:
        self._passwords = passwords

    async def hash_all(self, codes: list[str]) -> list[str]:
        return await asyncio.to_thread(
            lambda: [self._passwords.hash_sync(normalise_code(c).lower()) for c in codes]
        )

    async def use(self, hashes: list[str], code: str) -> list[str] | None:
        """The remaining hashes once ``code`` is crossed out, or None if it matches none."""
        wanted = normalise_code(code).lower()
        if len(wanted) != 10:
            return None

        def find() -> int:
            for index, stored in enumerate(hashes):
                if self._passwords.verify_sync(stored, wanted):
                    return index
            return -1

        index = await asyncio.to_thread(find)
        if index < 0:
            return None
        return hashes[:index] + hashes[index + 1 :]
