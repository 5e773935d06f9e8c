"""Login rate limiting: too many failures for one account, or from one address, lock it out.

Failures are counted in a sliding window per key (``email:alice@example.com``, ``ip:10.0.0.7``).
When a key reaches its limit it is locked for ``lockout_s`` seconds; while locked, even a correct
password is refused, and the message says how long is left. A success clears the account's count.
The counts live in memory: one admin process guards one store.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Lockout:
    seconds_left: int

    @property
    def message(self) -> str:
        minutes = max(1, math.ceil(self.seconds_left / 60))
        unit = "minute" if minutes == 1 else "minutes"
        return (
            "Too many failed sign-in attempts. Sign-in is locked for this account or address; "
            f"try again in {minutes} {unit}."
        )


class LoginRateLimiter:
    def __init__(
        self,
        *,
        per_account: int = 5,
        per_address: int = 20,
        window_s: float = 900.0,
        lockout_s: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self._limits = {"email": per_account, "ip": per_address}
        self._window = window_s
        self._lockout = lockout_s
        self._clock = clock
        self._max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}

    @staticmethod
    def _keys(email: str, ip: str) -> list[str]:
        return [f"email:{email.strip().lower()}", f"ip:{ip}"]

    def check(self, email: str, ip: str) -> Lockout | None:
        """A :class:`Lockout` if this attempt must be refused before looking at the password."""
        now = self._clock()
        worst = 0.0
        for key in self._keys(email, ip):
            until = self._locked_until.get(key)
            if until is None:
                continue
            if until <= now:
                del self._locked_until[key]
                continue
            worst = max(worst, until - now)
        return Lockout(math.ceil(worst)) if worst > 0 else None

    def failed(self, email: str, ip: str) -> Lockout | None:
        """Count a failure; return the lockout it caused, if any."""
        now = self._clock()
        if len(self._failures) > self._max_keys:
            self._prune(now)
        result: Lockout | None = None
        for key in self._keys(email, ip):
            window = self._failures.setdefault(key, deque())
            window.append(now)
            while window and window[0] <= now - self._window:
                window.popleft()
            if len(window) >= self._limits[key.split(":", 1)[0]]:
                self._locked_until[key] = now + self._lockout
                window.clear()
                result = Lockout(math.ceil(self._lockout))
        return result

    def succeeded(self, email: str, ip: str) -> None:
        self._failures.pop(self._keys(email, ip)[0], None)

    def _prune(self, now: float) -> None:
        for key in [k for k, w in self._failures.items() if not w or w[-1] <= now - self._window]:
            del self._failures[key]
