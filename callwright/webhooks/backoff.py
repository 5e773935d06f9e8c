"""When a failed delivery is tried again (pure).

Exponential backoff from ``FIRST_RETRY_S``, doubling to at most ``MAX_RETRY_S``, for
``RETRY_WINDOW_S`` (24 h) after the event (or its redelivery): the last attempt is made at the
window's end, and a delivery that fails then is ``failed`` for good. With the defaults that is
about 30 attempts: after 30 s, 1, 2, 4, 8, 16 and 32 min, then hourly.
"""

from __future__ import annotations

from datetime import datetime, timedelta

FIRST_RETRY_S = 30.0
MAX_RETRY_S = 3600.0
RETRY_WINDOW_S = 24 * 3600.0


def retry_delay_s(attempts: int) -> float:
    """The wait after the ``attempts``-th failed attempt (1 for the first)."""
    exponent = max(0, min(attempts - 1, 30))
    return min(MAX_RETRY_S, FIRST_RETRY_S * float(2**exponent))


def next_attempt(attempts: int, now: datetime, expires_at: datetime) -> datetime | None:
    """When to try again after ``attempts`` failed attempts, or None to give up (the window
    is over)."""
    if now >= expires_at:
        return None
    return min(now + timedelta(seconds=retry_delay_s(attempts)), expires_at)


def window_end(start: datetime) -> datetime:
    return start + timedelta(seconds=RETRY_WINDOW_S)
