"""ExternalMedia over AudioSocket: the simulator connects to the app's TCP server."""

from __future__ import annotations

import asyncio
import struct
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ari_app.simulator.calls import SimulatedCall
from tests.ari_app.simulator.conftest import AppFactory, AppSide, SimFactory
from tests.ari_app.simulator.media_helpers import dominant_hz, tone


class AudioSocketServer:
    def __init__(self) -> None:
        self.connected: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        async def on_client(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            self.connected.put_nowait((r, w))

        self.server = await asyncio.start_server(on_client, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"127.0.0.1:{port}"


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    kind, length = struct.unpack("!BH", await reader.readexactly(3))
    return kind, await reader.readexactly(length)


@pytest.fixture
async def tcp_server() -> AsyncIterator[AudioSocketServer]:
    server = AudioSocketServer()
    yield server
    if server.server is not None:
        server.server.close()
        await server.server.wait_closed()


async def setup(
    make_sim: SimFactory, make_app: AppFactory, server: AudioSocketServer, fmt: str
) -> tuple[
    AppSide, SimulatedCall, str, dict[str, Any], asyncio.StreamReader, asyncio.StreamWriter
]:
    sim = await make_sim()
    app = await make_app(sim)
    address = await server.start()
    call = await sim.place_call()
    caller_id = (await app.next_event("StasisStart"))["channel"]["id"]
    call_uuid = str(uuid.uuid4())
    status, em = await app.call(
        "POST", "/channels/externalMedia", app="callwright", external_host=address, format=fmt,
        encapsulation="audiosocket", transport="tcp", data=call_uuid,
    )
    assert status == 200
    assert em["name"] == f"AudioSocket/{address}-{call_uuid}"
    assert em["channelvars"] == {"AUDIOSOCKET_SERVICE": address, "AUDIOSOCKET_UUID": call_uuid}
    reader, writer = server.connected.get_nowait()  # connected before the response
    assert await read_frame(reader) == (0x01, uuid.UUID(call_uuid).bytes)
    start = await app.next_event("StasisStart")
    assert start["args"] == [call_uuid]
    _, bridge = await app.call("POST", "/bridges", type="mixing")
    for cid in (caller_id, em["id"]):
        assert (await app.call("POST", f"/bridges/{bridge['id']}/addChannel", channel=cid))[
            0
        ] == 204
    return app, call, caller_id, em, reader, writer


@pytest.mark.parametrize(
    ("fmt", "kind", "size"), [("slin", 0x10, 320), ("slin16", 0x12, 640), ("ulaw", 0x10, 160)]
)
async def test_audio_both_ways(
    make_sim: SimFactory,
    make_app: AppFactory,
    tcp_server: AudioSocketServer,
    fmt: str,
    kind: int,
    size: int,
) -> None:
    app, call, caller_id, em, reader, writer = await setup(make_sim, make_app, tcp_server, fmt)
    await call.caller.say(tone(440, 100))
    frames = [await asyncio.wait_for(read_frame(reader), 1) for _ in range(5)]
    assert {(k, len(p)) for k, p in frames} == {(kind, size)}
    if fmt == "slin":
        assert abs(dominant_hz(b"".join(p for _, p in frames)) - 440) < 20
    back = tone(700, 200)
    for i in range(0, len(back), 320):
        writer.write(struct.pack("!BH", 0x10, 320) + back[i : i + 320])
        await writer.drain()
        await asyncio.sleep(0.02)
    await call.caller.wait_for_speech(timeout=1)
    assert abs(dominant_hz(call.caller.heard_pcm()) - 700) < 25
    call.caller.send_dtmf("5")
    while True:
        k, payload = await asyncio.wait_for(read_frame(reader), 1)
        if k == 0x03:
            assert payload == b"5"
            break
    writer.close()


async def test_peer_hangup_frame_tears_the_channel_down(
    make_sim: SimFactory, make_app: AppFactory, tcp_server: AudioSocketServer
) -> None:
    app, call, caller_id, em, reader, writer = await setup(make_sim, make_app, tcp_server, "slin")
    await app.settle()
    app.drain()
    writer.write(b"\x00\x00\x00")
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 1) == b"", "Asterisk closes TCP"
    await app.settle()
    kinds = [(e["type"], e.get("value")) for e in app.drain()]
    assert kinds == [
        ("ChannelVarset", ""),
        ("ChannelLeftBridge", None),
        ("StasisEnd", None),
        ("ChannelVarset", "SUCCESS"),
        ("ChannelDestroyed", None),
    ]
    assert (await app.call("GET", f"/channels/{caller_id}"))[0] == 200, "the caller stays"
    writer.close()


async def test_delete_closes_tcp_without_a_frame(
    make_sim: SimFactory, make_app: AppFactory, tcp_server: AudioSocketServer
) -> None:
    app, call, caller_id, em, reader, writer = await setup(make_sim, make_app, tcp_server, "slin")
    assert await app.call("DELETE", f"/channels/{em['id']}") == (204, "")
    assert await asyncio.wait_for(reader.read(), 1) == b""
    writer.close()


async def test_audiosocket_needs_data(make_sim: SimFactory, make_app: AppFactory) -> None:
    sim = await make_sim()
    app = await make_app(sim)
    assert await app.call(
        "POST", "/channels/externalMedia", app="callwright", external_host="127.0.0.1:1",
        format="slin16", encapsulation="audiosocket", transport="tcp",
    ) == (400, {"message": "data can not be empty"})
