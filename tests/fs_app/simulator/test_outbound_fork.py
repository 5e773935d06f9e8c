"""The dialplan ``socket`` app and mod_audio_fork in the simulator, driven by a bare app the way
the lab's script drove the real FreeSWITCH (esl-outbound.jsonl, audio-fork-t4w.jsonl)."""

from __future__ import annotations

import asyncio
import json

from ari_app.simulator.caller import SimulatedCaller
from fs_app import audio_fork
from fs_app.esl import commands
from fs_app.esl.events import parse_disconnect_notice
from fs_app.simulator.server import FreeswitchSimulator, socket_dialplan
from tests.fs_app.simulator.conftest import Rig, start_call, tone


async def test_audio_back_is_heard_only_while_the_channel_writes_frames(rig: Rig) -> None:
    caller = SimulatedCaller()
    call, esl = await rig.call(caller)
    uuid = await start_call(rig, esl)
    start = audio_fork.start_args(uuid, rig.fork_url, rate=8000, metadata={"callId": "t"},
                                  bidirectional_rate=8000)
    assert (await esl.command(commands.api(start).decode())).text == "+OK Success\n"
    await esl.custom("mod_audio_fork::connect")
    await asyncio.sleep(0.3)
    assert rig.fork.protocol == audio_fork.SUBPROTOCOL
    assert rig.fork.texts[0] == '{"callId":"t"}'  # metadata first
    assert rig.fork.binaries and {len(b) for b in rig.fork.binaries} == {320}
    ws = rig.fork.ws
    assert ws is not None
    # parked: nothing is heard, marks never fire
    await ws.send_bytes(tone(1000, 0.48))  # whole 80 ms chunks: a shorter tail would wait
    await ws.send_str(audio_fork.mark("parked"))
    await asyncio.sleep(0.8)
    assert caller.heard_frames() == []
    # writing frames: the buffered audio plays, the mark is reported
    await esl.command(commands.execute("playback", "silence_stream://-1").decode())
    await esl.event("PLAYBACK_START")
    heard_at = await caller.wait_for_speech(2)
    await asyncio.sleep(0.7)
    assert audio_fork.mark_report("parked", "playout") in rig.fork.texts
    # killAudio: marks cleared, the playback broken (CF_BREAK)
    await ws.send_bytes(tone(600, 2.0))
    await ws.send_str(audio_fork.mark("m2"))
    await asyncio.sleep(0.5)
    await ws.send_str(audio_fork.kill_audio())
    await esl.custom("mod_audio_fork::kill_audio")
    stop = await esl.event("PLAYBACK_STOP")
    assert stop.get("Playback-Status") == "break"
    await asyncio.sleep(0.2)
    assert audio_fork.mark_report("m2", "cleared") in rig.fork.texts
    assert heard_at >= 0
    # hang-up by uuid_kill: the fork closes 1000, the socket lingers
    assert (await esl.command(commands.api(f"uuid_kill {uuid}").decode())).text == "+OK\n"
    await esl.event("CHANNEL_HANGUP_COMPLETE")
    notice = parse_disconnect_notice(await esl.next())
    assert notice.lingering and notice.linger_s == -1
    await asyncio.wait_for(rig.fork.gone.wait(), 3)
    assert rig.fork.closed_code == 1000
    await asyncio.wait_for(call.ended.wait(), 3)


async def test_a_queued_sendmsg_hangup_waits_behind_an_endless_playback(rig: Rig) -> None:
    call, esl = await rig.call()
    await start_call(rig, esl)
    await esl.command(commands.execute("playback", "silence_stream://-1").decode())
    await esl.event("PLAYBACK_START")
    assert (await esl.command(commands.hangup().decode())).reply_text == "+OK"
    await asyncio.sleep(0.5)
    assert call.b.channel.alive  # as observed: it waits for ever
    assert (await esl.command(commands.api(f"uuid_kill {call.b.channel.uuid}").decode())).is_ok
    await asyncio.wait_for(call.ended.wait(), 3)


async def test_without_linger_the_socket_is_closed_after_the_hangup(rig: Rig) -> None:
    caller = SimulatedCaller()
    call, esl = await rig.call(caller)
    await esl.command(commands.connect().decode())
    await esl.command(commands.myevents().decode())
    await esl.command(commands.execute("answer").decode())
    await esl.event("CHANNEL_ANSWER")
    await caller.hangup()
    hangup = await esl.event("CHANNEL_HANGUP")
    assert hangup.get("Hangup-Cause") == "NORMAL_CLEARING"
    notice = parse_disconnect_notice(await esl.next())
    assert notice.disposition == "disconnect" and notice.text.startswith("Disconnected")
    assert await esl.closed()


async def test_the_app_closing_tcp_hangs_the_call_up(rig: Rig) -> None:
    call, esl = await rig.call()
    await start_call(rig, esl)
    esl.close()
    await asyncio.wait_for(call.ended.wait(), 3)
    assert call.a.channel.hangup_cause == "NORMAL_CLEARING"


async def test_an_unknown_application_hangs_up_out_of_order(rig: Rig) -> None:
    call, esl = await rig.call()
    await start_call(rig, esl)
    await esl.command(commands.execute("nosuchapp", "x").decode())
    hangup = await esl.event("CHANNEL_HANGUP")
    assert hangup.get("Hangup-Cause") == "DESTINATION_OUT_OF_ORDER"


async def test_nobody_listening_runs_the_rest_of_the_dialplan() -> None:
    sim = FreeswitchSimulator(dialplan=socket_dialplan(
        "127.0.0.1", 9, fallback=[("hangup", "DESTINATION_OUT_OF_ORDER")]))
    await sim.start()
    try:
        call = sim.place_call("callwright", SimulatedCaller())
        await asyncio.wait_for(call.ended.wait(), 3)
        assert call.b.channel.hangup_cause == "DESTINATION_OUT_OF_ORDER"
        assert call.a.channel.hangup_cause == "DESTINATION_OUT_OF_ORDER"
    finally:
        await sim.stop()


async def test_fork_arguments_are_checked_as_the_module_checks_them(rig: Rig) -> None:
    _, esl = await rig.call()
    uuid = await start_call(rig, esl)

    async def api(line: str) -> str:
        return (await esl.command(commands.api(line).decode())).text

    assert await api(f"uuid_audio_fork {uuid} start {rig.fork_url} quad 8k") == "-ERR no reply\n"
    assert await api(f"uuid_audio_fork {uuid} start {rig.fork_url} mono 11k") == \
        "-ERR Operation Failed\n"
    assert (await api(f"uuid_audio_fork {uuid} start {rig.fork_url}")).startswith("-USAGE:")
    assert await api(f"uuid_audio_fork {uuid} bogus") == "-ERR Operation Failed\n"
    assert await api(f"uuid_audio_fork {uuid} start {rig.fork_url} mono 8k fork {{}} true true"
                     " 8000") == "+OK Success\n"
    assert await api(f"uuid_audio_fork {uuid} stop") == "-ERR Operation Failed\n"
    assert await api(f"uuid_audio_fork {uuid} stop fork {json.dumps(1)}") == "+OK Success\n"


async def test_in_sync_mode_a_sendmsg_is_answered_once_its_app_has_run(rig: Rig) -> None:
    rig.sim.dialplan = {"sync": [("socket", f"127.0.0.1:{rig.app_port} full")]}
    rig.sim.place_call("sync", SimulatedCaller())
    esl = await asyncio.wait_for(rig.accepted.get(), 3)
    connect = await esl.command(commands.connect().decode())
    assert connect.decoded()["Socket-Mode"] == "sync"
    await esl.command(commands.execute("answer").decode())
    sent = asyncio.get_running_loop().time()
    played = await esl.command(commands.execute("playback", "silence_stream://500").decode())
    assert played.reply_text == "+OK"
    assert asyncio.get_running_loop().time() - sent >= 0.45


async def test_a_16k_fork_sends_640_byte_frames_and_stop_sends_its_text_then_1000(
    rig: Rig,
) -> None:
    """As in audio-fork-t2 (16 kHz, resampled) and t1 (stop with a final text)."""
    _, esl = await rig.call()
    uuid = await start_call(rig, esl)
    start = audio_fork.start_args(uuid, rig.fork_url, rate=16000, metadata={"callId": "t2"})
    assert (await esl.command(commands.api(start).decode())).text == "+OK Success\n"
    await esl.custom("mod_audio_fork::connect")
    await asyncio.sleep(0.3)
    assert rig.fork.binaries and {len(b) for b in rig.fork.binaries} == {640}
    stop = audio_fork.stop_args(uuid, "audio_fork", '{"bye":true}')
    assert (await esl.command(commands.api(stop).decode())).text == "+OK Success\n"
    await asyncio.wait_for(rig.fork.gone.wait(), 3)
    assert rig.fork.texts[-1] == '{"bye":true}' and rig.fork.closed_code == 1000
