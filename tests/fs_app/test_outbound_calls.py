"""Outbound calls through FreeSWITCH, whole: the FreeSWITCH call service places the queued call
from its inbound ESL (bgapi originate) on the FreeSWITCH simulator, whose destinations answer,
ring out or refuse as recorded; the answered callee is handed to our socket (uuid_transfer to the
outbound extension) and talks with the assistant (real Vosk, espeak-ng, SQLite)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from ari_app.demo import DEMO_PHRASES
from ari_app.demo_caller import heard_speech_after, synthesize_phrases
from ari_app.simulator.caller import SimulatedCaller
from ari_app.simulator.far_end import AMD_PROFILES, callee_audio
from callwright.dialog.demo_flow import DEMO_FLOW
from callwright.store.outbound_calls import (
    AssistantOutbound,
)
from fs_app.simulator.destinations import Destination
from tests.fs_app.outbound_node import (  # noqa: F401 (make_node_fixture: the fixture)
    CALLEE,
    FROM,
    TURN_S,
    MakeNode,
    make_node_fixture,
)

pytestmark = pytest.mark.slow

NOTICE = "이 통화는 녹음됩니다."


async def test_an_answered_call_talks_with_the_assistant_and_is_logged_outbound(
    make_node: MakeNode,
) -> None:
    node = await make_node()
    callee = SimulatedCaller()
    node.sim.set_destination(CALLEE, Destination("answer", ring_s=0.3, callee=lambda: callee))
    queued = await node.place(first_name="Ana")
    voice = await node.service.speech.tts_for({"engine": "espeak-ng", "voice": "ko"})
    audio = await synthesize_phrases(voice, DEMO_PHRASES, "ko")
    await callee.wait_for_speech(TURN_S)  # the assistant speaks first
    for pcm in audio:
        await callee.wait_until_quiet(900, timeout=TURN_S)
        await callee.say(pcm)
        stopped = time.monotonic()
        assert await heard_speech_after(callee, stopped, TURN_S) - stopped < 5

    row = await node.ended(queued)
    assert (row.outcome, row.cause) == ("answered", None)
    assert row.ring_ms is not None and 300 <= row.ring_ms < 3000
    call = await node.call_of(row)
    assert (call.direction, call.status, call.end_reason) == ("outbound", "completed",
                                                              "demo_booked")
    assert (call.dialed, call.caller_number, call.pbx) == (CALLEE, FROM, "freeswitch")
    assert call.answered_at is not None and call.slots.get("first_name") == "Ana"
    turns = await node.calls.turns(call.id)
    assert [t.speaker for t in turns][:2] == ["assistant", "caller"]
    assert [t.text for t in turns if t.speaker == "caller"] == list(DEMO_PHRASES)
    events = {e.kind: e.detail for e in await node.calls.events(call.id)}
    assert events["originate"]["outbound"] == row.uid
    uuid = events["originate"]["uuid"]
    assert call.channel_id == f"freeswitch/{uuid}"
    assert events["freeswitch_socket"] == {"uuid": uuid, "outbound": True, "pbx": "freeswitch"}
    assert events["freeswitch_media"]["frames_in"] > 100
    await asyncio.sleep(0.2)
    assert node.sim.channels == {}  # nothing left on the switch
    services = node.service.services
    assert services is not None and services.outbound is not None
    assert len(services.outbound) == 0  # no handoff left waiting


@pytest.mark.parametrize(("outcome", "expected", "cause", "text"), [
    ("busy", "busy", 17, "User busy"),
    ("no_answer", "no_answer", 19, "User alerting, no answer"),
    ("rejected", "failed", 21, "Call Rejected"),
    ("unallocated", "failed", 1, "Unallocated (unassigned) number"),
])
async def test_unanswered_calls_end_with_the_outcome_cause_and_ring_time(
    make_node: MakeNode, outcome: str, expected: str, cause: int, text: str,
) -> None:
    node = await make_node(ring_timeout_s=1)
    node.sim.set_destination(CALLEE, Destination(outcome, ring_s=0.2))
    row = await node.ended(await node.place())
    assert (row.outcome, row.cause, row.cause_text) == (expected, cause, text)
    assert row.ring_ms is not None
    assert row.ring_ms >= (1000 if outcome == "no_answer" else 200)
    call = await node.call_of(row)
    assert (call.direction, call.status) == ("outbound", "failed")
    assert call.end_reason == f"{expected} (cause {cause} {text})"
    assert call.answered_at is None


async def test_a_number_the_switch_cannot_route_fails_the_call(make_node: MakeNode) -> None:
    node = await make_node()
    row = await node.ended(await node.place("+15559999"))  # no destination, no extension
    assert (row.outcome, row.cause) == ("failed", 3)
    assert (await node.call_of(row)).status == "failed"


async def test_an_answering_machine_is_heard_by_our_detector_and_hung_up_on(
    make_node: MakeNode,
) -> None:
    node = await make_node(amd="audio")
    callee = SimulatedCaller()
    node.sim.set_destination(CALLEE, Destination("answer", callee=lambda: callee))
    queued = await node.place()

    async def machine_greeting() -> None:
        for _ in range(1000):  # until the call is answered
            if callee.connected:
                break
            await asyncio.sleep(0.02)
        await callee.say(callee_audio(AMD_PROFILES["speech"]))

    speaking = asyncio.get_running_loop().create_task(machine_greeting())
    row = await node.ended(queued)
    speaking.cancel()
    assert row.outcome == "machine"
    assert row.amd_status == "MACHINE" and row.amd_cause.startswith(("MAXWORDS", "LONGGREETING"))
    call = await node.call_of(row)
    assert (call.status, call.end_reason) == ("completed", "machine")
    events = {e.kind: e.detail for e in await node.calls.events(call.id)}
    assert events["amd"]["by"] == "audio"
    assert [t for t in await node.calls.turns(call.id) if t.speaker == "assistant"] == []


async def say_when_answered(callee: SimulatedCaller, pcm: bytes) -> None:
    for _ in range(1000):  # until the call is answered
        if callee.connected:
            break
        await asyncio.sleep(0.02)
    await callee.say(pcm)


async def test_a_machine_gets_the_message_when_the_assistant_leaves_one(
    make_node: MakeNode,
) -> None:
    node = await make_node(amd="audio")
    await node.outbound.set_assistant_settings(
        AssistantOutbound(node.assistant_id, "leave_message", "Please call us back"))
    callee = SimulatedCaller()
    node.sim.set_destination(CALLEE, Destination("answer", callee=lambda: callee))
    queued = await node.place()
    speaking = asyncio.get_running_loop().create_task(
        say_when_answered(callee, callee_audio(AMD_PROFILES["speech"])))
    row = await node.ended(queued)
    speaking.cancel()
    assert (row.outcome, row.amd_status) == ("machine", "MACHINE")
    call = await node.call_of(row)
    turns = await node.calls.turns(call.id)
    assert [(t.speaker, t.text) for t in turns if t.speaker == "assistant"] == [
        ("assistant", "Please call us back")]
    assert call.status == "completed"


async def test_a_person_who_says_hello_is_talked_to(make_node: MakeNode) -> None:
    node = await make_node(amd="audio")
    callee = SimulatedCaller()
    node.sim.set_destination(CALLEE, Destination("answer", callee=lambda: callee))
    queued = await node.place()
    hello = asyncio.get_running_loop().create_task(
        say_when_answered(callee, callee_audio(AMD_PROFILES["hello"])[:int(8000 * 0.72) * 2]))
    await callee.wait_for_speech(TURN_S)  # the assistant greets once AMD says HUMAN
    await hello
    await callee.wait_until_quiet(1500, timeout=30)  # the whole greeting
    await callee.hangup()
    row = await node.ended(queued)
    assert (row.outcome, row.amd_status) == ("answered", "HUMAN")
    call = await node.call_of(row)
    assert (call.status, call.end_reason) == ("completed", "caller_hangup")
    turns = await node.calls.turns(call.id)
    assert turns[0].speaker == "assistant"
    assert turns[0].text == DEMO_FLOW["nodes"]["greet"]["prompt"]


async def test_without_the_inbound_esl_calls_wait_queued(make_node: MakeNode) -> None:
    node = await make_node()
    esl = node.service.esl
    assert esl is not None
    await esl.close()
    queued = await node.place()
    await asyncio.sleep(1.0)
    assert (await node.outbound.get(queued.id)).status == "queued"


async def test_an_outbound_call_is_recorded_after_the_consent_notice(
    make_node: MakeNode,
) -> None:
    node = await make_node(record_calls=True)
    await node.db.execute("UPDATE assistants SET consent_prompt = ?", (NOTICE,))
    callee = SimulatedCaller()
    node.sim.set_destination(CALLEE, Destination("answer", callee=lambda: callee))
    queued = await node.place()
    await callee.wait_for_speech(TURN_S)
    await callee.wait_until_quiet(1500, timeout=30)
    await callee.hangup()
    call = await node.call_of(await node.ended(queued))
    turns = await node.calls.turns(call.id)
    assert turns[0].speaker == "assistant"
    assert turns[0].text == f"{NOTICE} {DEMO_FLOW['nodes']['greet']['prompt']}"
    assert call.recording_path is not None
    assert await asyncio.to_thread(Path(call.recording_path).is_file)


async def test_the_callee_s_restrictions_are_honoured(make_node: MakeNode) -> None:
    node = await make_node(record_calls=True)
    services = node.service.services
    assert services is not None
    await services.restrictions.restrict(node.org_id, CALLEE, frozenset({"record", "store"}))
    callee = SimulatedCaller()
    node.sim.set_destination(CALLEE, Destination("answer", callee=lambda: callee))
    queued = await node.place()
    await callee.wait_for_speech(TURN_S)
    await callee.hangup()
    call = await node.call_of(await node.ended(queued))
    assert call.recording_path is None
    assert call.dialed != CALLEE  # kept hashed, as an inbound caller's number
    events = {e.kind: e.detail for e in await node.calls.events(call.id)}
    assert events["recording_skipped"] == {"reason": "caller_restriction"}
    assert events["privacy_restriction"] == {"kinds": ["record", "store"]}
    assert "endpoint" not in events["originate"]  # it names the number
    # objected since the call was queued: not dialled at all
    await services.restrictions.restrict(node.org_id, CALLEE, frozenset({"object"}))
    row = await node.ended(await node.place())
    assert (row.outcome, row.cause_text) == ("failed", "on the do-not-call list")
    assert node.sim.calls == []
