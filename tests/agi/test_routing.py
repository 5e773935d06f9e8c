"""The ``route`` script: business hours (pure), decisions, and the whole script over FastAGI
against a real SQLite store seeded through the repositories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agi.routing import (
    VAR_ALLOWED,
    VAR_ASSISTANT,
    VAR_REASON,
    BusinessHours,
    RouteDecision,
    RoutingScript,
    decide,
)
from tests.agi.conftest import AgiFacts, ConnectPeer, MakeStore, StartServer, env_block

SEOUL = ZoneInfo("Asia/Seoul")
OFFICE = {"tz": "Asia/Seoul", "mon-fri": "09:00-18:00", "sat": "10:00-12:00, 13:00-15:00",
          "closed_dates": ["2026-12-25"]}


def seoul(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SEOUL)


# -- business hours -------------------------------------------------------------------------------


@pytest.mark.parametrize("moment, status", [
    (seoul(2026, 11, 23, 9, 0), "open"),        # Monday, opening minute
    (seoul(2026, 11, 23, 8, 59), "closed"),
    (seoul(2026, 11, 23, 17, 59), "open"),
    (seoul(2026, 11, 23, 18, 0), "closed"),     # closing time is not open any more
    (seoul(2026, 11, 27, 12, 0), "open"),       # Friday
    (seoul(2026, 11, 28, 11, 0), "open"),       # Saturday morning
    (seoul(2026, 11, 28, 12, 30), "closed"),    # Saturday lunch
    (seoul(2026, 11, 28, 14, 59), "open"),
    (seoul(2026, 11, 29, 11, 0), "closed"),     # Sunday: not named, closed
    (seoul(2026, 12, 25, 11, 0), "holiday"),    # a Friday, but a closed date
    (datetime(2026, 11, 23, 0, 30, tzinfo=UTC), "open"),   # 09:30 in Seoul
    (datetime(2026, 11, 22, 23, 30, tzinfo=UTC), "closed"),  # 08:30 in Seoul
])
def test_office_hours_in_seoul(moment: datetime, status: str) -> None:
    assert BusinessHours.parse(OFFICE).status(moment) == status


def test_hours_past_midnight_belong_to_the_day_they_start() -> None:
    hours = BusinessHours.parse({"tz": "UTC", "fri": "22:00-02:00"})
    friday = datetime(2026, 11, 27, tzinfo=UTC)
    assert hours.status(friday.replace(hour=23)) == "open"
    assert hours.status(friday.replace(hour=1)) == "closed"  # Friday 01:00: Thursday night
    assert hours.status(friday + timedelta(days=1, hours=1, minutes=59)) == "open"  # Sat 01:59
    assert hours.status(friday + timedelta(days=1, hours=2)) == "closed"


def test_day_ranges_lists_and_whole_days() -> None:
    hours = BusinessHours.parse({"fri-mon": "00:00-24:00", "wed,thu": ["08:00-09:00"]})
    monday = datetime(2026, 11, 23, tzinfo=UTC)
    open_days = [hours.status(monday + timedelta(days=d, hours=8, minutes=30)) for d in range(7)]
    assert open_days == ["open", "closed", "open", "open", "open", "open", "open"]
    assert hours.status(monday + timedelta(days=1, hours=23, minutes=59)) == "closed"
    assert hours.status(monday + timedelta(hours=23, minutes=59)) == "open"


def test_local_time_follows_daylight_saving() -> None:
    hours = BusinessHours.parse({"tz": "Europe/Berlin", "mon-sun": "09:00-10:00"})
    summer = datetime(2026, 7, 1, 7, 30, tzinfo=UTC)   # 09:30 CEST
    winter = datetime(2026, 1, 7, 8, 30, tzinfo=UTC)   # 09:30 CET
    assert hours.status(summer) == "open" and hours.status(winter) == "open"
    assert hours.status(datetime(2026, 7, 1, 8, 30, tzinfo=UTC)) == "closed"


@pytest.mark.parametrize("raw, message", [
    ({"tz": "Mars/Olympus"}, "time zone"),
    ({"tz": 9}, "time zone"),
    ({"monday": "09:00-18:00"}, "not a day"),
    ({"mon": "9-18"}, "not a time"),
    ({"mon": "09:00"}, "not an interval"),
    ({"mon": "09:00-09:00"}, "empty"),
    ({"mon": "25:00-26:00"}, "not a time"),
    ({"mon": "24:00-01:00"}, "empty"),
    ({"mon": 9}, "expected"),
    ({"closed_dates": "2026-12-25"}, "list"),
    ({"closed_dates": ["25/12/2026"]}, "closed_dates"),
])
def test_invalid_hours_say_what_is_wrong(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BusinessHours.parse(raw)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                    timezones=st.just(UTC)),
       st.integers(0, 23), st.integers(1, 24))
def test_a_daily_window_is_open_exactly_inside_it(moment: datetime, start: int,
                                                  length: int) -> None:
    end = (start + length) % 24
    spec = f"{start:02d}:00-{end:02d}:00" if length < 24 else "00:00-24:00"
    hours = BusinessHours.parse({"tz": "UTC", "mon-sun": spec})
    inside = (moment.hour - start) % 24 < length
    assert (hours.status(moment) == "open") == inside


# -- decisions ------------------------------------------------------------------------------------


async def test_decisions_for_each_kind_of_number(make_store: MakeStore) -> None:
    store = await make_store()
    plain = await store.assistant()
    office = await store.assistant(media={"business_hours": OFFICE})
    broken = await store.assistant(media={"business_hours": {"mon": "always"}})
    line = await store.number("+8225550100", office)
    monday_10 = seoul(2026, 11, 23, 10)
    sunday = seoul(2026, 11, 29, 10)

    async def lookup(dialed: str) -> Any:
        return await store.numbers.find_inbound(dialed)

    assert decide(await lookup("+8225550100"), monday_10) == RouteDecision(
        True, "open", office, line)
    assert decide(await lookup("8225550100"), sunday).reason == "closed"
    assert decide(await lookup("+99999999"), monday_10) == RouteDecision(False, "unknown_number")
    await store.number("201")
    assert decide(await lookup("201"), monday_10).reason == "no_assistant"
    await store.number("202", plain)
    assert decide(await lookup("202"), sunday) == RouteDecision(
        True, "open", plain, await store.numbers.find(store.org.id, "202"))
    await store.number("203", broken)
    assert decide(await lookup("203"), sunday).allowed  # fail open, and say so
    assert decide(await lookup("203"), sunday).reason == "hours_invalid"


# -- the script over FastAGI ----------------------------------------------------------------------


async def route(
    facts: AgiFacts, start_server: StartServer, connect_peer: ConnectPeer,
    script: RoutingScript, *, args: tuple[str, ...] = (), extension: str = "100",
) -> dict[str, str]:
    """Run one routed call; the channel variables the script set."""
    server = await start_server({"route": script})
    peer = await connect_peer(server, env_block(facts, script="route", args=args,
                                                extension=extension))
    variables: dict[str, str] = {}

    def answer(words: list[str]) -> str:
        assert words[:2] == ["SET", "VARIABLE"] and len(words) == 4
        variables[words[2]] = words[3]
        return "200 result=1"

    await peer.serve(answer)
    return variables


async def test_an_open_line_goes_to_its_assistant(
    agi_facts: AgiFacts, start_server: StartServer, connect_peer: ConnectPeer,
    make_store: MakeStore,
) -> None:
    store = await make_store()
    office = await store.assistant(name="Front desk", media={"business_hours": OFFICE})
    await store.number("+8225550100", office)
    script = RoutingScript(store.numbers, clock=lambda: seoul(2026, 11, 23, 10))
    got = await route(agi_facts, start_server, connect_peer, script, args=("+82 2 555 0100",))
    assert got == {VAR_ASSISTANT: str(office.id), VAR_ALLOWED: "1", VAR_REASON: "open"}


async def test_after_hours_the_caller_is_not_put_through(
    agi_facts: AgiFacts, start_server: StartServer, connect_peer: ConnectPeer,
    make_store: MakeStore,
) -> None:
    store = await make_store()
    office = await store.assistant(media={"business_hours": OFFICE})
    await store.number("100", office)
    script = RoutingScript(store.numbers, clock=lambda: seoul(2026, 11, 23, 20))
    # No argument: the dialed number is agi_extension.
    got = await route(agi_facts, start_server, connect_peer, script, extension="100")
    assert got == {VAR_ASSISTANT: str(office.id), VAR_ALLOWED: "0", VAR_REASON: "closed"}


async def test_unknown_and_unassigned_numbers(
    agi_facts: AgiFacts, start_server: StartServer, connect_peer: ConnectPeer,
    make_store: MakeStore,
) -> None:
    store = await make_store()
    await store.number("300")
    await store.number("301", await store.assistant(), direction="outbound")
    script = RoutingScript(store.numbers)
    unknown = {VAR_ASSISTANT: "", VAR_ALLOWED: "0", VAR_REASON: "unknown_number"}
    assert await route(agi_facts, start_server, connect_peer, script, args=("999",)) == unknown
    assert await route(agi_facts, start_server, connect_peer, script,
                       args=("' OR 1=1 --",)) == unknown
    assert await route(agi_facts, start_server, connect_peer, script,
                       args=("301",)) == unknown  # outbound only
    assert await route(agi_facts, start_server, connect_peer, script, args=("300",)) == {
        VAR_ASSISTANT: "", VAR_ALLOWED: "0", VAR_REASON: "no_assistant"}


async def test_a_failing_store_sends_the_caller_to_the_fallback(
    agi_facts: AgiFacts, start_server: StartServer, connect_peer: ConnectPeer,
    make_store: MakeStore,
) -> None:
    store = await make_store()
    await store.number("100", await store.assistant())
    await store.db.close()
    got = await route(agi_facts, start_server, connect_peer, RoutingScript(store.numbers))
    assert got == {VAR_ASSISTANT: "", VAR_ALLOWED: "0", VAR_REASON: "error"}
