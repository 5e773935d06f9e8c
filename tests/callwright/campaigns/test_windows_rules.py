"""Call windows in local time, zones from numbers, retries and pacing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callwright.campaigns.rules import PaceBucket, after_attempt, room
from callwright.campaigns.windows import CallWindow, contact_zone, zone_for_number


def test_zones() -> None:
    assert zone_for_number("+33123456789") == "Europe/Paris"
    assert zone_for_number("+85212345678") == "Asia/Hong_Kong"
    assert zone_for_number("+15550100199") == "America/New_York"
    assert zone_for_number("201") == "UTC" and zone_for_number("+999123456") == "UTC"
    assert contact_zone("", "Asia/Seoul", "+33123456789") == "Asia/Seoul"
    assert contact_zone("Europe/Oslo", "Asia/Seoul", "+33123456789") == "Europe/Oslo"


def test_window_in_local_time() -> None:
    window = CallWindow.parse("09:00", "17:00", "1,2,3,4,5")
    monday_0730_utc = datetime(2026, 12, 7, 7, 30, tzinfo=UTC)  # 08:30 in Paris, 16:30 Seoul
    assert not window.is_open(monday_0730_utc, "Europe/Paris")
    assert window.is_open(monday_0730_utc, "Asia/Seoul")
    assert window.next_open(monday_0730_utc, "Europe/Paris") == datetime(
        2026, 12, 7, 8, 0, tzinfo=UTC)
    friday_evening = datetime(2026, 12, 11, 18, 0, tzinfo=UTC)  # 19:00 Paris, Friday
    assert window.next_open(friday_evening, "Europe/Paris") == datetime(
        2026, 12, 14, 8, 0, tzinfo=UTC)  # Monday 09:00 Paris
    night = CallWindow.parse("20:00", "02:00", "5")  # Friday night, into Saturday
    assert night.is_open(datetime(2026, 12, 12, 0, 30, tzinfo=UTC), "UTC")
    assert not night.is_open(datetime(2026, 12, 13, 0, 30, tzinfo=UTC), "UTC")
    for bad in (("9", "17:00", "1"), ("09:00", "24:00", "1"), ("09:00", "17:00", "8"),
                ("09:00", "09:00", "1"), ("09:00", "17:00", "")):
        with pytest.raises(ValueError):
            CallWindow.parse(*bad)


def test_after_attempt() -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    assert after_attempt("answered", "", 1, 3, 30, now).status == "done"
    assert after_attempt("machine", "", 3, 3, 30, now).status == "done"
    step = after_attempt("busy", "User busy", 1, 3, 30, now)
    assert (step.status, step.next_attempt_at) == ("pending", now + timedelta(minutes=30))
    assert after_attempt("no_answer", "", 2, 3, 30, now).next_attempt_at == now + timedelta(
        minutes=60)
    assert after_attempt("no_answer", "", 3, 3, 30, now).status == "failed"
    assert after_attempt("failed", "interrupted", 1, 3, 30, now).status == "failed"


def test_pace_bucket() -> None:
    bucket = PaceBucket(60, now=0.0)
    assert bucket.available(0.0) == 1
    bucket.take(0.0)
    assert bucket.available(0.5) == 0 and bucket.available(1.0) == 1
    assert bucket.available(100.0) == 10  # at most 10 s of calls at once
    assert room(20, 18, 10) == 2 and room(20, 25, 10) == 0 and room(20, 0, 3) == 3
