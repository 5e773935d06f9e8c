"""The simulator's events against the recorded ones: the same order after the app hangs up
(esl-outbound.jsonl, scenario 1), and no header FreeSWITCH never sent for that event."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest

from fs_app.esl import commands
from fs_app.esl.events import EslEvent, parse_event
from fs_app.esl.parser import EslParser
from tests.fs_app.simulator.conftest import Rig, start_call
from tests.fs_app.traces import ESL_FILES, lines


@pytest.fixture(scope="session")
def recorded_names() -> dict[str, set[str]]:
    """Parsed once, outside any event loop (half a second of parsing would trip the watchdog)."""
    return recorded_header_names()


def recorded_header_names() -> dict[str, set[str]]:
    names: dict[str, set[str]] = defaultdict(set)
    for name in ESL_FILES:
        if "-json" in name:
            continue
        for line in lines(name):
            if line["dir"] == "event":
                event = parse_event(EslParser().feed(line["raw"].encode())[0])
                names[event.name].update(k for k in event.headers if not k.startswith("variable_"))
    return names


def recorded_teardown_after_app_hangup() -> list[tuple[str, str]]:
    """Scenario 1: what the socket got from the hangup sendmsg to the disconnect notice."""
    out: list[tuple[str, str]] = []
    started = False
    for line in lines("esl-outbound.jsonl"):
        if line.get("conn") != "out1":
            continue
        if line["dir"] == "send" and "execute-app-name: hangup" in line["raw"]:
            started = True
        elif started and line["dir"] == "event":
            out.append((line["event_name"], line["event"].get("Application", "")))
        elif started and line.get("ctype") == "text/disconnect-notice":
            out.append(("text/disconnect-notice", ""))
            break
    return out


async def test_the_teardown_after_the_app_hangs_up_is_in_the_recorded_order(rig: Rig) -> None:
    call, esl = await rig.call()
    await start_call(rig, esl)
    await esl.command(commands.execute("hangup", "NORMAL_CLEARING").decode())
    seen: list[tuple[str, str]] = []
    async with asyncio.timeout(5):
        while True:
            message = await esl.next_any()
            if message.content_type == "text/disconnect-notice":
                seen.append(("text/disconnect-notice", ""))
                break
            event = parse_event(message)
            seen.append((event.name, event.get("Application")))
    assert seen == recorded_teardown_after_app_hangup()
    await asyncio.wait_for(call.ended.wait(), 3)


async def test_every_header_of_a_simulated_event_was_seen_on_that_event(
    rig: Rig, recorded_names: dict[str, set[str]],
) -> None:
    call, esl = await rig.call()
    uuid = await start_call(rig, esl)
    await esl.command(commands.execute("playback", "silence_stream://200").decode())
    await esl.event("PLAYBACK_STOP")
    call.caller.send_dtmf("1")
    await esl.event("DTMF", within_s=3)
    await esl.command(commands.api(f"uuid_kill {uuid}").decode())
    await esl.event("CHANNEL_HANGUP_COMPLETE")
    recorded = recorded_names
    events: list[EslEvent] = list(esl.events)
    assert len(events) >= 5
    for event in events:
        extra = {k for k in event.headers if not k.startswith("variable_")} - recorded[event.name]
        assert not extra, (event.name, sorted(extra))
