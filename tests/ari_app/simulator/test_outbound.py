"""Outbound calls: originate and create + dial, with the recorded event sequences."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.ari_app.simulator.conftest import AppFactory, SimFactory


def roles(events: list[dict[str, Any]], first: str) -> list[tuple[str, str]]:
    out = []
    for e in events:
        ch = e.get("channel") or e.get("peer") or {}
        out.append((e["type"], ";1" if ch.get("id") == first else ";2"))
    return out


async def test_originate_events_and_far_end_hangup(
    make_sim: SimFactory, make_app: AppFactory
) -> None:
    sim = await make_sim()
    app = await make_app(sim)
    status, ch = await app.call(
        "POST", "/channels", endpoint="Local/s@caller", app="callwright",
        appArgs="outbound,xyz", callerId="Voicebot <5550100>", timeout="30",
    )
    assert status == 200
    assert ch["state"] == "Down"
    assert ch["name"].endswith(";1")
    assert ch["caller"] == {"name": "Voicebot", "number": "5550100"}
    assert ch["dialplan"]["app_name"] == "AppDial2"
    call = await sim.next_outbound_call(timeout=2)
    assert call.channel_id == ch["id"]
    await app.settle()
    assert roles(app.drain(), ch["id"]) == [
        ("ChannelCallerId", ";2"),
        ("ChannelConnectedLine", ";2"),
        ("Dial", ";1"),
        ("ChannelDialplan", ";2"),
        ("ChannelStateChange", ";2"),
        ("ChannelStateChange", ";1"),
        ("Dial", ";1"),
        ("ChannelVarset", ";1"),
        ("StasisStart", ";1"),
    ]
    start = app.events[-1]
    assert start["args"] == ["outbound", "xyz"]
    assert start["channel"]["dialplan"]["app_data"] == "callwright,outbound,xyz"
    await call.caller.hangup()
    await app.settle()
    events = app.drain()
    assert roles(events, ch["id"]) == [
        ("ChannelHangupRequest", ";2"),
        ("ChannelHangupRequest", ";1"),
        ("ChannelDestroyed", ";2"),
        ("StasisEnd", ";1"),
        ("ChannelVarset", ";1"),
        ("ChannelDestroyed", ";1"),
    ]
    assert events[0]["soft"] is True and "soft" not in events[1]


async def test_create_then_dial(make_sim: SimFactory, make_app: AppFactory) -> None:
    sim = await make_sim()
    app = await make_app(sim)
    status, ch = await app.call(
        "POST", "/channels/create", endpoint="Local/s@caller", app="callwright",
        appArgs="created,abc",
    )
    assert status == 200 and ch["state"] == "Down"
    await app.settle()
    first = app.drain()
    assert [e["type"] for e in first] == ["ChannelDialplan", "ChannelVarset", "StasisStart"]
    assert first[-1]["args"] == ["created", "abc"]
    assert first[-1]["channel"]["state"] == "Down"
    assert await app.call("POST", f"/channels/{ch['id']}/dial", timeout="30") == (204, "")
    call = await sim.next_outbound_call(timeout=2)
    await app.settle()
    dial = app.drain()
    assert [(e["type"], e.get("dialstatus")) for e in dial] == [
        ("Dial", ""),
        ("ChannelStateChange", None),
        ("Dial", "ANSWER"),
    ]
    assert dial[0]["dialstring"] == "s@caller" and dial[2]["dialstring"] == ""
    await call.caller.hangup()
    await app.settle()
    assert [e["type"] for e in app.drain()] == [
        "ChannelHangupRequest", "StasisEnd", "ChannelVarset", "ChannelDestroyed",
    ]


async def test_originate_errors(make_sim: SimFactory, make_app: AppFactory) -> None:
    sim = await make_sim()
    app = await make_app(sim)
    assert await app.call("POST", "/channels") == (
        400, {"message": "Endpoint must be specified"},
    )
    assert await app.call("POST", "/channels", endpoint="Local/s@caller") == (
        400, {"message": "Application or extension must be specified"},
    )
    assert await app.call("POST", "/channels", endpoint="PJSIP/alice", app="callwright") == (
        500, {"error": "Allocation failed"},
    )
    assert await app.call("POST", "/channels", endpoint="garbage", app="callwright") == (
        400, {"message": "Invalid endpoint specified"},
    )
    status, ch = await app.call("POST", "/channels", endpoint="Local/s@caller", app="nobody")
    assert status == 200
    await asyncio.sleep(0.1)
    assert (await app.call("GET", f"/channels/{ch['id']}"))[0] == 404
    assert app.events == []
