"""Whole calls through FreeSWITCH: the FreeSWITCH call service against the FreeSWITCH simulator
(the dialplan's socket app over real TCP, mod_audio_fork over a real WebSocket on 127.0.0.1),
real Vosk (Korean), real espeak-ng, a real SQLite file."""

from __future__ import annotations

import asyncio
import time

import pytest

from ari_app.demo import DEMO_CALLER, DEMO_NUMBER, DEMO_PHRASES
from ari_app.demo_caller import heard_speech_after, synthesize_phrases
from ari_app.simulator.caller import SimulatedCaller, frame_rms
from callwright.dialog.demo_flow import DEMO_FLOW
from tests.fs_app.conftest import FsHarness, MakeFsHarness

pytestmark = pytest.mark.slow

TURN_S = 25.0
GREETING = DEMO_FLOW["nodes"]["greet"]["prompt"]


async def talk(h: FsHarness, caller: SimulatedCaller, phrases: tuple[str, ...]) -> list[float]:
    """Wait for the greeting, then say each phrase once the assistant is quiet; the delays from
    the end of each phrase to the first reply audio heard."""
    audio = await synthesize_phrases(await h.caller_voice(), phrases, "ko")
    await caller.wait_for_speech(TURN_S)
    gaps = []
    for pcm in audio:
        await caller.wait_until_quiet(900, timeout=TURN_S)
        await caller.say(pcm)
        stopped = time.monotonic()
        gaps.append(await heard_speech_after(caller, stopped, TURN_S) - stopped)
    return gaps


@pytest.mark.parametrize("rate", [8000, 16000])
async def test_a_call_is_answered_greeted_understood_replied_and_logged(
    make_fs_harness: MakeFsHarness, rate: int,
) -> None:
    h = await make_fs_harness(rate=rate)
    caller = SimulatedCaller()
    call = h.dial(caller_number=DEMO_CALLER, caller=caller)
    gaps = await talk(h, caller, DEMO_PHRASES)
    await asyncio.wait_for(call.ended.wait(), TURN_S)  # the assistant hung up (uuid_kill)

    row = await h.closed_call()
    assert row.status == "completed", row.end_reason
    assert row.end_reason == "demo_booked"
    assert row.dialed == DEMO_NUMBER and row.caller_number == DEMO_CALLER
    assert row.channel_id == f"freeswitch/{call.b.channel.uuid}"
    assert row.pbx == "freeswitch"
    assert row.answered_at is not None
    turns = await h.calls.turns(row.id)
    assert [t.speaker for t in turns] == ["assistant", "caller", "assistant", "caller", "assistant"]
    assert [t.text for t in turns if t.speaker == "caller"] == list(DEMO_PHRASES)
    nodes = DEMO_FLOW["nodes"]
    assert turns[0].text == nodes["greet"]["prompt"]
    assert turns[4].text == nodes["booked"]["text"]
    assert all(0 < gap < 5 for gap in gaps), gaps
    events = {e.kind: e.detail for e in await h.calls.events(row.id)}
    assert events["freeswitch_socket"]["uuid"] == call.b.channel.uuid
    media = events["freeswitch_media"]
    assert media["frames_in"] > 100
    # a mark before each reply came back when FreeSWITCH played it: the module's playout lag
    assert media["marks_played"] >= 3 and media["marks_cleared"] == 0
    assert 20 < media["playout_lag_ms_p50"] < 1000, media
    assert call.b.channel.hangup_cause == "NORMAL_CLEARING"
    assert h.sim.channels == {}  # nothing left on the switch


def last_speech_heard(caller: SimulatedCaller, before: float) -> float:
    """Monotonic time of the last speech frame the caller heard before ``before``."""
    last = 0.0
    for t_rel, pcm in caller.heard_frames():
        at = caller.t0 + t_rel
        if at <= before and frame_rms(pcm) >= caller.speech_rms:
            last = at
    return last


async def test_talking_over_the_greeting_stops_it_with_kill_audio(
    make_fs_harness: MakeFsHarness,
) -> None:
    h = await make_fs_harness()
    caller = SimulatedCaller()
    call = h.dial(caller=caller)
    (hello,) = await synthesize_phrases(await h.caller_voice(), ["안녕하세요"], "ko")
    await caller.wait_for_speech(TURN_S)
    await asyncio.sleep(1.0)  # a second into a ~5 s greeting
    said_at = time.monotonic()
    speaking = asyncio.ensure_future(caller.say(hello))
    await asyncio.sleep(1.2)
    stopped = last_speech_heard(caller, time.monotonic())
    # FreeSWITCH holds up to ~240 ms the pipeline already sent: killAudio drops it.
    assert stopped - said_at < 0.8, f"greeting went on {stopped - said_at:.2f} s"
    await speaking
    await heard_speech_after(caller, time.monotonic(), 10)  # the flow moved on
    await caller.wait_until_quiet(900, timeout=15)
    await caller.hangup()
    row = await h.closed_call()
    turns = await h.calls.turns(row.id)
    assert turns[0].speaker == "assistant" and turns[0].interrupted
    assert 0 < len(turns[0].text) < len(GREETING)
    assert turns[1].speaker == "caller" and turns[1].text == "안녕하세요"
    assert turns[2].text == DEMO_FLOW["nodes"]["offer"]["prompt"]
    media = next(e.detail for e in await h.calls.events(row.id) if e.kind == "freeswitch_media")
    assert media["kill_audio"] >= 1 and media["silence_restarts"] >= 1
    await asyncio.wait_for(call.ended.wait(), 5)


async def test_keys_reach_the_dialog_and_the_caller_hanging_up_closes_the_row(
    make_fs_harness: MakeFsHarness,
) -> None:
    h = await make_fs_harness()
    caller = SimulatedCaller()
    call = h.dial(caller=caller)
    await caller.wait_for_speech(TURN_S)
    await caller.wait_until_quiet(900, timeout=TURN_S)
    caller.send_dtmf("1")
    await asyncio.sleep(1.0)
    await caller.hangup()
    row = await h.closed_call()
    assert row.status == "completed" and row.end_reason == "caller_hangup"
    kinds = [e.kind for e in await h.calls.events(row.id)]
    assert "hangup" in kinds
    await asyncio.wait_for(call.ended.wait(), 5)
    assert h.sim.channels == {}


async def test_an_unknown_number_hears_a_message_and_is_hung_up(
    make_fs_harness: MakeFsHarness,
) -> None:
    h = await make_fs_harness()
    caller = SimulatedCaller()
    call = h.dial("999", caller=caller)
    await caller.wait_for_speech(TURN_S)
    await asyncio.wait_for(call.ended.wait(), TURN_S)
    row = await h.closed_call()
    assert row.status == "rejected" and row.end_reason == "unknown_number"
    assert row.org_id is None


TRANSFER_FLOW = {
    "version": 1, "name": "transfer", "language": "ko", "start": "to_desk",
    "nodes": {
        "to_desk": {"kind": "transfer", "text": "연결해 드리겠습니다.", "target": "default,desk",
                    "reason": "to_desk", "on_fail": "sorry"},
        "sorry": {"kind": "hangup", "text": "죄송합니다.", "reason": "transfer_failed"},
    },
}


async def test_a_transfer_is_a_uuid_transfer_and_the_call_row_says_so(
    make_fs_harness: MakeFsHarness,
) -> None:
    h = await make_fs_harness(flow=TRANSFER_FLOW)
    h.sim.dialplan = {**h.sim.dialplan, "desk": [("park", "")]}
    caller = SimulatedCaller()
    call = h.dial(caller=caller)
    row = await h.closed_call(within_s=20)
    assert row.status == "transferred", row.end_reason
    assert row.end_reason == "to_desk"
    kinds = {e.kind: e.detail for e in await h.calls.events(row.id)}
    assert kinds["transferred"] == {"target": "default,desk", "how": "uuid_transfer"}
    await asyncio.sleep(0.3)
    assert call.b.channel.alive and call.b.channel.destination == "desk"
    assert call.b.parked  # the desk extension has the caller now
    assert "callwright_node" not in call.b.channel.variables  # not ours: recovery leaves it
    assert caller.heard_segments()  # the line before the transfer was heard
    await caller.hangup()
    await asyncio.wait_for(call.ended.wait(), 5)


async def test_a_dropped_fork_is_started_again_and_the_call_goes_on(
    make_fs_harness: MakeFsHarness,
) -> None:
    h = await make_fs_harness()
    caller = SimulatedCaller()
    call = h.dial(caller=caller)
    await caller.wait_for_speech(TURN_S)
    forks = h.sim.forks[call.b.channel.uuid]
    await forks["audio_fork"].drop()  # the socket goes away in the middle of the greeting
    await asyncio.sleep(0.5)
    assert not forks["audio_fork"].closed  # a new fork, started by the call service
    gaps = await talk(h, caller, DEMO_PHRASES)
    assert all(0 < gap < 5 for gap in gaps), gaps
    await asyncio.wait_for(call.ended.wait(), TURN_S)
    row = await h.closed_call()
    assert row.status == "completed" and row.end_reason == "demo_booked"
    events = {e.kind: e.detail for e in await h.calls.events(row.id)}
    assert "fork_lost" in events
    assert events["freeswitch_media"]["fork_restarts"] == 1
