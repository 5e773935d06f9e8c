"""Call windows in the callee's local time (sans-IO).

A campaign calls between ``start`` and ``end`` (``HH:MM``, local) on the given ISO weekdays
(1 = Monday). The local time zone of a contact is, first found: its own (CSV ``timezone``
column), the campaign's, or one derived from the number's country calling code
(:func:`zone_for_number`; a country spanning several zones gets its most populous one, so give
the zone when that matters). Extensions and unknown codes use UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")

#: Country calling code -> a representative IANA zone (longest code wins).
COUNTRY_ZONES = {
    "1": "America/New_York", "7": "Europe/Moscow", "20": "Africa/Cairo",
    "27": "Africa/Johannesburg", "30": "Europe/Athens", "31": "Europe/Amsterdam",
    "32": "Europe/Brussels", "33": "Europe/Paris", "34": "Europe/Madrid",
    "36": "Europe/Budapest", "39": "Europe/Rome", "40": "Europe/Bucharest",
    "41": "Europe/Zurich", "43": "Europe/Vienna", "44": "Europe/London",
    "45": "Europe/Copenhagen", "46": "Europe/Stockholm", "47": "Europe/Oslo",
    "48": "Europe/Warsaw", "49": "Europe/Berlin", "52": "America/Mexico_City",
    "54": "America/Argentina/Buenos_Aires", "55": "America/Sao_Paulo", "56": "America/Santiago",
    "57": "America/Bogota", "60": "Asia/Kuala_Lumpur", "61": "Australia/Sydney",
    "62": "Asia/Jakarta", "63": "Asia/Manila", "64": "Pacific/Auckland", "65": "Asia/Singapore",
    "66": "Asia/Bangkok", "81": "Asia/Tokyo", "82": "Asia/Seoul", "84": "Asia/Ho_Chi_Minh",
    "86": "Asia/Shanghai", "90": "Europe/Istanbul", "91": "Asia/Kolkata", "92": "Asia/Karachi",
    "234": "Africa/Lagos", "254": "Africa/Nairobi", "351": "Europe/Lisbon",
    "353": "Europe/Dublin", "358": "Europe/Helsinki", "420": "Europe/Prague",
    "852": "Asia/Hong_Kong", "886": "Asia/Taipei", "971": "Asia/Dubai", "972": "Asia/Jerusalem",
}


def zone_for_number(number: str) -> str:
    """The zone derived from an E.164 number's country code; "UTC" if none fits."""
    if not number.startswith("+"):
        return "UTC"
    digits = number[1:]
    for length in (3, 2, 1):
        zone = COUNTRY_ZONES.get(digits[:length])
        if zone is not None:
            return zone
    return "UTC"


def parse_hhmm(text: str) -> time:
    match = _HHMM.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a time of day as HH:MM (00:00-23:59)")
    return time(int(match.group(1)), int(match.group(2)))


def parse_days(text: str) -> frozenset[int]:
    """``"1,2,3,4,5"`` -> the ISO weekdays; ValueError on anything else."""
    days: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or not 1 <= int(part) <= 7:
            raise ValueError(f"weekday {part!r}: use 1 (Monday) to 7 (Sunday)")
        days.add(int(part))
    if not days:
        raise ValueError("name at least one weekday (1 = Monday ... 7 = Sunday)")
    return frozenset(days)


@dataclass(frozen=True, slots=True)
class CallWindow:
    start: time
    end: time
    days: frozenset[int]

    @classmethod
    def parse(cls, start: str, end: str, days: str) -> CallWindow:
        window = cls(parse_hhmm(start), parse_hhmm(end), parse_days(days))
        if window.start == window.end:
            raise ValueError("the window's start and end are the same time")
        return window

    def is_open(self, now_utc: datetime, zone: str) -> bool:
        local = now_utc.astimezone(ZoneInfo(zone))
        at = local.time().replace(tzinfo=None)
        if self.start < self.end:
            return local.isoweekday() in self.days and self.start <= at < self.end
        # over midnight (20:00-02:00): the part after midnight belongs to the day before
        if at >= self.start:
            return local.isoweekday() in self.days
        day_before = (local - timedelta(days=1)).isoweekday()
        return at < self.end and day_before in self.days

    def next_open(self, now_utc: datetime, zone: str) -> datetime:
        """The first moment at or after ``now_utc`` the window is open (UTC), within 8 days."""
        if self.is_open(now_utc, zone):
            return now_utc
        local = now_utc.astimezone(ZoneInfo(zone))
        for offset in range(0, 9):
            day = (local + timedelta(days=offset)).date()
            candidate = datetime.combine(day, self.start, ZoneInfo(zone))
            if candidate >= local and self.is_open(candidate.astimezone(now_utc.tzinfo), zone):
                return candidate.astimezone(now_utc.tzinfo)
        return now_utc + timedelta(days=8)


def contact_zone(contact_zone_name: str, campaign_zone: str, number: str) -> str:
    return contact_zone_name or campaign_zone or zone_for_number(number)
