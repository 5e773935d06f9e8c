"""A Local channel originated into a context that sends its calls to Stasis() (the project's
[callwright-inbound]): its ;2 half reaches the app as a caller; answering it answers ;1."""

from __future__ import annotations

import asyncio
from typing import Any

from ari_app.simulator.dialplan import InboundContext, caller_all
from ari_app.simulator.state import CallerId, Channel, ChannelKind, DialplanLocation
from tests.ari_app.simulator.conftest import AppFactory, AppSide, SimFactory

DEMO_ID = "cw-demo-1"
CALLER = '"Demo caller" <+821012345678>'


def roles(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    out = []
    for e in events:
        ch = e.get("channel") or e.get("peer") or {}
        out.append((e["type"], ";1" if ch.get("id") == DEMO_ID else ";2"))
    return out


async def originate(app: AppSide, endpoint: str, **params: str) -> tuple[int, Any]:
    return await app.call(
        "POST", "/channels", endpoint=endpoint, app=app.app, channelId=DEMO_ID,
        callerId=CALLER, **params,
    )


async def test_the_inbound_half_enters_stasis_and_answering_it_answers_the_other(
    make_sim: SimFactory, make_app: AppFactory
) -> None:
    sim = await make_sim()
    app = await make_app(sim)
    status, ch1 = await originate(app, "Local/100@callwright-inbound", timeout="30")
    assert status == 200
    assert (ch1["id"], ch1["state"], ch1["name"][-2:]) == (DEMO_ID, "Down", ";1")
    assert ch1["dialplan"]["app_name"] == "AppDial2"
    await app.settle()
    setup = app.drain()
    assert roles(setup) == [
        ("ChannelCallerId", ";2"),
        ("ChannelConnectedLine", ";2"),
        ("Dial", ";1"),
        ("ChannelDialplan", ";2"),
        ("ChannelDialplan", ";2"),
        ("ChannelDialplan", ";2"),
        ("ChannelVarset", ";2"),
        ("StasisStart", ";2"),
    ]
    assert [e["dialplan_app"] for e in setup if e["type"] == "ChannelDialplan"] == [
        "NoOp", "Set", "Stasis",
    ]
    assert setup[3]["dialplan_app_data"] == f"Callwright: {CALLER} dialed 100"
    assert setup[2]["dialstatus"] == "" and setup[2]["dialstring"] == "100@callwright-inbound"
    start = setup[-1]
    ch2 = start["channel"]
    assert start["args"] == ["100"]
    assert ch2["state"] == "Ring" and ch2["name"].endswith(";2")
    assert ch2["caller"] == {"name": "Demo caller", "number": "+821012345678"}
    assert ch2["dialplan"] == {
        "context": "callwright-inbound", "exten": "100", "priority": 3,
        "app_name": "Stasis", "app_data": "callwright,100",
    }

    assert await app.call("POST", f"/channels/{ch2['id']}/answer") == (204, "")
    await app.settle()
    answered = app.drain()
    assert roles(answered) == [
        ("ChannelStateChange", ";2"),
        ("ChannelStateChange", ";1"),
        ("Dial", ";1"),
        ("ChannelVarset", ";1"),
        ("StasisStart", ";1"),
    ]
    assert answered[2]["dialstatus"] == "ANSWER"
    assert answered[-1]["args"] == []

    assert await app.call("DELETE", f"/channels/{ch2['id']}") == (204, "")
    await app.settle()
    ended = app.drain()
    assert roles(ended) == [
        ("ChannelHangupRequest", ";2"),
        ("ChannelHangupRequest", ";1"),
        ("StasisEnd", ";2"),
        ("ChannelVarset", ";2"),
        ("ChannelDestroyed", ";2"),
        ("StasisEnd", ";1"),
        ("ChannelVarset", ";1"),
        ("ChannelDestroyed", ";1"),
    ]
    assert (ended[0]["cause"], ended[0]["soft"]) == (32, True)
    assert ended[1]["cause"] == 16 and "soft" not in ended[1]
    assert sim.pbx.channels == {}


async def test_hanging_up_the_originated_half_while_it_rings_reports_no_answer(
    make_sim: SimFactory, make_app: AppFactory
) -> None:
    sim = await make_sim()
    app = await make_app(sim)
    await originate(app, "Local/+15550100@callwright-inbound")
    start = await app.next_event("StasisStart")
    assert start["args"] == ["+15550100"]
    app.drain()
    assert await app.call("DELETE", f"/channels/{DEMO_ID}") == (204, "")
    await app.settle()
    events = app.drain()
    assert roles(events)[:2] == [("ChannelHangupRequest", ";1"), ("Dial", ";1")]
    assert events[1]["dialstatus"] == "NOANSWER"
    assert ("StasisEnd", ";2") in roles(events)
    assert sim.pbx.channels == {}


async def test_an_extension_the_context_lacks_fails_after_the_200_unheard(
    make_sim: SimFactory, make_app: AppFactory
) -> None:
    sim = await make_sim()
    app = await make_app(sim)
    status, _ = await originate(app, "Local/s@callwright-inbound")
    assert status == 200
    await app.settle()
    assert app.drain() == []
    assert sim.pbx.channels == {}
    assert (await app.call("GET", f"/channels/{DEMO_ID}"))[0] == 404


async def test_stasis_failing_on_the_inbound_half_ends_the_call(
    make_sim: SimFactory, make_app: AppFactory
) -> None:
    sim = await make_sim()
    app = await make_app(sim, app="elsewhere")  # [callwright-inbound] runs Stasis(callwright)
    status, _ = await originate(app, "Local/100@callwright-inbound")
    assert status == 200
    await asyncio.sleep(0.1)
    await app.settle()
    events = app.drain()
    assert "StasisStart" not in [e["type"] for e in events]
    assert roles(events)[-4:] == [
        ("ChannelHangupRequest", ";2"),
        ("ChannelHangupRequest", ";1"),
        ("ChannelDestroyed", ";2"),
        ("ChannelDestroyed", ";1"),
    ]
    assert sim.pbx.channels == {}


async def test_an_unregistered_app_gets_nothing(
    make_sim: SimFactory, make_app: AppFactory
) -> None:
    sim = await make_sim()
    app = await make_app(sim)
    status, _ = await app.call(
        "POST", "/channels", endpoint="Local/100@callwright-inbound", app="not-registered-app",
    )
    assert status == 200
    await app.settle()
    assert app.drain() == []
    assert sim.pbx.channels == {}


async def test_other_contexts_can_be_configured(
    make_sim: SimFactory, make_app: AppFactory
) -> None:
    sim = await make_sim()
    sim.ctx.inbound_contexts["from-pbx"] = InboundContext(app="callwright", language="ko")
    app = await make_app(sim)
    await originate(app, "Local/200@from-pbx")
    start = await app.next_event("StasisStart")
    assert start["args"] == ["200"] and start["channel"]["language"] == "ko"


def test_callerid_all() -> None:
    def channel(name: str, number: str) -> Channel:
        return Channel("1", "x", ChannelKind.LOCAL_PEER, "Ring", CallerId(name, number),
                       CallerId(), DialplanLocation("c", "s", 1), 0.0)

    assert caller_all(channel("Alice", "5551234")) == '"Alice" <5551234>'
    assert caller_all(channel("", "5551234")) == "5551234"
    assert caller_all(channel("Alice", "")) == "Alice"
    assert caller_all(channel("", "")) == ""
    assert not InboundContext(app="a").has("1") and InboundContext(app="a").has("+1")
