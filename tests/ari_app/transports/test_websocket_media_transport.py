"""The WebSocket media transport against a local websocket server that plays Asterisk's
chan_websocket (messages verbatim from asterisk-facts/media.md section 3)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from aiohttp import WSMsgType, web

from ari_app.transports.websocket_media import WebSocketMediaTransport
from callwright.errors import MediaError
from callwright.media import g711
from callwright.media.transport import MediaFormat, MediaTransport

SLIN16 = MediaFormat("slin16", 16000)
ULAW = MediaFormat("ulaw", 8000)


@dataclass
class FakeMediaSocket:
    """What Asterisk's side saw, and a way to make it talk."""

    fmt: str = "slin16"
    json_mode: bool = False
    send_media_start: bool = True
    protocols: tuple[str, ...] = ("media",)
    binary: list[bytes] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    ws: web.WebSocketResponse | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    got: asyncio.Event = field(default_factory=asyncio.Event)

    def media_start(self) -> str:
        size = {"slin16": 640, "ulaw": 160}[self.fmt]
        if self.json_mode:
            return json.dumps({"event": "MEDIA_START", "connection_id": "c-1",
                               "channel": "WebSocket/INCOMING/0x1", "channel_id": "17.7",
                               "format": self.fmt, "optimal_frame_size": size, "ptime": 20})
        return (f"MEDIA_START connection_id:c-1 channel:WebSocket/INCOMING/0x1 channel_id:17.7 "
                f"format:{self.fmt} optimal_frame_size:{size} ptime:20")

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=self.protocols, max_msg_size=65535)
        await ws.prepare(request)
        self.ws = ws
        if self.send_media_start:
            await ws.send_str(self.media_start())
        self.connected.set()
        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                self.binary.append(msg.data)
            elif msg.type == WSMsgType.TEXT:
                self.text.append(msg.data)
            self.got.set()
        return ws

    async def send(self, message: str | bytes) -> None:
        await asyncio.wait_for(self.connected.wait(), 2)
        assert self.ws is not None
        if isinstance(message, bytes):
            await self.ws.send_bytes(message)
        else:
            await self.ws.send_str(message)

    async def received(self, n: int, within_s: float = 2.0) -> None:
        async with asyncio.timeout(within_s):
            while len(self.binary) + len(self.text) < n:
                self.got.clear()
                await self.got.wait()


class Sink:
    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.closed: list[str] = []
        self.ended = asyncio.Event()

    def on_frame(self, pcm: bytes) -> None:
        self.frames.append(pcm)

    def on_closed(self, reason: str) -> None:
        self.closed.append(reason)
        self.ended.set()

    async def count(self, n: int, within_s: float = 2.0) -> list[bytes]:
        await until(lambda: len(self.frames) >= n, within_s)
        return self.frames


async def until(condition: Callable[[], bool], within_s: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


Serve = Callable[..., Awaitable[tuple[FakeMediaSocket, str]]]
MakeTransport = Callable[..., WebSocketMediaTransport]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    runners: list[web.AppRunner] = []

    async def make(**kwargs: Any) -> tuple[FakeMediaSocket, str]:
        fake = FakeMediaSocket(**kwargs)
        app = web.Application()
        app.router.add_get("/media/{connection_id}", fake.handle)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return fake, f"ws://127.0.0.1:{port}/media/c-1"

    yield make
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def make_transport() -> AsyncIterator[MakeTransport]:
    made: list[WebSocketMediaTransport] = []

    def make(fmt: MediaFormat = SLIN16, **kwargs: Any) -> WebSocketMediaTransport:
        transport = WebSocketMediaTransport(fmt, **kwargs)
        made.append(transport)
        return transport

    yield make
    for transport in made:
        await transport.close()


async def connected(
    serve: Serve, make_transport: MakeTransport, fmt: MediaFormat = SLIN16, **kwargs: Any
) -> tuple[FakeMediaSocket, WebSocketMediaTransport, Sink]:
    fake, url = await serve(fmt=fmt.codec, **kwargs)
    transport = make_transport(fmt, json_control=kwargs.get("json_mode", False))
    await transport.connect(url)
    sink = Sink()
    await transport.start(sink.on_frame, sink.on_closed)
    return fake, transport, sink


def tone(hz: float, ms: int, rate: int) -> bytes:
    t = np.arange(rate * ms // 1000) / rate
    return (np.sin(2 * np.pi * hz * t) * 8000).astype("<i2").tobytes()


async def test_slin16_both_ways(serve: Serve, make_transport: MakeTransport) -> None:
    fake, transport, sink = await connected(serve, make_transport)
    as_media: MediaTransport = transport
    assert as_media.format.sample_rate == 16000
    assert transport.media_start is not None and transport.media_start.channel_id == "17.7"
    audio = tone(440, 60, 16000)
    for i in range(0, len(audio), 640):
        await fake.send(audio[i:i + 640])
    await fake.send(audio[:32])  # the short last frame of a played file
    got = await sink.count(4)
    assert got[:3] == [audio[i:i + 640] for i in range(0, len(audio), 640)]
    assert got[3] == audio[:32] + bytes(608)
    for i in range(0, len(audio), 640):
        transport.send_frame(audio[i:i + 640])
    await fake.received(3)
    assert fake.binary == [audio[i:i + 640] for i in range(0, len(audio), 640)]


async def test_ulaw_frames_are_160_bytes(serve: Serve, make_transport: MakeTransport) -> None:
    fake, transport, sink = await connected(serve, make_transport, ULAW)
    audio = tone(300, 20, 8000)
    await fake.send(g711.ulaw_encode(audio))
    assert (await sink.count(1))[0] == g711.ulaw_decode(g711.ulaw_encode(audio))
    transport.send_frame(audio)
    await fake.received(1)
    assert fake.binary == [g711.ulaw_encode(audio)]


@pytest.mark.parametrize("json_mode", [False, True])
async def test_dtmf_status_and_commands(
    serve: Serve, make_transport: MakeTransport, json_mode: bool
) -> None:
    fake, transport, sink = await connected(serve, make_transport, json_mode=json_mode)
    digits: list[str] = []
    transport.on_dtmf = digits.append
    if json_mode:
        await fake.send('{"event":"DTMF_END","channel_id":"17.7","digit":"5"}')
        await fake.send('{"event":"STATUS","channel_id":"17.7","queue_length":3,"xon_level":800,'
                        '"xoff_level":900,"queue_full":false,"bulk_media":false,'
                        '"media_paused":false}')
    else:
        await fake.send("DTMF_END digit:5 channel_id:17.7")
        await fake.send("STATUS channel_id:17.7 queue_length:3 xon_level:800 xoff_level:900 "
                        "queue_full:false bulk_media:false media_paused:false")
    transport.command("GET_STATUS")
    transport.command("MARK_MEDIA", "mark-1")
    await fake.received(2)
    await until(lambda: transport.last_status is not None)
    assert digits == ["5"]
    assert transport.last_status.queue_length == 3
    if json_mode:
        assert [json.loads(t) for t in fake.text] == [
            {"command": "GET_STATUS"}, {"command": "MARK_MEDIA", "correlation_id": "mark-1"}
        ]
    else:
        assert fake.text == ["GET_STATUS", "MARK_MEDIA mark-1"]
    with pytest.raises(MediaError):
        transport.command("NO_SUCH_COMMAND")


async def test_xoff_pauses_our_audio_until_xon(
    serve: Serve, make_transport: MakeTransport
) -> None:
    fake, transport, sink = await connected(serve, make_transport)
    transport.send_frame(b"\x01\x00" * 320)
    await fake.received(1)
    await fake.send("MEDIA_XOFF")
    await until(lambda: transport.xoff)
    for _ in range(10):
        transport.send_frame(b"\x02\x00" * 320)
    await asyncio.sleep(0.05)
    assert len(fake.binary) == 1, "nothing is sent while Asterisk's queue is full"
    assert transport.stats().dropped_xoff == 10 and transport.xoff_count == 1
    await fake.send("MEDIA_XON")
    await until(lambda: not transport.xoff)
    transport.send_frame(b"\x03\x00" * 320)
    await fake.received(2)
    assert fake.binary[1] == b"\x03\x00" * 320


async def test_no_message_is_ever_over_65535_bytes(
    serve: Serve, make_transport: MakeTransport
) -> None:
    fake, transport, sink = await connected(serve, make_transport)
    transport.send_frame(bytes(96_000))  # 3 s in one call: split, never one huge message
    await fake.received(2)
    assert [len(m) for m in fake.binary] == [65_280, 30_720]
    assert all(len(m) % 640 == 0 for m in fake.binary)


async def test_garbage_is_counted_and_the_call_goes_on(
    serve: Serve, make_transport: MakeTransport
) -> None:
    fake, transport, sink = await connected(serve, make_transport)
    for garbage in ("", "{", '{"event":7}', "DTMF_END digit:99", "SOMETHING_NEW x:1"):
        await fake.send(garbage)
    await fake.send(b"\x01\x02\x03")  # an odd number of bytes of slin16
    await fake.send(b"\x07\x00" * 320)
    assert (await sink.count(1)) == [b"\x07\x00" * 320]
    assert transport.garbage == 5 and transport.unknown_events == 1
    assert sink.closed == []


@pytest.mark.parametrize("code", [1000, 1009])
async def test_asterisk_closing_is_reported_once(
    serve: Serve, make_transport: MakeTransport, code: int
) -> None:
    fake, transport, sink = await connected(serve, make_transport)
    assert fake.ws is not None
    await fake.ws.close(code=code)
    async with asyncio.timeout(2):
        await sink.ended.wait()
    assert sink.closed == [f"websocket media: websocket closed (code {code})"]
    transport.send_frame(bytes(640))  # the pacer may still tick: no exception
    await transport.close()
    assert len(sink.closed) == 1


async def test_connect_failures_are_media_errors(
    serve: Serve, make_transport: MakeTransport
) -> None:
    _, url = await serve(send_media_start=False)
    with pytest.raises(MediaError, match="no MEDIA_START"):
        await make_transport().connect(url, timeout_s=0.2)
    _, url = await serve(fmt="ulaw")
    with pytest.raises(MediaError, match="announces 'ulaw'"):
        await make_transport(SLIN16).connect(url)
    _, url = await serve(protocols=())
    with pytest.raises(MediaError, match="subprotocol"):
        await make_transport().connect(url)
    with pytest.raises(MediaError, match="cannot connect"):
        await make_transport().connect("ws://127.0.0.1:9/media/x")
    with pytest.raises(MediaError, match="cannot carry"):
        make_transport(MediaFormat("opus", 48000))


async def test_our_close_closes_the_websocket_without_reporting(
    serve: Serve, make_transport: MakeTransport
) -> None:
    fake, transport, sink = await connected(serve, make_transport)
    await transport.close()
    await transport.close()
    assert fake.ws is not None
    await until(lambda: fake.ws is not None and fake.ws.closed)
    assert sink.closed == []
