"""Passwords, TOTP, recovery codes, the login rate limiter and the role table."""

from __future__ import annotations

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from callwright.accounts.passwords import PasswordPolicyError, Passwords, check_policy
from callwright.accounts.ratelimit import LoginRateLimiter
from callwright.accounts.roles import Permission, Role, allows, may_grant
from callwright.accounts.totp import (
    RecoveryCodes,
    TotpVerifier,
    new_recovery_codes,
    new_secret,
    provisioning_uri,
)

FAST = Passwords.fast_for_tests()


async def test_passwords_hash_with_argon2id_and_verify() -> None:
    stored = await FAST.hash("a long passphrase")
    assert stored.startswith("$argon2id$")
    assert await FAST.verify(stored, "a long passphrase")
    assert not await FAST.verify(stored, "a long passphrasE")
    assert not await FAST.verify("not-a-hash", "x")
    assert not await FAST.verify(None, "a long passphrase")
    assert stored != await FAST.hash("a long passphrase")  # salted
    assert Passwords().needs_rehash(stored)  # cheap test parameters would be upgraded


def test_password_policy() -> None:
    check_policy("ten chars!")
    for bad in ("short", " " * 12, "x" * 2000):
        with pytest.raises(PasswordPolicyError):
            check_policy(bad)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_totp_accepts_current_and_adjacent_steps_once() -> None:
    secret = new_secret()
    clock = Clock(1_800_000_000.0)
    verifier = TotpVerifier(clock)
    code = pyotp.TOTP(secret).at(int(clock.now))
    first = verifier.verify(secret, code, last_step=0)
    assert first.ok and first.step == int(clock.now) // 30
    assert not verifier.verify(secret, code, last_step=first.step).ok  # replay
    earlier = pyotp.TOTP(secret).at(int(clock.now) - 30)
    assert verifier.verify(secret, earlier, last_step=0).ok  # 30 s of drift
    assert not verifier.verify(secret, pyotp.TOTP(secret).at(int(clock.now) - 90), 0).ok
    assert (
        not verifier.verify(secret, "12345", 0).ok and not verifier.verify(secret, "abcdef", 0).ok
    )
    assert verifier.verify(secret, f"{code[:3]} {code[3:]}", 0).ok
    assert provisioning_uri(secret, "a@b.example").startswith("otpauth://totp/")


async def test_recovery_codes_work_once() -> None:
    codes = new_recovery_codes()
    assert len(codes) == 10 and len(set(codes)) == 10
    recovery = RecoveryCodes(FAST)
    hashes = await recovery.hash_all(codes)
    remaining = await recovery.use(hashes, codes[3].upper())
    assert remaining is not None and len(remaining) == 9
    assert await recovery.use(remaining, codes[3]) is None
    assert await recovery.use(remaining, "nope") is None


def test_rate_limiter_locks_then_unlocks() -> None:
    clock = Clock(0.0)
    limiter = LoginRateLimiter(
        per_account=3, per_address=10, window_s=60, lockout_s=300, clock=clock
    )
    assert limiter.failed("A@x.example", "1.1.1.1") is None
    assert limiter.failed("a@x.example", "1.1.1.2") is None
    lock = limiter.failed("a@x.example ", "1.1.1.3")
    assert lock is not None and "5 minutes" in lock.message
    assert limiter.check("a@x.example", "9.9.9.9") is not None
    assert limiter.check("b@x.example", "9.9.9.9") is None
    clock.now = 301
    assert limiter.check("a@x.example", "9.9.9.9") is None
    limiter.failed("c@x.example", "2.2.2.2")
    limiter.succeeded("c@x.example", "2.2.2.2")
    limiter.failed("c@x.example", "2.2.2.2")
    assert limiter.failed("c@x.example", "2.2.2.2") is None  # the success reset the count
    clock.now = 1000  # failures outside the window do not add up
    for _ in range(2):
        limiter.failed("d@x.example", "3.3.3.3")
        clock.now += 61
    assert limiter.check("d@x.example", "3.3.3.3") is None


def test_rate_limiter_per_address() -> None:
    limiter = LoginRateLimiter(per_account=100, per_address=3, clock=Clock(0.0))
    for i in range(3):
        limiter.failed(f"user{i}@x.example", "6.6.6.6")
    assert limiter.check("someone@x.example", "6.6.6.6") is not None


@given(st.sampled_from(list(Role)), st.sampled_from(list(Permission)))
def test_roles_are_ordered(role: Role, permission: Permission) -> None:
    if allows(role, permission):
        for higher in Role:
            if higher.at_least(role):
                assert allows(higher, permission)


def test_role_table_highlights() -> None:
    assert allows(Role.VIEWER, Permission.CALLS_READ)
    assert not allows(Role.VIEWER, Permission.ASSISTANTS_WRITE)
    assert not allows(Role.VIEWER, Permission.RECORDINGS_LISTEN)
    assert allows(Role.VIEWER, Permission.RECORDINGS_LISTEN, viewers_hear_recordings=True)
    assert allows(Role.EDITOR, Permission.ASSISTANTS_WRITE)
    assert not allows(Role.EDITOR, Permission.CREDENTIALS_READ)
    assert not allows(Role.ADMIN, Permission.AUDIT_READ) and allows(
        Role.OWNER, Permission.AUDIT_READ
    )
    assert may_grant(Role.ADMIN, Role.EDITOR) and not may_grant(Role.ADMIN, Role.OWNER)
    assert not may_grant(Role.EDITOR, Role.VIEWER)
    with pytest.raises(ValueError, match="unknown role"):
        Role.parse("root")
