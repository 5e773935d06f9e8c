"""What a campaign does after an attempt, and how fast it may call (sans-IO).

* :func:`after_attempt`: ``answered``/``machine`` -> the contact is done; ``busy``,
  ``no_answer``, ``congestion`` and ``failed`` -> another attempt after
  ``retry_minutes * 2**(attempts-1)`` while attempts remain, else failed; an attempt
  ``interrupted`` (the node placing it stopped: the callee may have been called) -> failed,
  never called twice.
* :class:`PaceBucket`: calls per minute as a token bucket (at most 10 s of calls at once),
  with ``max_concurrent`` calls in progress.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from callwright.outbound.dial_result import RETRYABLE


@dataclass(frozen=True, slots=True)
class NextStep:
    status: str                       # "pending" (retry), "done" or "failed"
    next_attempt_at: datetime | None = None


def after_attempt(
    outcome: str, cause_text: str, attempts: int, max_attempts: int, retry_minutes: int,
    now: datetime,
) -> NextStep:
    if outcome in ("answered", "machine"):
        return NextStep("done")
    if cause_text == "interrupted" or outcome not in RETRYABLE or attempts >= max_attempts:
        return NextStep("failed")
    wait = timedelta(minutes=retry_minutes * 2 ** max(0, attempts - 1))
    return NextStep("pending", now + wait)


class PaceBucket:
    """Calls per minute: a token bucket refilled at ``per_minute / 60`` a second."""

    def __init__(self, per_minute: int, now: float, burst_s: float = 10.0) -> None:
        self.per_minute = per_minute
        self.capacity = max(1.0, per_minute * burst_s / 60.0)
        self._tokens = 1.0
        self._at = now

    def _refill(self, now: float) -> None:
        self._tokens = min(self.capacity,
                           self._tokens + (now - self._at) * self.per_minute / 60.0)
        self._at = now

    def available(self, now: float) -> int:
        self._refill(now)
        return int(self._tokens)

    def take(self, now: float, n: int = 1) -> None:
        self._refill(now)
        self._tokens -= n


def room(max_concurrent: int, calling: int, bucket_tokens: int) -> int:
    return max(0, min(max_concurrent - calling, bucket_tokens))
