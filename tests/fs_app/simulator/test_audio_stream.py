"""mod_audio_stream (community edition) in the simulator, driven by a bare app the way the lab's
script drove the real FreeSWITCH (audio-stream-s1.jsonl, audio-stream-s3.jsonl)."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from pathlib import Path

from fs_app import audio_stream
from fs_app.esl import commands
from tests.fs_app.simulator.conftest import Rig, start_call, tone
from tests.fs_app.simulator.esl_client import RawEsl


async def api(esl: RawEsl, line: str) -> str:
    return (await esl.command(commands.api(line).decode())).text


async def test_a_stream_as_recorded_in_s1(rig: Rig) -> None:
    _, esl = await rig.call()
    uuid = await start_call(rig, esl)
    meta = '{"callId": "s1", "note": "has spaces"}'
    start = audio_stream.start_args(uuid, rig.fork_url, rate=8000, metadata=meta)
    assert await api(esl, start) == "+OK Success\n"
    connect = await esl.custom("mod_audio_stream::connect")
    assert connect.body == '{"status":"connected"}'
    await asyncio.sleep(0.3)
    assert rig.fork.protocol is None  # no subprotocol asked
    assert rig.fork.texts[0] == meta  # metadata verbatim, spaces and all
    assert rig.fork.binaries and {len(b) for b in rig.fork.binaries} == {320}
    ws = rig.fork.ws
    assert ws is not None
    # any server text is a ::json event, verbatim
    await ws.send_str("not json at all")
    assert (await esl.custom("mod_audio_stream::json")).body == "not json at all"
    # streamAudio: written to a file, ::play says where
    pcm = tone(440, 0.2)
    await ws.send_str(json.dumps({"type": "streamAudio", "data": {
        "audioDataType": "raw", "sampleRate": 8000,
        "audioData": base64.b64encode(pcm).decode()}}))
    play = audio_stream.parse_event("mod_audio_stream::play",
                                    (await esl.custom("mod_audio_stream::play")).body)
    assert play.rate == 8000 and play.file.endswith(f"{uuid}_0.tmp.r8")
    written = Path(play.file)
    assert await asyncio.to_thread(written.read_bytes) == pcm
    await asyncio.to_thread(written.unlink)
    # send_text and stop's text are cut at their first space
    assert await api(esl, f'uuid_audio_stream {uuid} send_text {{"dtmf": "5"}}') == \
        "+OK Success\n"
    await asyncio.sleep(0.1)
    assert '{"dtmf":' in rig.fork.texts
    # paused: no frames
    assert await api(esl, f"uuid_audio_stream {uuid} pause") == "+OK Success\n"
    await asyncio.sleep(0.1)
    before = len(rig.fork.binaries)
    await asyncio.sleep(0.3)
    assert len(rig.fork.binaries) == before
    assert await api(esl, f"uuid_audio_stream {uuid} resume") == "+OK Success\n"
    await asyncio.sleep(0.2)
    assert len(rig.fork.binaries) > before
    assert await api(esl, f'uuid_audio_stream {uuid} stop {{"bye": true}}') == "+OK Success\n"
    await asyncio.wait_for(rig.fork.gone.wait(), 3)
    assert rig.fork.texts[-1] == '{"bye":' and rig.fork.closed_code == 1000
    assert await api(esl, f"uuid_audio_stream {uuid} stop") == "-ERR Operation Failed\n"


async def test_server_close_refusals_and_bad_arguments_as_recorded_in_s3(rig: Rig) -> None:
    _, esl = await rig.call()
    uuid = await start_call(rig, esl)
    assert await api(esl, audio_stream.start_args(uuid, rig.fork_url, rate=8000)) == \
        "+OK Success\n"
    await esl.custom("mod_audio_stream::connect")
    await asyncio.sleep(0.1)
    assert rig.fork.ws is not None
    await rig.fork.ws.send_bytes(tone(440, 0.2))  # ignored: no audio back
    await rig.fork.ws.close(code=1000, message=b"server bye")
    disconnect = await esl.custom("mod_audio_stream::disconnect")
    assert disconnect.body == '{"status":"disconnected","message":{"code":1000,"reason":""}}'
    assert await api(esl, audio_stream.stop_args(uuid)) == "+OK Success\n"
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    assert await api(esl, audio_stream.start_args(
        uuid, f"ws://127.0.0.1:{closed_port}/x", rate=8000)) == "+OK Success\n"
    refused = await esl.custom("mod_audio_stream::error")
    assert refused.body == audio_stream.error_body("Connection refused (system error 111)")
    assert await api(esl, audio_stream.start_args(
        uuid, rig.fork_url.replace("/fork", "/reject"), rate=8000)) == "+OK Success\n"
    upgrade = await esl.custom("mod_audio_stream::error")
    assert upgrade.body == audio_stream.error_body("WebSocket upgrade failed")
    assert await api(esl, f"uuid_audio_stream {uuid} start {rig.fork_url} quad 8k") == \
        "-ERR no reply\n"
    assert await api(esl, "uuid_audio_stream 00000000-0000-4000-8000-000000000000 start "
                          f"{rig.fork_url} mono 8k") == "-ERR Operation Failed\n"
