"""Time as the store writes it: UTC ISO-8601 strings with millisecond precision.

Every timestamp column holds text like ``"2026-11-22T05:44:50.439Z"``: always UTC, always exactly
three fractional digits and a ``Z``. That fixed shape makes string order equal time order, so
``ORDER BY started_at`` and ``WHERE started_at < ?`` work on the text directly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta

_ONE_MS = timedelta(milliseconds=1)
#: Set while the store's write queue applies a write it held back (the store was locked): the
#: write's "now" stays when it was made (see :func:`writing_as_of`).
_WRITE_TIME: ContextVar[str | None] = ContextVar("callwright_store_write_time", default=None)


def utc_now() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


def format_iso(moment: datetime) -> str:
    """``moment`` as the store's text form. A naive datetime is refused (its zone is unknown)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"cannot format a naive datetime {moment!r}: give it a time zone")
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def utc_now_iso() -> str:
    """The current UTC time as ``"YYYY-MM-DDTHH:MM:SS.mmmZ"``, or, inside
    :func:`writing_as_of`, the time given there."""
    stamp = _WRITE_TIME.get()
    return stamp if stamp is not None else format_iso(utc_now())


@contextlib.contextmanager
def writing_as_of(stamp: str) -> Iterator[None]:
    """Within the block (in this task, and tasks it starts), :func:`utc_now_iso` is ``stamp``:
    a write delayed by a locked store stores the time it was made (a call's start, its end)."""
    token = _WRITE_TIME.set(stamp)
    try:
        yield
    finally:
        _WRITE_TIME.reset(token)


def parse_iso(text: str) -> datetime:
    """Parse an ISO-8601 timestamp into an aware UTC datetime.

    Accepts the store's own form, any explicit offset (``+09:00``), and, as UTC, a timestamp with
    no zone at all (SQLite's ``datetime('now')`` writes UTC that way). Raises ``ValueError`` on
    anything else.
    """
    cleaned = text.strip()
    if not cleaned:
        raise ValueError("empty timestamp")
    try:
        moment = datetime.fromisoformat(cleaned)
    except ValueError as exc:
        raise ValueError(f"not an ISO-8601 timestamp: {text!r}") from exc
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def ms_between(start: str | datetime, end: str | datetime) -> int:
    """Milliseconds from ``start`` to ``end`` (negative when ``end`` is earlier), rounded."""
    a = parse_iso(start) if isinstance(start, str) else start
    b = parse_iso(end) if isinstance(end, str) else end
    return round((b - a) / _ONE_MS)


def shift_iso(text: str, *, days: float = 0, ms: int = 0) -> str:
    """``text`` moved by ``days`` and ``ms`` (either may be negative), in the store's form."""
    return format_iso(parse_iso(text) + timedelta(days=days, milliseconds=ms))
