"""Outbound outcomes per destination (busy, congestion, no answer, invalid, answer after
ringing) and AMD(), against the sequences recorded on Asterisk 22.10.1
(tests/asterisk22/asterisk-facts/outbound-ami/)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp

from ari_app.simulator.far_end import FarEnd
from tests.ari_app.simulator.conftest import AppFactory, SimFactory

FACTS = Path(__file__).parents[2] / "asterisk22" / "asterisk-facts" / "outbound-ami"


def recorded(name: str) -> list[tuple[str, str, Any]]:
    """(type, half, detail) of the ARI events of a recording (half: ;1 or ;2)."""
    out = []
    for line in (FACTS / name).read_text().splitlines():
        entry = json.loads(line)
        if entry["dir"] == "event":
            out.append(shape(entry["event"]))
    return out


def shape(e: dict[str, Any]) -> tuple[str, str, Any]:
    ch = e.get("channel") or e.get("peer") or {}
    half = ch.get("name", "")[-2:]
    detail = e.get("dialstatus", e.get("cause", e.get("variable")))
    if e["type"] == "ChannelHangupRequest":
        detail = (e["cause"], e.get("soft", False))
    if e["type"] == "ChannelStateChange":
        detail = ch["state"]
    if e["type"] == "ChannelDialplan":
        detail = e["dialplan_app"]
    return e["type"], half, detail


def shapes(events: list[dict[str, Any]]) -> list[tuple[str, str, Any]]:
    return [shape(e) for e in events]


async def originate(app: Any, exten: str, **extra: str) -> dict[str, Any]:
    status, ch = await app.call(
        "POST", "/channels", endpoint=f"Local/{exten}@callwright-outbound", app="callwright",
        appArgs="outbound,x", callerId="Callwright <5550100>", **extra,
    )
    assert status == 200 and ch["state"] == "Down"
    return dict(ch)


async def test_busy_and_congestion_originate_match_the_recordings(
    make_sim: SimFactory, make_app: AppFactory
) -> None:
    sim = await make_sim()
    app = await make_app(sim)
    sim.set_destination("+15550001", FarEnd("busy"))
    sim.set_destination("+15550002", FarEnd("congestion"))
    for exten, name in (("+15550001", "outbound-busy.jsonl"),
                        ("+15550002", "outbound-congestion.jsonl")):
        ch = await originate(app, exten)
        await app.settle()
        got = shapes(app.drain())
        want = recorded(name)
        assert sorted(got) == sorted(want)  # congestion's Dial "" came late in that run
        if name == "outbound-busy.jsonl":
            assert got == want
        assert (await app.call("GET", f"/channels/{ch['id']}"))[0] == 404
    outcomes = {c.dialed: (c.outcome, c.hangup_cause, c.is_ended) for c in sim.calls}
    assert outcomes == {"+15550001": ("busy", 17, True), "+15550002": ("congestion", 34, True)}


async def test_no_answer_ends_at_the_originate_timeout(
    make_sim: SimFactory, make_app: AppFactory
) -> None:
    sim = await make_sim()
    app = await make_app(sim)
    sim.set_destination("+15550003", FarEnd("no_answer"))
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await originate(app, "+15550003", timeout="1")
    await app.next_event("ChannelDestroyed", wait_s=3)
    assert 0.95 <= loop.time() - t0 < 1.5
    await app.settle()
    assert shapes(app.events) == recorded("outbound-noanswer.jsonl")
    assert not any(e["type"] == "Dial" and e["dialstatus"] == "NOANSWER" for e in app.events)


async def test_invalid_destination_vanishes_after_the_200(
    make_sim: SimFactory, make_app: AppFactory
) -> None:
    sim = await make_sim()
    app = await make_app(sim)
    sim.set_destination("+15550004", FarEnd("invalid"))
    ch = await originate(app, "+15550004")
    await app.settle()
    assert [(e["type"], e["channel"]["name"][-2:], e["cause"]) for e in app.drain()] == [
        ("ChannelDestroyed", ";2", 0), ("ChannelDestroyed", ";1", 0),
    ]
    assert (await app.call("GET", f"/channels/{ch['id']}"))[0] == 404


async def test_answer_after_ringing(make_sim: SimFactory, make_app: AppFactory) -> None:
    sim = await make_sim()
    app = await make_app(sim)
    sim.set_destination("+15550005", FarEnd("answer", ring_s=0.3, hangup_after_s=0.2))
    await originate(app, "+15550005")
    start = await app.next_event("StasisStart")
    assert start["channel"]["state"] == "Up" and start["args"] == ["outbound", "x"]
    await app.next_event("StasisEnd", wait_s=2)
    kinds = [shape(e) for e in app.events]
    assert ("Dial", ";1", "RINGING") in kinds
    assert kinds.index(("Dial", ";1", "RINGING")) < kinds.index(("Dial", ";1", "ANSWER"))


async def test_create_dial_busy_stays_in_stasis_until_the_timeout(
    make_sim: SimFactory, make_app: AppFactory
) -> None:
    sim = await make_sim()
    app = await make_app(sim)
    sim.set_destination("busy1", FarEnd("busy", busy_s=5))
    sim.set_destination("busy2", FarEnd("busy", busy_s=0.3))
    sim.set_destination("ring", FarEnd("no_answer"))
    for exten, timeout, end in (
        ("busy1", "1", [("ChannelHangupRequest", ";1", (32, True)), ("StasisEnd", ";1", None),
                        ("ChannelVarset", ";1", "STASISSTATUS"), ("ChannelDestroyed", ";1", 19)]),
        ("busy2", "1", [("ChannelHangupRequest", ";1", (17, False)), ("StasisEnd", ";1", None),
                        ("ChannelVarset", ";1", "STASISSTATUS"), ("ChannelDestroyed", ";1", 17)]),
    ):
        status, ch = await app.call("POST", "/channels/create",
                                    endpoint=f"Local/{exten}@out", app="callwright")
        assert status == 200
        await app.next_event("StasisStart")
        assert await app.call("POST", f"/channels/{ch['id']}/dial", timeout=timeout) == (204, "")
        await app.settle(0.1)
        assert shapes(app.drain()) == [("Dial", ";1", ""), ("Dial", ";1", "BUSY")]
        assert (await app.call("GET", f"/channels/{ch['id']}"))[1]["state"] == "Down"
        await app.next_event("ChannelDestroyed", wait_s=3)
        assert shapes(app.events[-4:]) == end
    status, ch = await app.call("POST", "/channels/create", endpoint="Local/ring@out",
                                app="callwright")
    await app.next_event("StasisStart")
    await app.call("POST", f"/channels/{ch['id']}/dial", timeout="1")
    await app.next_event("ChannelDestroyed", wait_s=3)
    assert [s for s in shapes(app.events) if s[0] != "ChannelDialplan"][-7:] == [
        ("Dial", ";1", ""), ("ChannelStateChange", ";1", "Ringing"), ("Dial", ";1", "RINGING"),
        ("ChannelHangupRequest", ";1", (32, True)), ("StasisEnd", ";1", None),
        ("ChannelVarset", ";1", "STASISSTATUS"), ("ChannelDestroyed", ";1", 19),
    ]


async def test_amd_result_is_read_from_the_channel_variable(
    make_sim: SimFactory, make_app: AppFactory
) -> None:
    sim = await make_sim()
    app = await make_app(sim)
    sim.set_destination("+15550006", FarEnd("answer", amd="silence"))
    sim.set_destination("+15550007", FarEnd("answer", amd="hello"))
    for exten, status, cause, took in (("+15550006", "MACHINE", "INITIALSILENCE-2500-2500", 2.98),
                                      ("+15550007", "HUMAN", "HUMAN-800-800", 1.72)):
        ch = await originate(app, exten)
        await app.next_event("StasisStart")
        assert (await app.call("GET", f"/channels/{ch['id']}/variable",
                               variable="AMDSTATUS"))[0] == 404
        t0 = asyncio.get_running_loop().time()
        assert await app.call("POST", f"/channels/{ch['id']}/continue",
                              context="callwright-amd", extension="s", priority="1") == (204, "")
        again = await app.next_event("StasisStart", wait_s=5)
        assert abs(asyncio.get_running_loop().time() - t0 - took) < 0.3
        assert again["args"] == ["amd"] and again["channel"]["id"] == ch["id"]
        assert await app.call("GET", f"/channels/{ch['id']}/variable",
                              variable="AMDSTATUS") == (200, {"value": status})
        assert await app.call("GET", f"/channels/{ch['id']}/variable",
                              variable="AMDCAUSE") == (200, {"value": cause})
        await app.call("DELETE", f"/channels/{ch['id']}")
        await app.next_event("ChannelDestroyed")


async def test_destinations_through_the_control_api(make_sim: SimFactory) -> None:
    sim = await make_sim()
    auth = {"Authorization": aiohttp.encode_basic_auth(sim.username, sim.password)}
    base = sim.ari_url + "/_sim/destinations"
    async with aiohttp.ClientSession(headers=auth) as http:
        async with http.put(base + "/%2B15550009", json={"outcome": "busy"}) as resp:
            assert resp.status == 200
            assert (await resp.json())["+15550009"]["outcome"] == "busy"
        for bad in ({"outcome": "maybe"}, {"ring_s": "soon"}, {"ring_s": -1}, {"amd": "x"},
                    {"colour": "red"}):
            async with http.put(base + "/1", json=bad) as resp:
                assert resp.status == 400, bad
        async with http.get(base) as resp:
            assert list(await resp.json()) == ["+15550009"]
        async with http.delete(base + "/%2B15550009") as resp:
            assert resp.status == 204
        async with http.delete(base + "/%2B15550009") as resp:
            assert resp.status == 404
    assert sim.ctx.destinations.lookup("+15550009", "x").outcome == "answer"
