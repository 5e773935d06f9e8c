"""The simulator's AMI event stream of a call replayed against the recorded one
(outbound-ami/ami-event-stream.txt, ami-hangup.txt): event names, order, header names, and the
values that do not change from call to call; uniqueids, names and linkedids consistent."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from ari_app.simulator.far_end import FarEnd
from tests.ari_app.simulator.ami_helpers import OPENED, RawAmi, fields, keys, recorded
from tests.ari_app.simulator.conftest import AppFactory, SimFactory

STREAM = recorded("ami-event-stream.txt")
HANGUP = recorded("ami-hangup.txt")
#: Headers whose recorded value is the same for any call of this shape.
FIXED = ("Privilege", "ChannelState", "ChannelStateDesc", "CallerIDNum", "CallerIDName",
         "ConnectedLineNum", "ConnectedLineName", "Language", "AccountCode", "Context", "Exten",
         "Priority", "Extension", "Application", "AppData", "Variable", "Value", "DialStatus",
         "DialString", "LocalOptimization", "CID-CallingPres", "Cause", "Cause-txt",
         "DestChannelState", "DestContext", "DestCallerIDNum", "LocalOneChannelState",
         "LocalTwoChannelState", "LocalOneContext", "LocalTwoContext")


@pytest.fixture(autouse=True)
async def _close_sockets() -> AsyncIterator[None]:
    yield
    while OPENED:
        await OPENED.pop().close()


def recorded_events(blocks: list[tuple[str, str]], pair: str) -> list[str]:
    """The recorded events about the Local pair whose name starts with ``pair``."""
    return [raw for d, raw in blocks if d == "recv" and raw.startswith("Event: ")
            and pair in raw and "DeviceStateChange" not in raw]


def name_of(raw: str) -> str:
    return fields(raw)["Event"]


def half(raw: str) -> str:
    f = fields(raw)
    return (f.get("Channel") or f.get("DestChannel") or "")[-2:]


def assert_like(got: list[str], want: list[str]) -> None:
    assert [(name_of(x), half(x)) for x in got] == [(name_of(x), half(x)) for x in want]
    for mine, theirs in zip(got, want, strict=True):
        assert keys(mine) == keys(theirs), name_of(theirs)
        f, g = fields(mine), fields(theirs)
        fixed = {k: g[k] for k in FIXED if k in g}
        assert {k: f.get(k) for k in fixed} == fixed, name_of(theirs)


async def logged_in(port: int) -> RawAmi:
    ami = await RawAmi.open(port)
    await ami.banner()
    ami.send(("Action", "Login"), ("Username", "callwright"), ("Secret", "test-secret"),
             ("Events", "on"))
    got = [await ami.read() for _ in range(3)]
    assert [x.split("\r\n")[0] for x in got] == [
        "Response: Success", "Event: FullyBooted", "Event: SuccessfulAuth"]
    return ami


def assert_ids_consistent(events: list[str]) -> None:
    """One ;1 uniqueid and one ;2 uniqueid, both halves linked to the ;1, one channel name
    base, as Asterisk gives a Local pair."""
    by_half: dict[str, set[str]] = {";1": set(), ";2": set()}
    linked: set[str] = set()
    bases: set[str] = set()
    for raw in events:
        f = fields(raw)
        for prefix in ("", "Dest", "LocalOne", "LocalTwo"):
            name = f.get(prefix + "Channel")
            if name is None:
                continue
            by_half[name[-2:]].add(f[prefix + "Uniqueid"])
            linked.add(f[prefix + "Linkedid"])
            bases.add(name[:-2])
    assert len(by_half[";1"]) == 1 and len(by_half[";2"]) == 1
    assert linked == by_half[";1"]
    assert by_half[";1"] != by_half[";2"]
    assert len(bases) == 1 and re.fullmatch(r"Local/s@fr-ami-callee-[0-9a-f]{8}", bases.pop())


async def test_an_originated_call_streams_the_recorded_events(make_sim: SimFactory) -> None:
    sim = await make_sim(ami=True)
    assert sim.ami is not None
    ami = await logged_in(sim.ami.port)
    ami.send(("Action", "Originate"), ("ActionID", "o-stream"),
             ("Channel", "Local/s@fr-ami-callee"), ("Context", "fr-ami-agent"), ("Exten", "s"),
             ("Priority", "1"), ("CallerID", "Factrec <5550100>"), ("Timeout", "30000"),
             ("Variable", "FR_ORIG=1"), ("Async", "true"))
    assert await ami.read() == first_recv("Response: Success\r\nActionID: o-stream")
    got = await ami.until("OriginateResponse")
    want = recorded_events(STREAM, "fr-ami-callee-0000003b")
    # Up to the answer: everything the recording has about the pair, in its order. The
    # OriginateResponse comes right after DialEnd here; its place around DialEnd varies on a
    # real Asterisk too (ami-live-status.md).
    answered = next(i for i, raw in enumerate(want) if fields(raw).get("DialStatus") == "ANSWER")
    response = next(raw for raw in want if raw.startswith("Event: OriginateResponse"))
    prefix = [raw for raw in want[:answered + 1] if raw is not response]
    assert name_of(got[-1]) == "OriginateResponse"
    assert_like(got[:-1], prefix)
    assert keys(got[-1]) == keys(response)
    mine, theirs = fields(got[-1]), fields(response)
    assert {k: mine[k] for k in ("ActionID", "Response", "Context", "Exten", "Reason",
                                 "CallerIDNum", "CallerIDName")} == {
        k: theirs[k] for k in ("ActionID", "Response", "Context", "Exten", "Reason",
                               "CallerIDNum", "CallerIDName")}
    assert mine["Uniqueid"] == fields(got[0])["Uniqueid"] and mine["Channel"].endswith(";1")
    assert_ids_consistent(got[:-1])
    # The AMI Hangup action on the ;1 half: as in ami-hangup.txt (h-1)
    ami.send(("Action", "Hangup"), ("ActionID", "h-1"), ("Channel", mine["Channel"]))
    assert await ami.response() == first_recv("Response: Success\r\nActionID: h-1", HANGUP)
    tail = await ami.until("Hangup")
    tail += await ami.until("Hangup")
    tail = [raw for raw in tail if "Event: VarSet" not in raw]
    recorded_tail = recorded_events(HANGUP, "fr-ami-wait-00000038")
    assert [(name_of(x), half(x)) for x in tail] == [
        (name_of(x), half(x)) for x in recorded_tail]
    for mine_raw, theirs_raw in zip(tail, recorded_tail, strict=True):
        assert keys(mine_raw) == keys(theirs_raw)
    requests = [(name_of(x), fields(x)["Cause"]) for x in tail if "HangupRequest" in x]
    assert requests == [(name_of(x), fields(x)["Cause"]) for x in recorded_tail
                        if "HangupRequest" in x]
    # Not matched yet: after a Hangup action without Cause, Asterisk's Hangup events say
    # 0 "Unknown"; the simulator's PBX ends both halves with 16 (its ARI side does so too).
    assert_ids_consistent(got[:-1] + tail)


def first_recv(start: str, blocks: list[tuple[str, str]] = STREAM) -> str:
    return next(raw for d, raw in blocks if d == "recv" and raw.startswith(start))


async def test_an_inbound_call_streams_an_answered_originate(
    make_sim: SimFactory, make_app: AppFactory
) -> None:
    """An inbound call is the originate of Local/s@<caller context> into the Stasis context,
    already answered: the same events up to DialEnd, then its context's Answer and Stasis."""
    sim = await make_sim(ami=True)
    assert sim.ami is not None
    await make_app(sim)
    ami = await logged_in(sim.ami.port)
    await sim.place_call("100", "5550100", "Factrec", caller_context="fr-ami-callee")
    got = await ami.until("DialEnd")
    want = recorded_events(STREAM, "fr-ami-callee-0000003b")
    answered = next(i for i, raw in enumerate(want) if fields(raw).get("DialStatus") == "ANSWER")
    prefix = [raw for raw in want[:answered + 1]
              if not raw.startswith("Event: OriginateResponse")
              and not raw.startswith("Event: VarSet")]  # the inbound call sets no variable
    assert_like(got, prefix)
    assert_ids_consistent(got)
    after = [fields(await ami.read()) for _ in range(3)]
    assert [(f["Event"], f.get("Application"), f.get("Variable")) for f in after] == [
        ("Newexten", "Answer", None), ("Newexten", "Stasis", None), ("VarSet", None,
                                                                     "STASISSTATUS")]
    assert [f["Context"] for f in after[:2]] == ["from-test", "from-test"]


@pytest.mark.parametrize(("outcome", "action_id", "pair"), [
    ("busy", "o-busy", "fr-busy-0000003d"), ("congestion", "o-congestion",
                                             "fr-congestion-0000003e")])
async def test_a_refused_originate_streams_the_recorded_outcome(
    make_sim: SimFactory, outcome: str, action_id: str, pair: str
) -> None:
    """ami-originate-outcomes.txt kept only DialEnd, OriginateResponse and Hangup: those,
    in that order, with the recorded headers and causes, among the rest of the stream."""
    outcomes = recorded("ami-originate-outcomes.txt")
    sim = await make_sim(ami=True)
    assert sim.ami is not None
    sim.set_destination("s", FarEnd(outcome))
    ami = await logged_in(sim.ami.port)
    ami.send(("Action", "Originate"), ("ActionID", action_id),
             ("Channel", f"Local/s@fr-{outcome}"),
             ("Context", "fr-ami-agent"), ("Exten", "s"), ("Priority", "1"),
             ("CallerID", "Factrec <5550100>"), ("Async", "true"))
    await ami.response()
    got = await ami.until("Hangup")
    got += await ami.until("Hangup")
    kept = [raw for raw in got if name_of(raw) in ("DialEnd", "OriginateResponse", "Hangup")]
    want = [raw for d, raw in outcomes if d == "recv" and (
        pair in raw or f"ActionID: {action_id}\r\n" in raw) and raw.startswith("Event: ")]
    assert [(name_of(x), half(x)) for x in kept] == [(name_of(x), half(x)) for x in want]
    for mine, theirs in zip(kept, want, strict=True):
        assert keys(mine) == keys(theirs)
        f, g = fields(mine), fields(theirs)
        for k in ("Cause", "Cause-txt", "DialStatus", "Reason", "Response", "ChannelStateDesc",
                  "DestChannelStateDesc", "Channel"):
            if k in g and not (k == "Channel" and g[k].endswith((";1", ";2"))):
                assert f[k] == g[k], (name_of(theirs), k)


async def test_an_unanswered_originate_streams_the_recorded_outcome(
    make_sim: SimFactory,
) -> None:
    """No answer before the Originate's Timeout: no DialEnd, OriginateResponse (Reason 3),
    then Hangup ;1 and ;2 with cause 19, as in ami-originate-outcomes.txt."""
    outcomes = recorded("ami-originate-outcomes.txt")
    sim = await make_sim(ami=True)
    assert sim.ami is not None
    sim.set_destination("s", FarEnd("no_answer"))
    ami = await logged_in(sim.ami.port)
    ami.send(("Action", "Originate"), ("ActionID", "o-noanswer"),
             ("Channel", "Local/s@fr-noanswer"), ("Context", "fr-ami-agent"), ("Exten", "s"),
             ("Priority", "1"), ("Timeout", "1000"), ("Async", "true"))
    await ami.response()
    got = await ami.until("Hangup")
    got += await ami.until("Hangup")
    kept = [raw for raw in got if name_of(raw) in ("DialEnd", "OriginateResponse", "Hangup")]
    want = [raw for d, raw in outcomes if d == "recv" and raw.startswith("Event: ") and (
        "fr-noanswer-0000003f" in raw or "ActionID: o-noanswer\r\n" in raw)]
    assert [(name_of(x), half(x)) for x in kept] == [(name_of(x), half(x)) for x in want]
    for mine, theirs in zip(kept, want, strict=True):
        assert keys(mine) == keys(theirs)
        f, g = fields(mine), fields(theirs)
        assert [f.get(k) for k in ("Cause", "Cause-txt", "Reason", "ChannelStateDesc")] == [
            g.get(k) for k in ("Cause", "Cause-txt", "Reason", "ChannelStateDesc")]
