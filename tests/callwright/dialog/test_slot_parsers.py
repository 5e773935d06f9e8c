"""Parsing numbers, digit strings, dates and times (English and Korean)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callwright.dialog.spoken_dates import parse_date, parse_datetime, parse_time
from callwright.dialog.spoken_numbers import numbers_in, parse_digits, parse_number

ClockFactory = Callable[..., datetime]


@pytest.fixture
def make_now() -> ClockFactory:
    """A fixed 'now': Wednesday 12 March 2025, 10:00 unless told otherwise."""

    def make(day: int = 12, hour: int = 10, month: int = 3) -> datetime:
        return datetime(2025, month, day, hour, 0)

    return make


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("23", 23),
        ("twenty three", 23),
        ("twenty-three", 23),
        ("a hundred and five", 105),
        ("one thousand two hundred", 1200),
        ("1,234", 1234),
        ("we are four people", 4),
        ("zero", 0),
        ("스물셋", 23),
        ("이십삼", 23),
        ("백오", 105),
        ("이만 삼천", 23000),
        ("세 명이요", 3),
        ("스물 세 명", 23),
        ("열두 명", 12),
        ("스무 명", 20),
        ("네 명", 4),
        ("4명", 4),
        ("여섯 명입니다", 6),
    ],
)
def test_numbers(text: str, expected: int) -> None:
    assert parse_number(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "hello", "four, no, five", "네", "사람", "오후", "일요일", "two or three"],
)
def test_no_single_number(text: str) -> None:
    assert parse_number(text) is None


def test_numbers_in_keeps_every_number_in_order() -> None:
    assert numbers_in("four, no, five") == [4, 5]
    assert numbers_in("one two three") == [1, 2, 3]
    assert numbers_in("3월 5일") == [3, 5]
    assert numbers_in("nineteen hundred and five") == [1905]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("one two three", "123"),
        ("oh double five", "055"),
        ("my pin is four five six seven", "4567"),
        ("1 2 3 4", "1234"),
        ("0123", "0123"),
        ("twenty one", "21"),
        ("triple nine", "999"),
        ("일 이 삼", "123"),
        ("공일공", "010"),
        ("삼 사 오요", "345"),
        ("하나 둘 셋", "123"),
    ],
)
def test_digits(text: str, expected: str) -> None:
    assert parse_digits(text) == expected


def test_no_digits() -> None:
    assert parse_digits("I don't know") is None
    assert parse_digits("") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tomorrow at 3 pm", datetime(2025, 3, 13, 15, 0)),
        ("this friday at 7:30", datetime(2025, 3, 14, 19, 30)),
        ("next monday at 10 am", datetime(2025, 3, 17, 10, 0)),
        ("march 5th at half past two", datetime(2026, 3, 5, 14, 30)),  # past: next year
        ("the fifth of april at 10 am", datetime(2025, 4, 5, 10, 0)),
        ("the day after tomorrow at 9 in the morning", datetime(2025, 3, 14, 9, 0)),
        ("tomorrow at noon", datetime(2025, 3, 13, 12, 0)),
        ("tonight at eight", datetime(2025, 3, 12, 20, 0)),
        ("a table for four tomorrow at 7", datetime(2025, 3, 13, 19, 0)),
        ("2025-04-01 15:00", datetime(2025, 4, 1, 15, 0)),
        ("quarter to four", datetime(2025, 3, 12, 15, 45)),
        ("at 9 am", datetime(2025, 3, 13, 9, 0)),  # 9 am has passed today: tomorrow
        ("3월 5일 오후 3시", datetime(2026, 3, 5, 15, 0)),
        ("4월 1일 오전 10시 30분", datetime(2025, 4, 1, 10, 30)),
        ("다음 주 월요일 세 시 반", datetime(2025, 3, 17, 15, 30)),
        ("내일 오전 열한 시", datetime(2025, 3, 13, 11, 0)),
        ("모레 저녁 일곱시", datetime(2025, 3, 14, 19, 0)),
        ("이번 주 금요일 오후 두시", datetime(2025, 3, 14, 14, 0)),
        ("다음 달 5일 두 시", datetime(2025, 4, 5, 14, 0)),
        ("21일 정오", datetime(2025, 3, 21, 12, 0)),
        ("오늘 밤 열한 시", datetime(2025, 3, 12, 23, 0)),
    ],
)
def test_datetimes(text: str, expected: datetime, make_now: ClockFactory) -> None:
    assert parse_datetime(text, make_now()) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("next monday", date(2025, 3, 17)),
        ("monday", date(2025, 3, 17)),
        ("wednesday", date(2025, 3, 12)),  # today counts
        ("next wednesday", date(2025, 3, 19)),
        ("on the 20th", date(2025, 3, 20)),
        ("the tenth", date(2025, 4, 10)),  # passed this month: next month
        ("march twenty first", date(2025, 3, 21)),
        ("5 june 2026", date(2026, 6, 5)),
        ("today", date(2025, 3, 12)),
        ("십일일", date(2025, 4, 11)),
        ("십일", date(2025, 4, 10)),
        ("삼월 이십일", date(2025, 3, 20)),
        ("일요일", date(2025, 3, 16)),
        ("다다음 주 화요일", date(2025, 3, 25)),
    ],
)
def test_dates(text: str, expected: date, make_now: ClockFactory) -> None:
    assert parse_date(text, make_now()) == expected


def test_this_weekday_already_past_means_next_week(make_now: ClockFactory) -> None:
    saturday = make_now(day=15)
    assert parse_date("this friday", saturday) == date(2025, 3, 21)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3 pm", time(15, 0)),
        ("three thirty pm", time(15, 30)),
        ("at 3", time(15, 0)),  # 1-7 without am/pm: afternoon
        ("at 9", time(9, 0)),
        ("8 p.m.", time(20, 0)),
        ("12 am", time(0, 0)),
        ("midnight", time(0, 0)),
        ("half past eleven in the morning", time(11, 30)),
        ("ten fifteen", time(10, 15)),
        ("세 시", time(15, 0)),
        ("오전 아홉 시 반", time(9, 30)),
        ("새벽 두 시", time(2, 0)),
        ("밤 12시", time(0, 0)),
        ("15시 45분", time(15, 45)),
        ("자정", time(0, 0)),
    ],
)
def test_times(text: str, expected: time) -> None:
    assert parse_time(text) == expected


def test_no_date_or_time(make_now: ClockFactory) -> None:
    now = make_now()
    assert parse_datetime("I'm not sure", now) is None
    assert parse_datetime("next monday", now) is None  # a date without a time
    assert parse_date("at 3 pm", now) is None
    assert parse_time("tomorrow") is None
    assert parse_time("at 45") is None
    assert parse_date("february 30th", now) is None


@given(st.text(max_size=60))
def test_parsers_never_raise(text: str) -> None:
    now = datetime(2025, 12, 31, 23, 59)
    parse_number(text)
    parse_digits(text)
    parse_date(text, now)
    parse_time(text)
    parse_datetime(text, now)


@given(st.integers(min_value=0, max_value=999_999))
def test_written_numbers_round_trip(n: int) -> None:
    assert parse_number(str(n)) == n
    assert parse_number(f"{n:,}") == n
