"""The simulator's ESL inbound replies, replayed against esl-inbound-auth-errors.jsonl: every
command the lab sent to the real FreeSWITCH gets the same reply (ids and times aside)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest

from ari_app.simulator.caller import SimulatedCaller
from fs_app.simulator.server import FreeswitchSimulator, socket_dialplan
from tests.fs_app.simulator.esl_client import RawEsl
from tests.fs_app.traces import lines

#: Replies whose text depends on the moment (uptime, ids), compared by shape only.
VARIABLE = re.compile(r"^(UP |\+OK [0-9a-f-]{36}\n|\+OK Job-UUID: )")


@pytest.fixture
async def sim() -> AsyncIterator[FreeswitchSimulator]:
    simulator = FreeswitchSimulator(dialplan={
        **socket_dialplan("127.0.0.1", 9), "busy": [("hangup", "USER_BUSY")],
        "ring": [("ring_ready", ""), ("sleep", "60000")],
    })
    await simulator.start()
    yield simulator
    await simulator.stop()


def exchanges(conn_names: set[str]) -> list[tuple[str, str, str]]:
    """(command, reply content type, reply text) of connections ``conn_names``, in order."""
    out: list[tuple[str, str, str]] = []
    command: str | None = None
    for line in lines("esl-inbound-auth-errors.jsonl"):
        if line.get("conn") not in conn_names:
            continue
        if line["dir"] == "send":
            command = line["raw"]
        elif line["dir"] == "recv" and command is not None and line["ctype"] != "auth/request":
            text = line["body"] if line["ctype"] == "api/response" else \
                dict(line["headers"]).get("Reply-Text", line["body"])
            out.append((command, line["ctype"], text))
            if line["ctype"] != "text/disconnect-notice" and not command.startswith("exit"):
                command = None
    return out


REPLAYED = {"api uuid_", "api nosuchcommand", "nosuchcommand", "api\n", "auth", "api version",
            "api hostname", "api global_getvar", "event ", "noevents", "nixevent", "linger",
            "nolinger", "log ", "nolog", "sendmsg", "getvar", "api show channels",
            "api show calls", "bgapi", "exit", "api originate", "api hupall"}


async def test_every_recorded_reply_is_given_the_same(sim: FreeswitchSimulator) -> None:
    conns = sorted({line["conn"] for line in lines("esl-inbound-auth-errors.jsonl")
                    if "conn" in line})
    compared = 0
    for conn_name in conns:
        esl = await RawEsl.open(sim.esl_port)
        assert (await esl.next()).content_type == "auth/request"
        try:
            for command, ctype, text in exchanges({conn_name}):
                if not any(command.startswith(p) for p in REPLAYED):
                    continue
                if command.startswith("event xml") or command.startswith("filter"):
                    continue
                if ctype == "text/disconnect-notice":
                    got = await esl.next()
                else:
                    got = await esl.command(command)
                assert got.content_type == ctype, command
                got_text = got.text if ctype in ("api/response", "text/disconnect-notice") \
                    else got.reply_text
                if VARIABLE.match(text):
                    assert VARIABLE.match(got_text), (command, got_text)
                else:
                    assert got_text == text, command
                compared += 1
        except EOFError:
            pass
        finally:
            esl.close()
    assert compared >= 46


async def test_a_bad_password_is_refused_and_the_socket_closed(sim: FreeswitchSimulator) -> None:
    esl = await RawEsl.open(sim.esl_port)
    await esl.next()
    assert (await esl.command("auth WrongPassword\n\n")).reply_text == "-ERR invalid"
    notice = await esl.next()
    assert notice.content_type == "text/disconnect-notice"
    assert await esl.closed()
    esl.close()


async def test_commands_before_auth_are_not_found_and_the_socket_stays(
    sim: FreeswitchSimulator,
) -> None:
    esl = await RawEsl.open(sim.esl_port)
    await esl.next()
    assert (await esl.command("api status\n\n")).reply_text == "-ERR command not found"
    assert (await esl.command("auth ClueCon\n\n")).reply_text == "+OK accepted"
    esl.close()


async def test_uuid_commands_on_a_live_channel_reply_as_recorded(
    sim: FreeswitchSimulator,
) -> None:
    """The plain-call trace's uuid_* commands, on a simulated call of the same shape."""
    recorded_uuid = "492bd6e5-dad5-4e27-a10c-ce89e43b5ad1"  # B leg of call 1 in the trace
    call = sim.place_call("park", SimulatedCaller())
    uuid = call.b.channel.uuid
    esl = await RawEsl.open(sim.esl_port)
    await esl.next()
    await esl.command("auth ClueCon\n\n")
    await asyncio.sleep(0.1)
    checked = 0
    command: str | None = None
    for line in lines("esl-inbound-plain-call.jsonl"):
        if line["dir"] == "send":
            command = line["raw"] if recorded_uuid in line["raw"] else None
            continue
        if command is None or line["dir"] != "recv" or line["ctype"] != "api/response":
            continue
        if " tone " in command or "does-not-exist" in command:
            command = None
            continue
        got = (await esl.command(command.replace(recorded_uuid, uuid))).text
        want = line["body"].replace(recorded_uuid, uuid)
        if command.startswith("api uuid_dump"):
            assert got.split("\n")[0] == want.split("\n")[0] == "Event-Name: CHANNEL_DATA"
            assert f"Unique-ID: {uuid}" in got
        else:
            assert got == want, command
        checked += 1
        command = None
    assert checked >= 8
    esl.close()
    await asyncio.wait_for(call.ended.wait(), 3)
