"""Rate limiting password guesses: too many failures for one account, or from one address, lock it.

Failures are counted in a sliding window per key: at the login form the account's e-mail and the
client's address (:func:`login_keys`), and when a signed-in user confirms their password (changing
it, turning two-step sign-in off) that user and the address (:func:`password_check_keys`). When a
key reaches its limit it is locked for ``lockout_s`` seconds; while locked, even a correct password
is refused, and the message says how long is left. A success clears the first key's count.

The counts are kept in the store (:class:`~callwright.store.login_attempts.LoginAttemptRepo`), with
wall-clock times, so several admin processes share them and a restart does not reset them. Keys
are stored as digests of what they count.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from callwright.store.clock import format_iso, parse_iso
from callwright.store.login_attempts import LoginAttemptRepo

#: What a key counts, and the value it counts for (an e-mail, an address, a user id).
Key = tuple[str, str]


def login_keys(email: str, ip: str) -> list[Key]:
    """The keys a sign-in attempt counts against: the account first, then the address."""
    return [("email", email.strip().lower()), ("ip", ip)]


def password_check_keys(user_id: int, ip: str) -> list[Key]:
    """The keys a signed-in user's password confirmation counts against."""
    return [("user", str(user_id)), ("ip", ip)]


@dataclass(frozen=True)
class Lockout:
    seconds_left: int

    @property
    def retry(self) -> str:
        minutes = max(1, math.ceil(self.seconds_left / 60))
        return f"try again in {minutes} {'minute' if minutes == 1 else 'minutes'}"

    @property
    def message(self) -> str:
        return (
            "Too many failed sign-in attempts. Sign-in is locked for this account or address; "
            f"{self.retry}."
        )


class LoginRateLimiter:
    def __init__(
        self,
        store: LoginAttemptRepo,
        *,
        per_account: int = 5,
        per_address: int = 20,
        per_user: int = 5,
        window_s: float = 900.0,
        lockout_s: float = 900.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._limits = {"email": per_account, "ip": per_address, "user": per_user}
        self._window = window_s
        self._lockout = lockout_s
        self._clock = clock

    @staticmethod
    def _stored(key: Key) -> str:
        kind, value = key
        return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()[:40]}"

    @staticmethod
    def _iso(seconds: float) -> str:
        return format_iso(datetime.fromtimestamp(seconds, UTC))

    async def check(self, keys: Sequence[Key]) -> Lockout | None:
        """A :class:`Lockout` if this attempt must be refused before looking at the password."""
        now = self._clock()
        until = await self._store.locked_until([self._stored(k) for k in keys], self._iso(now))
        if until is None:
            return None
        return Lockout(max(1, math.ceil(parse_iso(until).timestamp() - now)))

    async def failed(self, keys: Sequence[Key]) -> Lockout | None:
        """Count a failure; return the lockout it caused, if any."""
        now = self._clock()
        locked = await self._store.count_failure(
            [(self._stored(k), self._limits[k[0]]) for k in keys],
            now=self._iso(now),
            window_start=self._iso(now - self._window),
            lock_until=self._iso(now + self._lockout),
        )
        return Lockout(math.ceil(self._lockout)) if locked else None

    async def succeeded(self, keys: Sequence[Key]) -> None:
        """A right password: the account's (first key's) count starts again."""
        if keys:
            await self._store.clear_failures(self._stored(keys[0]))
