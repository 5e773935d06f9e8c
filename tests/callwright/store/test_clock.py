from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from callwright.store.clock import format_iso, ms_between, parse_iso, shift_iso, utc_now_iso

STORE_FORM = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_now_has_the_store_form_and_is_current() -> None:
    text = utc_now_iso()
    assert STORE_FORM.match(text), text
    assert abs(ms_between(text, datetime.now(UTC))) < 5000


def test_format_converts_to_utc_and_truncates_to_milliseconds() -> None:
    seoul = timezone(timedelta(hours=9))
    moment = datetime(2026, 11, 22, 14, 44, 50, 439999, tzinfo=seoul)
    assert format_iso(moment) == "2026-11-22T05:44:50.439Z"


def test_format_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_iso(datetime(2026, 1, 1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22T05:44:50.439Z", datetime(2026, 11, 22, 5, 44, 50, 439000, tzinfo=UTC)),
        ("2026-11-22T14:44:50.439+09:00", datetime(2026, 11, 22, 5, 44, 50, 439000, tzinfo=UTC)),
        ("2026-11-22 05:44:50", datetime(2026, 11, 22, 5, 44, 50, tzinfo=UTC)),
    ],
)
def test_parse_accepts_utc_offsets_and_sqlite_form(text: str, expected: datetime) -> None:
    parsed = parse_iso(text)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01T00:00:00Z"])
def test_parse_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_iso(text)


def test_round_trip() -> None:
    text = "2031-02-03T04:05:06.007Z"
    assert format_iso(parse_iso(text)) == text


def test_ms_between_is_signed_and_exact() -> None:
    a, b = "2026-11-22T05:44:50.439Z", "2026-11-22T05:45:01.000Z"
    assert ms_between(a, b) == 10561
    assert ms_between(b, a) == -10561


def test_shift_and_string_order_follows_time_order() -> None:
    start = "2026-12-31T23:59:59.999Z"
    later = shift_iso(start, ms=2)
    assert later == "2027-01-01T00:00:00.001Z"
    assert shift_iso(start, days=-365) == "2025-12-31T23:59:59.999Z"
    assert start < later
