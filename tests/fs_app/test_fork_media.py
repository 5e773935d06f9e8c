"""Our mod_audio_fork server: a path no call expects is refused; FreeSWITCH's audio in any
message sizes becomes whole 20 ms frames; the metadata comes first."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from fs_app import audio_fork
from fs_app.fork_media import ForkServer, ForkTransport


async def test_an_unexpected_path_is_refused() -> None:
    server = ForkServer("127.0.0.1", 0)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
                await session.ws_connect(f"ws://127.0.0.1:{server.port}/fork/nobody",
                                         protocols=(audio_fork.SUBPROTOCOL,))
        assert caught.value.status == 404 and server.refused == 1
    finally:
        await server.stop()


async def test_audio_in_any_sizes_becomes_whole_frames_and_audio_goes_back() -> None:
    server = ForkServer("127.0.0.1", 0)
    await server.start()
    transport = ForkTransport(8000)
    url = server.expect(transport)
    frames: list[bytes] = []
    closed: list[str] = []
    await transport.start(frames.append, closed.append)
    try:
        async with aiohttp.ClientSession() as session, session.ws_connect(
                url, protocols=(audio_fork.SUBPROTOCOL,)) as ws:
            assert ws.protocol == audio_fork.SUBPROTOCOL
            await ws.send_str('{"call":"x"}')
            for size in (100, 700, 160, 1):  # 961 bytes: three frames and one byte over
                await ws.send_bytes(bytes(size))
            transport.send_frame(b"\x00\x10" * 160)  # loud: silence between replies is not sent
            mark = await asyncio.wait_for(ws.receive(), 2)  # an utterance starts: its mark first
            assert mark.data == '{"type":"mark","data":{"name":"u1"}}'
            back = await asyncio.wait_for(ws.receive(), 2)
            assert back.type == aiohttp.WSMsgType.BINARY and len(back.data) == 320
            await asyncio.sleep(0.1)
            assert transport.metadata == '{"call":"x"}'
            assert [len(f) for f in frames] == [320, 320, 320]
            transport.kill_audio()
            kill = await asyncio.wait_for(ws.receive(), 2)
            assert kill.data == '{"type":"killAudio"}'
        await asyncio.sleep(0.1)
        assert closed == ["FreeSWITCH closed the fork"]
    finally:
        await server.stop()
