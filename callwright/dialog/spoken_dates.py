"""Turning dates and times a caller said into slot values.

English and Korean, whatever the call's language (the script of the text decides). Pure functions,
no I/O; dates are relative to a ``now`` the caller passes (the engine's injected clock).

* dates and times: ``tomorrow at 3 pm``, ``next monday``, ``march 5th at half past two``,
  ``3월 5일 오후 3시``, ``다음 주 월요일 세 시 반``. A time without am/pm from 1 to 7 o'clock is
  taken as afternoon (opening hours); "next monday" / ``다음 주 월요일`` is the Monday of next week.

The numbers in them are read by :mod:`callwright.dialog.spoken_numbers`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

from callwright.dialog.spoken_numbers import (
    _EN_TENS,
    _HANGUL,
    _WORD,
    _clean,
    _en_numbers,
    _ko_candidates,
)

__all__ = [
    "parse_date",
    "parse_datetime",
    "parse_time",
]

# fmt: off
_EN_ORDINALS = {w: i for i, w in enumerate(
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth "
    "fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth".split(), start=1)}
_EN_ORDINALS.update({"twentieth": 20, "thirtieth": 30})
_EN_MONTHS = {m: i for i, names in enumerate((
    "january jan", "february feb", "march mar", "april apr", "may", "june jun", "july jul",
    "august aug", "september sep sept", "october oct", "november nov", "december dec"), start=1)
    for m in names.split()}
_EN_WEEKDAYS = {w: i for i, w in enumerate(
    "monday tuesday wednesday thursday friday saturday sunday".split())}
_KO_REL_DAYS = (("내일모레", 2), ("오늘", 0), ("내일", 1), ("모레", 2), ("글피", 3))
_KO_WEEKDAYS = "월화수목금토일"
_KO_AM = ("오전", "아침", "새벽")
_KO_PM = ("오후", "저녁", "밤", "낮")
# fmt: on

_ISO_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")


def _words(text: str) -> list[str]:
    return _WORD.findall(_clean(text))


def _hour(hour: int, minute: int, meridiem: str | None) -> time | None:
    if meridiem == "pm" and hour < 12:
        hour += 12
    elif meridiem in ("am", "night") and hour == 12:
        hour = 0
    elif meridiem == "night" and hour < 12 and hour >= 6:
        hour += 12
    elif meridiem is None and 1 <= hour <= 7:
        hour += 12
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    return time(hour, minute)


def _month_day(now: date, month: int | None, day: int, year: int | None) -> date | None:
    try:
        if month is None:
            found = date(now.year, now.month, day)
            if found < now:
                found = date(now.year + now.month // 12, now.month % 12 + 1, day)
            return found
        found = date(year or now.year, month, day)
        return found.replace(year=now.year + 1) if year is None and found < now else found
    except ValueError:
        return None


def _weekday(now: date, weekday: int, weeks_ahead: int | None) -> date:
    if weeks_ahead is None:  # the next such day, today included
        return now + timedelta(days=(weekday - now.weekday()) % 7)
    monday = now - timedelta(days=now.weekday()) + timedelta(weeks=weeks_ahead)
    found = monday + timedelta(days=weekday)
    return found + timedelta(weeks=1) if found < now else found  # "this friday" said on Saturday


def _en_when(text: str, now: date) -> tuple[date | None, time | None]:
    words = _words(text)
    used: set[int] = set()
    day: date | None = None
    iso = _ISO_DATE.search(text)
    if iso:
        day = _month_day(now, int(iso[2]), int(iso[3]), int(iso[1]))
        used |= {i for i, w in enumerate(words) if w in iso.group().split("-")}
    for i, w in enumerate(words):
        offset = {"today": 0, "tonight": 0, "tomorrow": 1}.get(w)
        if offset is not None and day is None:
            after = i > 0 and words[i - 1] == "after" and offset == 1
            day, used = now + timedelta(days=offset + (1 if after else 0)), used | {i}
        elif w in _EN_WEEKDAYS and day is None:
            before = words[i - 1] if i else ""
            weeks = {"next": 1, "this": 0}.get(before)
            day, used = _weekday(now, _EN_WEEKDAYS[w], weeks), used | {i}
    numbers = [n for n in _en_numbers(words) if not used & set(range(n[1], n[2]))]
    if day is None:
        day = _en_calendar_date(words, numbers, now, used)
    numbers = [n for n in numbers if not used & set(range(n[1], n[2]))]
    return day, _en_time(words, numbers, used)


def _en_day_at(words: Sequence[str], numbers: Sequence[tuple[int, int, int]], i: int) -> int | None:
    """The day of the month said at word ``i`` (``5``, ``5th``, ``fifth``, ``twenty first``)."""
    if 0 <= i < len(words) and words[i] in _EN_ORDINALS:
        return _EN_ORDINALS[words[i]]
    if 0 <= i < len(words) and words[i] in ("twenty", "thirty") and i + 1 < len(words):
        unit = _EN_ORDINALS.get(words[i + 1], 0)
        return _EN_TENS[words[i]] + unit if 0 < unit < 10 else None
    for value, start, _ in numbers:
        if start == i and 1 <= value <= 31:
            return value
    return None


def _en_calendar_date(
    words: Sequence[str], numbers: Sequence[tuple[int, int, int]], now: date, used: set[int]
) -> date | None:
    year = next((v for v, s, e in numbers if 1900 <= v <= 2199 and e - s == 1), None)
    fillers = ("the", "of", "st", "nd", "rd", "th")
    for i, w in enumerate(words):
        if w not in _EN_MONTHS:
            continue
        after = i + 1 + (i + 1 < len(words) and words[i + 1] == "the")
        before = i - 1
        while before >= 0 and words[before] in fillers:
            before -= 1
        for at in (after, before - 1, before):  # "march 5th", "twenty first of march", "5 march"
            day = _en_day_at(words, numbers, at)
            if day is not None and at >= 0 and not (words[at].isdigit() and int(words[at]) > 31):
                used.update(range(min(at, i), max(at + 2, i + 1)))
                used.update(n for n, v in enumerate(words) if v.isdigit() and int(v) == year)
                return _month_day(now, _EN_MONTHS[w], day, year)
    for i, w in enumerate(words):  # "the fifth", "on the 5th"
        ordinal = w in _EN_ORDINALS or (
            w.isdigit() and i + 1 < len(words) and words[i + 1] in ("st", "nd", "rd", "th")
        )
        if ordinal and i > 0 and words[i - 1] == "the":
            day = _en_day_at(words, numbers, i)
            if day is not None:
                used.update({i, i + 1})
                return _month_day(now, None, day, None)
    return None


def _en_time(
    words: Sequence[str], numbers: Sequence[tuple[int, int, int]], used: set[int]
) -> time | None:
    meridiem: str | None = None
    for w in words:
        if w in ("am", "morning"):
            meridiem = "am"
        elif w in ("pm", "afternoon", "evening", "tonight"):
            meridiem = "pm"
        elif w == "night" and meridiem is None:
            meridiem = "night"
    for i, w in enumerate(words):
        if w in ("noon", "midday"):
            return time(12, 0)
        if w == "midnight":
            return time(0, 0)
        if ":" in w:
            hour, minute = (int(p) for p in w.split(":"))
            return _hour(hour, minute, meridiem if hour <= 12 else None) or None
        if w in ("half", "quarter") and i + 2 < len(words) and words[i + 1] in ("past", "to"):
            said = next((v for v, s, _ in numbers if s == i + 2), None)
            if said is not None:
                minute = 30 if w == "half" else 15
                if words[i + 1] == "to":
                    said, minute = (said - 1) % 12 or 12, 60 - minute
                return _hour(said, minute, meridiem)

    def rank(n: int) -> tuple[int, int]:  # a number after "at" or before "pm" is the hour
        value, start, end = numbers[n]
        if n + 1 < len(numbers) and numbers[n + 1][1] == end:
            end = numbers[n + 1][2]  # "three thirty pm"
        after = words[end] if end < len(words) else ""
        marked = (start > 0 and words[start - 1] == "at") or after in ("am", "pm", "o'clock")
        return (0 if marked else 1) if value <= 24 else 2, n

    if not numbers or min(map(rank, range(len(numbers))))[0] == 2:
        return None
    n = min(map(rank, range(len(numbers))))[1]
    value, _start, end = numbers[n]
    minute = 0
    if n + 1 < len(numbers) and numbers[n + 1][1] == end and numbers[n + 1][0] < 60:
        minute = numbers[n + 1][0]
    return _hour(value, minute, meridiem)


def _ko_when(text: str, now: date) -> tuple[date | None, time | None]:
    s = re.sub(r"[^\w]", "", unicodedata.normalize("NFKC", text))
    day: date | None = None
    weeks: int | None = None
    for word, offset in _KO_REL_DAYS:
        if word in s:
            day, s = now + timedelta(days=offset), s.replace(word, " ")
    for word, ahead in (("다다음주", 2), ("다음주", 1), ("이번주", 0), ("담주", 1)):
        if word in s:
            weeks, s = ahead, s.replace(word, " ")
    match = re.search(f"([{_KO_WEEKDAYS}])요일", s)
    if match:
        day = _weekday(now, _KO_WEEKDAYS.index(match[1]), weeks)
        s = s.replace(match.group(), " ")
    next_month = "다음달" in s
    meridiem = next(
        (m for words, m in ((_KO_AM, "am"), (_KO_PM, "pm")) for w in words if w in s), None
    )
    meridiem = "night" if "밤" in s and meridiem == "pm" else meridiem
    for word in (*_KO_AM, *_KO_PM, "다음달", "이번달"):
        s = s.replace(word, " ")
    found: dict[str, int] = {}
    i = 0
    while i < len(s):
        fits = [(e, v) for v, e in _ko_candidates(s, i) if s[e : e + 1] in ("월", "일", "시", "분")]
        if not fits:
            i += 1
            continue
        end, value = max(fits)
        key = {"월": "month", "일": "day", "시": "hour", "분": "minute"}[s[end]]
        found.setdefault(key, value)
        if key == "hour" and s[end + 1 : end + 2] == "반":
            found.setdefault("minute", 30)
        i = end + 1
    if "day" in found:
        base = (now.replace(day=1) + timedelta(days=32)).replace(day=1) if next_month else now
        day = _month_day(base, found.get("month"), found["day"], None)
    at: time | None = None
    if "정오" in s:
        at = time(12, 0)
    elif "자정" in s:
        at = time(0, 0)
    elif "hour" in found:
        at = _hour(found["hour"] % 24, found.get("minute", 0), meridiem)
    return day, at


def _when(text: str, now: datetime) -> tuple[date | None, time | None]:
    today = now.date()
    return _ko_when(text, today) if _HANGUL.search(text) else _en_when(text, today)


def parse_date(text: str, now: datetime) -> date | None:
    """The date said in ``text`` (relative words are relative to ``now``)."""
    return _when(text, now)[0]


def parse_time(text: str) -> time | None:
    """The time of day said in ``text``."""
    return _when(text, datetime(2000, 1, 1))[1]


def parse_datetime(text: str, now: datetime) -> datetime | None:
    """A date and a time said in ``text``; with a time alone, its next occurrence after ``now``."""
    day, at = _when(text, now)
    if at is None:
        return None
    if day is None:
        day = now.date() if at > now.time() else now.date() + timedelta(days=1)
    return datetime.combine(day, at)
