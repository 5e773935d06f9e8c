"""The API commands of the simulated FreeSWITCH (``api`` and ``bgapi``), with the replies
FreeSWITCH 1.10.12 gave, byte for byte, including for an unknown uuid
(esl-inbound-auth-errors.jsonl; tests/fs_app/simulator/test_esl_replay.py replays them)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from fs_app import audio_stream as stream_protocol
from fs_app.audio_fork import MIX_TYPES, RATES
from fs_app.esl.message import url_encode
from fs_app.simulator.fork import ForkOptions
from fs_app.simulator.modules import show_modules
from fs_app.simulator.originate import originate

if TYPE_CHECKING:
    from fs_app.simulator.server import FreeswitchSimulator

NO_SUCH_CHANNEL = "-ERR No such channel!\n"
#: What each uuid_* command answers for a uuid that is no channel (they differ).
UNKNOWN_UUID = {
    "uuid_kill": NO_SUCH_CHANNEL, "uuid_getvar": NO_SUCH_CHANNEL, "uuid_setvar": NO_SUCH_CHANNEL,
    "uuid_break": NO_SUCH_CHANNEL, "uuid_transfer": NO_SUCH_CHANNEL, "uuid_park": NO_SUCH_CHANNEL,
    "uuid_dump": NO_SUCH_CHANNEL, "uuid_exists": "false", "uuid_broadcast": "-ERR invalid uuid\n",
    "uuid_send_dtmf": "-ERR Cannot locate session!\n",
    "uuid_record": "-ERR Cannot locate session!\n",
    "uuid_answer": "-ERROR\n", "uuid_audio_fork": "-ERR Operation Failed\n",
    "uuid_audio_stream": "-ERR Operation Failed\n",
    "uuid_bridge": "-ERR Invalid uuid\n",  # not recorded: an error all the same
}
#: Usage replies for too few arguments (``uuid_kill`` with none, and so on).
USAGE = {
    "uuid_kill": "-USAGE: <uuid> [cause]\n",
    "uuid_broadcast": "-USAGE: <uuid> <path> [aleg|bleg|holdb|both]\n",
    "uuid_audio_fork": (
        "-USAGE: <uuid> [start | stop | send_text | pause | resume | graceful-shutdown"
        " | stop_play ] [wss-url | path] [mono | mixed | stereo] [8000 | 16000 | 24000"
        " | 32000 | 64000] [bugname] [metadata] [bidirectionalAudio_enabled]"
        " [bidirectionalAudio_stream_enabled] [bidirectionalAudio_stream_samplerate]\n"
    ),
}
MIN_ARGS = {"uuid_kill": 1, "uuid_broadcast": 2, "uuid_audio_fork": 2}
VERSION = "FreeSWITCH Version 1.10.12-release~64bit ( 64bit)\n"
OPERATION_FAILED = "-ERR Operation Failed\n"


async def run_api(sim: FreeswitchSimulator, line: str) -> str:
    command, _, rest = line.strip().partition(" ")
    args = rest.split()
    if command in MIN_ARGS and len(args) < MIN_ARGS[command]:
        return USAGE[command]
    if command.startswith("uuid_"):
        if command not in UNKNOWN_UUID:
            return f"-ERR {command} Command not found!\n"
        channel = sim.channels.get(args[0]) if args else None
        if channel is None or not channel.alive:
            return UNKNOWN_UUID[command]
        return await uuid_command(sim, command, args, rest)
    if command == "status":
        return sim.status_text()
    if command == "version":
        return VERSION
    if command == "hostname":
        return "vm"
    if command == "show" and rest in ("channels as json", "calls as json"):
        rows = [{"uuid": c.uuid, "name": c.name, "state": c.state, "cid_num": c.caller_id_number,
                 "dest": c.destination, "context": c.context} for c in sim.channels.values()]
        if not rows:
            return '{"row_count": 0}\n'
        return json.dumps({"row_count": len(rows), "rows": rows}, separators=(",", ":")) + "\n"
    if command == "show" and rest == "modules":
        return show_modules(sim.modules)
    if command == "show" and rest == "channels":
        return f"\n{len(sim.channels)} total.\n"
    if command == "hupall":
        cause = args[0] if args else "NORMAL_CLEARING"
        for channel in list(sim.channels.values()):
            sim.hang_up(channel, cause)
        return f"+OK hangup all channels with cause {cause}\n"
    if command == "originate":
        return await originate(sim, rest)
    if command == "global_getvar":
        return "-ERR no reply\n"
    return f"-ERR {command} Command not found!\n"


async def uuid_command(sim: FreeswitchSimulator, command: str, args: list[str], rest: str) -> str:
    channel = sim.channels[args[0]]
    if command == "uuid_exists":
        return "true"
    if command == "uuid_getvar":
        value = channel.getvar(args[1]) if len(args) > 1 else None
        return value if value is not None else "_undef_"
    if command == "uuid_setvar":
        if len(args) > 2:
            channel.variables[args[1]] = rest.split(" ", 2)[2]
        elif len(args) == 2:
            channel.variables.pop(args[1], None)
        return "+OK\n"
    if command == "uuid_kill":
        sim.hang_up(channel, args[1] if len(args) > 1 else "NORMAL_CLEARING")
        return "+OK\n"
    if command == "uuid_break":
        sim.break_playback(channel)
        return "+OK\n"
    if command == "uuid_answer":
        sim.answer(channel)
        return "+OK\n"
    if command == "uuid_transfer":
        if len(args) < 2:
            return "-USAGE: [-bleg|-both] <uuid> <dest-exten> [<dialplan>] [<context>]\n"
        sim.transfer(channel, args[1])
        return "+OK\n"
    if command == "uuid_send_dtmf":
        if len(args) < 2:
            return "-USAGE: <uuid> <dtmf_data>\n"
        sim.send_dtmf(channel, args[1])
        return f"+OK {channel.uuid} sent DTMF {args[1]}.\n"
    if command == "uuid_broadcast":
        sim.broadcast(channel, args[1])
        return "+OK Message sent\n"
    if command == "uuid_park":
        sim.transfer(channel, "park")
        return "+OK\n"
    if command == "uuid_bridge":  # not in the recorded facts: see FreeswitchSimulator.bridge
        other = sim.channels.get(args[1]) if len(args) > 1 else None
        if other is None or not other.alive or other is channel:
            return "-ERR Invalid uuid\n"
        sim.bridge(channel, other)
        return f"+OK {other.uuid}\n"
    if command == "uuid_dump":
        data = [("Event-Name", "CHANNEL_DATA"), *sim.core_headers("mod_commands.c"),
                *channel.headers()]
        return "".join(f"{k}: {url_encode(v)}\n" for k, v in data)
    if command == "uuid_record":
        return "+OK Success\n"
    if command == "uuid_audio_stream":
        return await audio_stream_command(sim, args, rest)
    return await audio_fork_command(sim, args)


async def audio_stream_command(sim: FreeswitchSimulator, args: list[str], rest: str) -> str:
    """``uuid_audio_stream <uuid> start <url> <mix> <8k|16k> [metadata]|stop [text]|send_text
    <text>|pause|resume`` (audio-stream-s1/s3): metadata is the rest of the line, text is cut at
    its first space (by the stream, as the module does)."""
    uuid, action = args[0], args[1] if len(args) > 1 else ""
    tail = rest.split(" ", 2)[2] if len(args) > 2 else ""
    stream = sim.streams.get(uuid)
    if action == "start":
        words = tail.split(" ", 3)
        if len(words) < 3:
            return OPERATION_FAILED
        if words[1] not in stream_protocol.MIX_TYPES:
            return stream_protocol.BAD_MIX
        if words[1] != "mono" or words[2] not in stream_protocol.RATES:
            return OPERATION_FAILED  # mixed/stereo not modelled (fs_app.simulator.stream)
        if stream is not None and not stream.closed:
            return OPERATION_FAILED
        sim.start_stream(uuid, words[0], stream_protocol.RATES[words[2]],
                         words[3] if len(words) > 3 else None)
        return stream_protocol.OK
    if stream is None:
        return OPERATION_FAILED
    if action == "stop":
        del sim.streams[uuid]
        await stream.stop(tail or None)
        return stream_protocol.OK
    if stream.closed:
        return OPERATION_FAILED
    if action == "send_text" and tail:
        stream.send_text(tail)
    elif action in ("pause", "resume"):
        stream.paused = action == "pause"
    else:
        return OPERATION_FAILED
    return stream_protocol.OK


async def audio_fork_command(sim: FreeswitchSimulator, args: list[str]) -> str:
    """``uuid_audio_fork <uuid> start|stop|send_text|pause|resume|graceful-shutdown|stop_play``,
    its arguments split on spaces as the module splits them."""
    uuid, action, rest = args[0], args[1], args[2:]
    forks = sim.forks.setdefault(uuid, {})
    if action == "start":
        if len(rest) < 3:
            return USAGE["uuid_audio_fork"]
        url, mix, rate_word = rest[0], rest[1], rest[2]
        if mix not in MIX_TYPES:
            return "-ERR no reply\n"
        if rate_word not in RATES:
            return OPERATION_FAILED
        bugname = rest[3] if len(rest) > 3 else "audio_fork"
        metadata = rest[4] if len(rest) > 4 else None
        bidi = len(rest) >= 8 and rest[5] == "true" and rest[6] == "true"
        stream_rate = int(rest[7]) if bidi and rest[7].isdigit() else RATES[rate_word]
        if bugname in forks and not forks[bugname].closed:
            return OPERATION_FAILED
        sim.start_fork(uuid, ForkOptions(url, mix, RATES[rate_word], bugname, metadata, bidi,
                                         stream_rate))
        return "+OK Success\n"
    bugname = rest[0] if rest and action != "stop_play" else "audio_fork"
    fork = forks.get(bugname)
    if fork is None or (fork.closed and action != "stop"):
        return OPERATION_FAILED
    if action == "stop":
        forks.pop(bugname, None)
        await fork.stop(rest[1] if len(rest) > 1 else None)
        sim.fire("MEDIA_BUG_STOP", sim.channels[uuid], [("Media-Bug-Function", "audio_fork"),
                                                         ("Media-Bug-Target", "N/A")])
        return "+OK Success\n"
    if action == "send_text":
        if len(rest) < 2:
            return OPERATION_FAILED
        fork.send_text(rest[1])
    elif action in ("pause", "resume"):
        fork.paused = action == "pause"
    elif action == "graceful-shutdown":
        fork.shut_gracefully()
    elif action == "stop_play":
        if fork.playout is None:
            return OPERATION_FAILED
        fork.playout.kill()
    else:
        return OPERATION_FAILED
    return "+OK Success\n"
