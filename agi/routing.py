"""The FastAGI ``route`` script: which assistant takes the call, and is it open now?

Dialplan: ``AGI(agi://127.0.0.1:4573/route[,<dialed>])`` (see dialplan/extensions_agi.conf). The
dialed number is the first AGI argument if given, else ``agi_extension``. It is looked up among
the inbound numbers; the script then sets three channel variables:

- ``CALLWRIGHT_ASSISTANT``: the assistant's id ("" when there is none),
- ``CALLWRIGHT_CALL_ALLOWED``: ``1`` to send the caller to the assistant (``Stasis``), else ``0``,
- ``CALLWRIGHT_REASON``: ``open``, ``closed`` (outside business hours), ``holiday`` (a closed
  date), ``unknown_number``, ``no_assistant``, ``hours_invalid`` (the hours could not be read:
  the call is allowed, and a warning is logged) or ``error`` (the store failed).

Business hours are the ``business_hours`` key of the assistant's ``media`` settings JSON::

    {"business_hours": {
        "tz": "Asia/Seoul",                       # an IANA zone; default UTC
        "mon-fri": "09:00-18:00",                 # a day, a range (fri-mon wraps) or "sat,sun"
        "sat": "10:00-12:00, 13:00-15:00",        # several intervals; or a list of strings
        "sun": "closed",
        "closed_dates": ["2026-12-25"]            # local dates closed all day
    }}

Days that are not named are closed. ``00:00-24:00`` is the whole day; an interval that ends
before it starts runs past midnight (``22:00-06:00``). No ``business_hours`` key: always open.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agi.fastagi import AgiSession
from callwright.errors import StoreError
from callwright.store.assistants import Assistant
from callwright.store.numbers import Number, NumberRepository

log = logging.getLogger(__name__)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOURS_KEY = "business_hours"
VAR_ASSISTANT = "CALLWRIGHT_ASSISTANT"
VAR_ALLOWED = "CALLWRIGHT_CALL_ALLOWED"
VAR_REASON = "CALLWRIGHT_REASON"
_TIME = re.compile(r"^([01][0-9]|2[0-4]):([0-5][0-9])$")
_DAY_MINUTES = 24 * 60

Interval = tuple[int, int]  # minutes since local midnight, [start, end)


def _minutes(text: str, where: str) -> int:
    match = _TIME.match(text.strip())
    if match is None:
        raise ValueError(f"{where}: {text.strip()!r} is not a time like 09:00")
    minutes = int(match.group(1)) * 60 + int(match.group(2))
    if minutes > _DAY_MINUTES:
        raise ValueError(f"{where}: {text.strip()!r} is after 24:00")
    return minutes


def _days(spec: str) -> list[int]:
    found: list[int] = []
    for part in spec.lower().split(","):
        first, dash, last = part.strip().partition("-")
        if first not in DAYS or (dash and last not in DAYS):
            raise ValueError(f"business_hours: {spec!r} is not a day, a day range (mon-fri) or "
                             "a list (sat,sun)")
        start = DAYS.index(first)
        count = (DAYS.index(last) - start) % 7 + 1 if dash else 1
        found.extend((start + i) % 7 for i in range(count))
    return found


def _intervals(value: object, where: str) -> list[tuple[int, int]]:
    """(start, end) pairs in minutes; end < start means the interval runs past midnight."""
    if isinstance(value, str):
        parts = value.split(",")
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        parts = list(value)
    else:
        raise ValueError(f"{where}: expected \"09:00-18:00\", a list of them, or \"closed\"")
    if [p.strip().lower() for p in parts] == ["closed"]:
        return []
    found: list[tuple[int, int]] = []
    for part in parts:
        start_text, dash, end_text = part.partition("-")
        if not dash:
            raise ValueError(f"{where}: {part.strip()!r} is not an interval like 09:00-18:00")
        start, end = _minutes(start_text, where), _minutes(end_text, where)
        if start == end or start == _DAY_MINUTES:
            raise ValueError(f"{where}: {part.strip()!r} is empty")
        found.append((start, end))
    return found


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """Weekly opening hours in a time zone. Build with :meth:`parse`."""

    zone: ZoneInfo
    weekly: tuple[tuple[Interval, ...], ...]  # 7 entries, Monday first
    closed_dates: frozenset[date]

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> BusinessHours:
        """Read the ``business_hours`` object; ValueError says what is wrong."""
        if not isinstance(raw, Mapping):
            raise ValueError("business_hours must be a JSON object")
        zone_name = raw.get("tz", "UTC")
        try:
            if not isinstance(zone_name, str):
                raise ValueError(zone_name)
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"business_hours.tz: {zone_name!r} is not a time zone") from None
        weekly: list[list[Interval]] = [[] for _ in DAYS]
        closed: set[date] = set()
        for key, value in raw.items():
            if key == "tz":
                continue
            if key == "closed_dates":
                closed.update(_closed_dates(value))
                continue
            for day in _days(key):
                for start, end in _intervals(value, f"business_hours.{key}"):
                    if start < end:
                        weekly[day].append((start, end))
                    else:  # past midnight: the rest of this day and the start of the next
                        weekly[day].append((start, _DAY_MINUTES))
                        if end:
                            weekly[(day + 1) % 7].append((0, end))
        return cls(zone, tuple(tuple(sorted(day)) for day in weekly), frozenset(closed))

    def status(self, moment: datetime) -> str:
        """``open``, ``closed`` or ``holiday`` at ``moment`` (an aware datetime)."""
        if moment.tzinfo is None:
            raise ValueError("business hours need an aware datetime")
        local = moment.astimezone(self.zone)
        if local.date() in self.closed_dates:
            return "holiday"
        minute = local.hour * 60 + local.minute
        day = self.weekly[local.weekday()]
        return "open" if any(start <= minute < end for start, end in day) else "closed"


def _closed_dates(value: object) -> list[date]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("business_hours.closed_dates must be a list of YYYY-MM-DD dates")
    try:
        return [date.fromisoformat(item) for item in value]
    except ValueError as exc:
        raise ValueError(f"business_hours.closed_dates: {exc}") from None


def hours_of(assistant: Assistant) -> BusinessHours | None:
    """The assistant's business hours; None when it has none. ValueError if they are invalid."""
    raw = assistant.media.get(HOURS_KEY)
    return None if raw is None else BusinessHours.parse(raw)


@dataclass(frozen=True, slots=True)
class RouteDecision:
    allowed: bool
    reason: str
    assistant: Assistant | None = None
    number: Number | None = None

    def variables(self) -> dict[str, str]:
        """The channel variables for the dialplan."""
        return {
            VAR_ASSISTANT: str(self.assistant.id) if self.assistant is not None else "",
            VAR_ALLOWED: "1" if self.allowed else "0",
            VAR_REASON: self.reason,
        }


def decide(found: tuple[Number, Assistant | None] | None, moment: datetime) -> RouteDecision:
    """The routing decision for a lookup result at ``moment`` (pure)."""
    if found is None:
        return RouteDecision(False, "unknown_number")
    number, assistant = found
    if assistant is None:
        return RouteDecision(False, "no_assistant", None, number)
    try:
        hours = hours_of(assistant)
    except ValueError as exc:
        log.warning("assistant %d (%s): invalid business hours, treating the line as open: %s",
                    assistant.id, assistant.name, exc)
        return RouteDecision(True, "hours_invalid", assistant, number)
    status = "open" if hours is None else hours.status(moment)
    return RouteDecision(status == "open", status, assistant, number)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class RoutingScript:
    """The FastAGI handler for ``route``: look up, decide, set the variables."""

    def __init__(
        self, numbers: NumberRepository, clock: Callable[[], datetime] = _utc_now
    ) -> None:
        self._numbers = numbers
        self._clock = clock

    async def decide_for(self, dialed: str) -> RouteDecision:
        """The decision for ``dialed`` now; a failing store gives ``error`` (not allowed)."""
        try:
            found = await self._numbers.find_inbound(dialed)
        except StoreError as exc:
            log.error("routing %r: the store failed: %s", dialed, exc)
            return RouteDecision(False, "error")
        return decide(found, self._clock())

    async def __call__(self, session: AgiSession) -> None:
        dialed = session.env.dialed
        decision = await self.decide_for(dialed)
        log.info("route %s (%s) -> allowed=%s reason=%s assistant=%s", dialed,
                 session.env.channel, decision.allowed, decision.reason,
                 decision.assistant.id if decision.assistant else None)
        for name, value in decision.variables().items():
            await session.set_variable(name, value)

