"""The password-guess rate limiter, with its counts in the store (issue 9: lock-outs survive a
restart and are shared by several admin processes)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from callwright.accounts.ratelimit import LoginRateLimiter, login_keys, password_check_keys
from callwright.store.db import Database
from callwright.store.login_attempts import LoginAttemptRepo


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    opened = await Database.open(tmp_path / "limits.db")
    yield opened
    await opened.close()


def _limiter(db: Database, clock: Clock, **limits: Any) -> LoginRateLimiter:
    return LoginRateLimiter(LoginAttemptRepo(db), clock=clock, **limits)


async def test_rate_limiter_locks_then_unlocks(db: Database) -> None:
    clock = Clock(1_800_000_000.0)
    limiter = _limiter(db, clock, per_account=3, per_address=10, window_s=60, lockout_s=300)
    assert await limiter.failed(login_keys("A@x.example", "1.1.1.1")) is None
    assert await limiter.failed(login_keys("a@x.example", "1.1.1.2")) is None
    lock = await limiter.failed(login_keys("a@x.example ", "1.1.1.3"))
    assert lock is not None and "5 minutes" in lock.message
    assert await limiter.check(login_keys("a@x.example", "9.9.9.9")) is not None
    assert await limiter.check(login_keys("b@x.example", "9.9.9.9")) is None
    clock.now += 301
    assert await limiter.check(login_keys("a@x.example", "9.9.9.9")) is None
    c = login_keys("c@x.example", "2.2.2.2")
    await limiter.failed(c)
    await limiter.succeeded(c)
    await limiter.failed(c)
    assert await limiter.failed(c) is None  # the success reset the count
    clock.now += 1000  # failures outside the window do not add up
    for _ in range(2):
        await limiter.failed(login_keys("d@x.example", "3.3.3.3"))
        clock.now += 61
    assert await limiter.check(login_keys("d@x.example", "3.3.3.3")) is None


async def test_rate_limiter_per_address(db: Database) -> None:
    limiter = _limiter(db, Clock(1_800_000_000.0), per_account=100, per_address=3)
    for i in range(3):
        await limiter.failed(login_keys(f"user{i}@x.example", "6.6.6.6"))
    assert await limiter.check(login_keys("someone@x.example", "6.6.6.6")) is not None


async def test_lockouts_are_shared_and_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    clock = Clock(1_800_000_000.0)
    first = await Database.open(path)
    second = await Database.open(path)  # another admin process on the same store
    try:
        one = _limiter(first, clock, per_account=4)
        two = _limiter(second, clock, per_account=4)
        keys = login_keys("ann@x.example", "10.0.0.1")
        await one.failed(keys)
        await two.failed(keys)
        await one.failed(keys)
        assert await two.failed(keys) is not None  # four failures, whichever process saw them
        assert await one.check(keys) is not None
    finally:
        await first.close()
        await second.close()
    restarted = await Database.open(path)
    try:
        lock = await _limiter(restarted, clock, per_account=4).check(keys)
        assert lock is not None and lock.seconds_left == 900
        clock.now += 900
        assert await _limiter(restarted, clock).check(keys) is None
    finally:
        await restarted.close()


async def test_stored_keys_are_digests(db: Database) -> None:
    limiter = _limiter(db, Clock(1_800_000_000.0))
    await limiter.failed(login_keys("secret.person@x.example", "203.0.113.9"))
    await limiter.failed(password_check_keys(42, "203.0.113.9"))
    keys = [r["key"] for r in await db.fetch_all("SELECT key FROM login_failures")]
    assert len(keys) == 4 and {k.split(":")[0] for k in keys} == {"email", "ip", "user"}
    assert not any("secret" in k or "203.0" in k or k.endswith(":42") for k in keys)


async def test_password_checks_count_apart_from_sign_in(db: Database) -> None:
    limiter = _limiter(db, Clock(1_800_000_000.0), per_user=2)
    await limiter.failed(password_check_keys(7, "10.0.0.2"))
    assert await limiter.failed(password_check_keys(7, "10.0.0.2")) is not None
    assert await limiter.check(password_check_keys(7, "10.0.0.3")) is not None
    assert await limiter.check(password_check_keys(8, "10.0.0.3")) is None
    assert await limiter.check(login_keys("seven@x.example", "10.0.0.3")) is None
