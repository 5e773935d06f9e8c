"""Passwords, TOTP, recovery codes and the role table (the rate limiter: test_ratelimit.py)."""

from __future__ import annotations

import pyotp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from callwright.accounts.passwords import PasswordPolicyError, Passwords, check_policy
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
