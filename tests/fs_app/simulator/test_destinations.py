"""Originate outcomes per destination on the simulated FreeSWITCH, as recorded (busy, no
answer, an answer whose A leg runs ``&park()`` until uuid_transfer sends it to our socket)."""

from __future__ import annotations

import asyncio
import time
import uuid as uuidlib

import pytest

from ari_app.simulator.caller import SimulatedCaller
from fs_app.esl import commands
from fs_app.simulator.destinations import Destination
from tests.fs_app.simulator.conftest import Rig
from tests.fs_app.simulator.esl_client import RawEsl
from tests.fs_app.traces import lines

NUMBER = "+15550100199"


def originate(a_uuid: str, *, timeout_s: int = 5, number: str = NUMBER) -> str:
    return (f"originate {{origination_uuid={a_uuid},originate_timeout={timeout_s},"
            f"callwright_outbound=o1,origination_caller_id_number=15550100}}"
            f"loopback/{number}/default &park()")


@pytest.mark.parametrize(("outcome", "reply"), [
    ("busy", "-ERR USER_BUSY\n"), ("rejected", "-ERR CALL_REJECTED\n"),
    ("unallocated", "-ERR UNALLOCATED_NUMBER\n"),
    ("congestion", "-ERR NORMAL_CIRCUIT_CONGESTION\n"),
])
async def test_a_far_end_that_hangs_up_fails_the_originate_with_its_cause(
    rig: Rig, outcome: str, reply: str,
) -> None:
    rig.sim.set_destination(NUMBER, Destination(outcome, ring_s=0.1))
    a_uuid = str(uuidlib.uuid4())
    assert await rig.sim.api(originate(a_uuid)) == reply
    await asyncio.sleep(0.1)
    assert rig.sim.channels == {}  # both legs gone, the cause on both (as USER_BUSY was)


async def test_no_answer_ends_at_the_originate_timeout(rig: Rig) -> None:
    rig.sim.set_destination(NUMBER, Destination("no_answer"))
    started = time.monotonic()
    assert await rig.sim.api(originate(str(uuidlib.uuid4()), timeout_s=1)) == "-ERR NO_ANSWER\n"
    assert 0.9 < time.monotonic() - started < 2.0
    await asyncio.sleep(0.1)
    assert rig.sim.channels == {}


async def test_an_unknown_number_is_no_route_and_another_endpoint_not_implemented(
    rig: Rig,
) -> None:
    assert await rig.sim.api(originate(str(uuidlib.uuid4()), number="+15559999")) == \
        "-ERR NO_ROUTE_DESTINATION\n"
    assert await rig.sim.api("originate sofia/gateway/trunk/+15550100199 &park()") == \
        "-ERR CHAN_NOT_IMPLEMENTED\n"
    with pytest.raises(ValueError, match="outcome"):
        Destination("maybe")


async def test_an_answered_call_parks_our_leg_until_transferred_to_the_socket(rig: Rig) -> None:
    callee = SimulatedCaller()
    rig.sim.set_destination(NUMBER, Destination("answer", ring_s=0.2, callee=lambda: callee))
    a_uuid = str(uuidlib.uuid4())
    started = time.monotonic()
    assert await rig.sim.api(originate(a_uuid)) == f"+OK {a_uuid}\n"
    assert time.monotonic() - started >= 0.2  # it rang first
    assert callee.connected  # the person who answered hears our leg
    channel = rig.sim.channels[a_uuid]
    assert channel.answer_state == "answered"
    assert channel.getvar("callwright_outbound") == "o1"
    assert rig.accepted.empty()  # parked, not on our socket yet
    assert await rig.sim.api(f"uuid_transfer {a_uuid} callwright XML default") == "+OK\n"
    esl = await asyncio.wait_for(rig.accepted.get(), 3)
    data = (await esl.command(commands.connect().decode())).decoded()
    assert data["Unique-ID"] == a_uuid and data["Answer-State"] == "answered"
    assert data["Caller-Destination-Number"] == "callwright"
    assert data["variable_callwright_outbound"] == "o1"
    # the callee presses a key: the DTMF event is on our leg; hanging up ends ours too
    assert (await esl.command(commands.myevents().decode())).reply_text == "+OK Events Enabled"
    callee.send_dtmf("5")
    pressed = await esl.event("DTMF")
    assert (pressed.get("DTMF-Digit"), pressed.uuid) == ("5", a_uuid)
    await callee.hangup()
    assert (await esl.event("CHANNEL_HANGUP")).uuid == a_uuid


def recorded_originates() -> list[tuple[str, str, dict[str, str]]]:
    """(command, api reply, {leg name: hang-up cause}) of the recorded ``api originate`` to the
    busy and ringing extensions (esl-inbound-sendmsg-answer.jsonl)."""
    out: list[tuple[str, str, dict[str, str]]] = []
    current: tuple[str, str, dict[str, str]] | None = None
    for line in lines("esl-inbound-sendmsg-answer.jsonl"):
        raw = line.get("raw", "")
        if line["dir"] == "send" and raw.startswith("api originate"):
            current = (raw.strip()[4:], "", {})
            out.append(current)
        elif current is not None and line["dir"] == "recv" and \
                line.get("ctype") == "api/response" and not current[1]:
            out[-1] = current = (current[0], line["body"], current[2])
        elif current is not None and line.get("event_name") == "CHANNEL_HANGUP_COMPLETE":
            current[2][line["event"]["Channel-Name"]] = line["event"]["Hangup-Cause"]
    return out


async def test_the_recorded_refusals_are_replayed_with_the_same_replies_and_causes(
    rig: Rig,
) -> None:
    """The destinations behave as the recorded extensions ``ring`` and ``busy`` did: the same
    api reply and the same hang-up cause on both legs."""
    rig.sim.set_destination("ring", Destination("no_answer"))
    rig.sim.set_destination("busy", Destination("busy"))
    watcher = await RawEsl.open(rig.sim.esl_port)
    assert (await watcher.next()).content_type == "auth/request"
    try:
        await watcher.command(commands.auth("ClueCon").decode())
        await watcher.command(commands.events(["CHANNEL_HANGUP_COMPLETE"]).decode())
        replayed = recorded_originates()
        assert [reply for _, reply, _ in replayed] == ["-ERR NO_ANSWER\n", "-ERR USER_BUSY\n"]
        for command, reply, causes in replayed:
            assert await rig.sim.api(command) == reply, command
            seen = {}
            for _ in causes:
                event = await watcher.event("CHANNEL_HANGUP_COMPLETE")
                seen[event.get("Channel-Name")] = event.get("Hangup-Cause")
            assert seen == causes, command
    finally:
        watcher.close()
