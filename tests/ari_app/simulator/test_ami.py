"""The simulator's AMI server against the recorded Asterisk 22.10.1 text (outbound-ami/ami-*.txt):
banner, login, Ping and ActionID echo, errors, CoreShowChannels, Originate outcomes with
OriginateResponse, Hangup, Logoff."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest

from ari_app.simulator.far_end import FarEnd
from tests.ari_app.simulator.ami_helpers import OPENED, RawAmi, fields, keys, recorded
from tests.ari_app.simulator.conftest import AppFactory, SimFactory

LIVE = recorded("ami-live-status.txt")
STREAM = recorded("ami-event-stream.txt")


@pytest.fixture(autouse=True)
async def _close_sockets() -> AsyncIterator[None]:
    yield
    while OPENED:
        await OPENED.pop().close()

OUTCOMES = recorded("ami-originate-outcomes.txt")


def first(blocks: list[tuple[str, str]], start: str) -> str:
    return next(raw for d, raw in blocks if d == "recv" and raw.startswith(start))


async def logged_in(port: int, events: str = "on") -> RawAmi:
    ami = await RawAmi.open(port)
    assert await ami.banner() == b"Asterisk Call Manager/11.0.0\r\n"
    ami.send(("Action", "Login"), ("ActionID", "login-1"), ("Username", "callwright"),
             ("Secret", "test-secret"), ("Events", events))
    assert await ami.read() == ("Response: Success\r\nActionID: login-1\r\n"
                                "Message: Authentication accepted")
    if events == "on":
        booted = await ami.read()
        assert keys(booted) == keys(first(recorded("ami-setup-two-calls.txt"),
                                          "Event: FullyBooted"))
        auth = await ami.read()
        recorded_auth = first(STREAM, "Event: SuccessfulAuth")
        assert keys(auth) == keys(recorded_auth)
        fixed = ("Privilege", "Severity", "Service", "EventVersion", "UsingPassword")
        assert {k: fields(auth)[k] for k in fixed} == {k: fields(recorded_auth)[k] for k in fixed}
        assert fields(auth)["AccountID"] == "callwright"
        assert fields(auth)["LocalAddress"] == f"IPV4/TCP/127.0.0.1/{port}"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000",
                            fields(auth)["EventTV"])
    return ami


async def test_login_ping_errors_logoff(make_sim: SimFactory) -> None:
    sim = await make_sim(ami=True)
    assert sim.ami is not None
    ami = await logged_in(sim.ami.port)
    ami.send(("Action", "Ping"), ("ActionID", "q id with spaces: and colon"))
    pong = await ami.read()
    assert keys(pong) == keys(first(LIVE, "Response: Success\r\nActionID: q id with spaces"))
    assert fields(pong)["ActionID"] == "q id with spaces: and colon"
    ami.send(("Action", "Ping"))
    assert keys(await ami.read()) == ["Response", "Ping", "Timestamp"]  # no ActionID sent
    ami.send(("Action", "NoSuchAction"), ("ActionID", "q-unknown"))
    assert await ami.read() == first(LIVE, "Response: Error\r\nActionID: q-unknown")
    ami.send(("Action", "QueueStatus"), ("ActionID", "q-qs"))
    assert [await ami.read(), await ami.read()] == [
        first(LIVE, "Response: Success\r\nActionID: q-qs"),
        first(LIVE, "Event: QueueStatusComplete")]
    ami.send(("Action", "QueueAdd"), ("ActionID", "q-qadd"), ("Queue", "sales"),
             ("Interface", "Local/s@x"))
    assert await ami.read() == first(LIVE, "Response: Error\r\nActionID: q-qadd")
    ami.send(("Action", "Hangup"), ("ActionID", "h-2"), ("Channel", "Local/s@nope-00000001;1"))
    assert await ami.read() == first(recorded("ami-hangup.txt"),
                                     "Response: Error\r\nActionID: h-2")
    ami.send(("Action", "Logoff"), ("ActionID", "fr-29"))
    assert await ami.read() == first(recorded("ami-logoff.txt"), "Response: Goodbye")
    assert await ami.reader.read() == b""  # closed by the server


async def test_bad_secret_and_actions_before_login(make_sim: SimFactory) -> None:
    sim = await make_sim(ami=True)
    assert sim.ami is not None
    ami = await RawAmi.open(sim.ami.port)
    await ami.banner()
    ami.send(("Action", "Ping"))
    assert await ami.read() == "Response: Error\r\nMessage: Permission denied"
    ami.send(("Action", "Login"), ("Username", "callwright"), ("Secret", "wrong"))
    assert await ami.read() == "Response: Error\r\nMessage: Authentication failed"
    assert await asyncio.wait_for(ami.reader.read(), 3) == b""
    quiet = await logged_in(sim.ami.port, events="off")
    quiet.send(("Action", "Ping"), ("ActionID", "p"))
    assert (await quiet.read()).startswith("Response: Success\r\nActionID: p\r\nPing: Pong")


async def test_core_show_channels_lists_the_calls(
    make_sim: SimFactory, make_app: AppFactory
) -> None:
    sim = await make_sim(ami=True)
    assert sim.ami is not None
    await make_app(sim)
    await sim.place_call(dialed="100")
    ami = await logged_in(sim.ami.port, events="off")
    ami.send(("Action", "CoreShowChannels"), ("ActionID", "q-csc"))
    assert await ami.read() == first(LIVE, "Response: Success\r\nActionID: q-csc")
    shown = [await ami.read(), await ami.read(), await ami.read()]
    want = first(LIVE, "Event: CoreShowChannel\r\nActionID: q-csc")
    assert [keys(x) for x in shown[:2]] == [keys(want)] * 2
    assert {fields(x)["Channel"][-2:] for x in shown[:2]} == {";1", ";2"}
    assert shown[2] == ("Event: CoreShowChannelsComplete\r\nActionID: q-csc\r\n"
                        "EventList: Complete\r\nListItems: 2")


async def test_originate_outcomes(make_sim: SimFactory, make_app: AppFactory) -> None:
    sim = await make_sim(ami=True)
    assert sim.ami is not None
    app = await make_app(sim)
    sim.set_destination("busy", FarEnd("busy"))
    sim.set_destination("ring", FarEnd("no_answer"))
    ami = await logged_in(sim.ami.port)
    ami.send(("Action", "Originate"), ("ActionID", "o-busy"), ("Channel", "Local/busy@out"),
             ("Context", "fr-ami-agent"), ("Exten", "s"), ("Priority", "1"),
             ("CallerID", "Factrec <5550100>"), ("Async", "true"))
    assert await ami.read() == ("Response: Success\r\nActionID: o-busy\r\n"
                                "Message: Originate successfully queued")
    got = await ami.until("OriginateResponse")
    response = fields(got[-1])
    want = fields(first(OUTCOMES, "Event: OriginateResponse\r\nPrivilege: call,all\r\n"
                                  "ActionID: o-busy"))
    assert keys(got[-1]) == keys(first(OUTCOMES, "Event: OriginateResponse\r\nPrivilege: "
                                                 "call,all\r\nActionID: o-busy"))
    assert {k: response[k] for k in ("Response", "Reason", "Uniqueid", "CallerIDNum")} == {
        k: want[k] for k in ("Response", "Reason", "Uniqueid", "CallerIDNum")}
    assert response["Channel"] == "Local/busy@out"
    assert got[-2].startswith("Event: DialEnd\r\n")  # as recorded: DialEnd, then the response
    assert fields(got[-2])["DialStatus"] == "BUSY"
    after = await ami.until("Hangup")
    after += await ami.until("Hangup")
    hangups = [fields(x) for x in after if x.startswith("Event: Hangup\r\n")]
    assert [(h["Cause"], h["Cause-txt"]) for h in hangups] == [("17", "User busy"),
                                                               ("0", "Unknown")]
    ami.send(("Action", "Originate"), ("ActionID", "o-noanswer"), ("Channel", "Local/ring@out"),
             ("Context", "x"), ("Exten", "s"), ("Priority", "1"), ("Timeout", "1000"),
             ("Async", "true"))
    await ami.read()
    assert fields((await ami.until("OriginateResponse"))[-1])["Reason"] == "3"
    ami.send(("Action", "Originate"), ("ActionID", "o-bad"), ("Channel", "Foo/bar"),
             ("Context", "x"), ("Exten", "s"), ("Async", "true"))
    await ami.read()
    bad = fields((await ami.until("OriginateResponse"))[-1])
    assert (bad["Response"], bad["Reason"], bad["Channel"]) == ("Failure", "0", "Foo/bar")
    ami.send(("Action", "Originate"), ("ActionID", "o-busy-sync"), ("Channel", "Local/busy@o"),
             ("Context", "x"), ("Exten", "s"))
    assert await ami.read() == first(OUTCOMES, "Response: Error\r\nActionID: o-busy-sync")
    ami.send(("Action", "Originate"), ("ActionID", "o-missing"), ("Context", "x"))
    assert await ami.read() == first(OUTCOMES, "Response: Error\r\nActionID: o-missing")
    # Into our Stasis app: answered, the app gets the channel (and not its Dial events)
    ami.send(("Action", "Originate"), ("ActionID", "o-app"), ("Channel", "Local/+15550100@out"),
             ("Application", "Stasis"), ("Data", "callwright,outbound,abc"), ("Async", "true"))
    await ami.read()
    ok = fields((await ami.until("OriginateResponse"))[-1])
    assert (ok["Response"], ok["Reason"], ok["Application"], ok["Data"]) == (
        "Success", "4", "Stasis", "callwright,outbound,abc")
    start = await app.next_event("StasisStart")
    assert start["args"] == ["outbound", "abc"] and start["channel"]["id"] == ok["Uniqueid"]
    assert not any(e["type"] == "Dial" for e in app.events)
    ami.send(("Action", "Hangup"), ("ActionID", "h-1"), ("Channel", ok["Channel"]))
    assert await ami.response() == first(recorded("ami-hangup.txt"),
                                         "Response: Success\r\nActionID: h-1")
    await app.next_event("StasisEnd")
