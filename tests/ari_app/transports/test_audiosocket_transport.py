"""The AudioSocket server and transport over real TCP on 127.0.0.1, a peer playing Asterisk."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import numpy as np
import pytest

from ari_app.transports.audiosocket import AudioSocketTransport
from ari_app.transports.audiosocket_server import AudioSocketServer
from callwright.errors import MediaError
from callwright.media import audiosocket as wire
from callwright.media import g711
from callwright.media.transport import MediaFormat, MediaTransport

SLIN16 = MediaFormat("slin16", 16000)
SLIN = MediaFormat("slin", 8000)


class Asterisk:
    """The TCP client side of one AudioSocket channel."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def frame(self, within_s: float = 2.0) -> tuple[int, bytes]:
        async with asyncio.timeout(within_s):
            kind, length = struct.unpack("!BH", await self.reader.readexactly(3))
            return kind, await self.reader.readexactly(length)

    async def eof(self, within_s: float = 2.0) -> bool:
        """True once the server closed; frames sent before are skipped."""
        async with asyncio.timeout(within_s):
            while await self.reader.read(65536):
                pass
        return True

    def half_close(self) -> None:
        self.writer.write_eof()

    def reset(self) -> None:
        sock: socket.socket = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


class Sink:
    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.closed: list[str] = []
        self.dtmf: list[str] = []
        self.got = asyncio.Event()
        self.ended = asyncio.Event()

    def on_frame(self, pcm: bytes) -> None:
        self.frames.append(pcm)
        self.got.set()

    def on_closed(self, reason: str) -> None:
        self.closed.append(reason)
        self.ended.set()

    async def frames_count(self, n: int, within_s: float = 2.0) -> list[bytes]:
        async with asyncio.timeout(within_s):
            while len(self.frames) < n:
                self.got.clear()
                await self.got.wait()
        return self.frames


MakeServer = Callable[..., Awaitable[AudioSocketServer]]
Connect = Callable[..., Awaitable[Asterisk]]


@pytest.fixture
async def make_server() -> AsyncIterator[MakeServer]:
    made: list[AudioSocketServer] = []

    async def make(**kwargs: Any) -> AudioSocketServer:
        server = AudioSocketServer("127.0.0.1", 0, **kwargs)
        await server.start()
        made.append(server)
        return server

    yield make
    for server in made:
        await server.stop()


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    made: list[Asterisk] = []

    async def make(server: AudioSocketServer, call_uuid: uuid.UUID | None = None) -> Asterisk:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        peer = Asterisk(reader, writer)
        made.append(peer)
        if call_uuid is not None:
            await peer.send(wire.uuid_frame(call_uuid))
        return peer

    yield make
    for peer in made:
        peer.writer.close()


async def started(
    make_server: MakeServer, connect: Connect, fmt: MediaFormat = SLIN16, **kwargs: Any
) -> tuple[AudioSocketServer, AudioSocketTransport, Asterisk, Sink]:
    server = await make_server(**kwargs)
    call_uuid = uuid.uuid4()
    transport = server.expect(call_uuid, fmt)
    peer = await connect(server, call_uuid)
    await transport.wait_connected(2.0)
    sink = Sink()
    await transport.start(sink.on_frame, sink.on_closed)
    return server, transport, peer, sink


def tone(hz: float, ms: int, rate: int) -> bytes:
    t = np.arange(rate * ms // 1000) / rate
    return (np.sin(2 * np.pi * hz * t) * 8000).astype("<i2").tobytes()


async def test_slin16_both_ways_after_the_uuid_handshake(
    make_server: MakeServer, connect: Connect
) -> None:
    server, transport, peer, sink = await started(make_server, connect)
    assert server.external_host == f"127.0.0.1:{server.port}"
    as_media: MediaTransport = transport  # the structural type the pipeline expects
    assert as_media.format.pcm_frame_bytes == 640
    audio = tone(440, 60, 16000)
    frames = [audio[i:i + 640] for i in range(0, len(audio), 640)]
    await peer.send(b"".join(wire.audio_frame(f, 16000) for f in frames))
    await peer.send(wire.audio_frame(audio[:32], 16000))  # the short last frame of a file
    got = await sink.frames_count(4)
    assert got[:3] == frames
    assert got[3] == audio[:32] + bytes(608), "a short frame is padded and delivered at once"
    transport.send_frame(frames[0])
    assert await peer.frame() == (0x12, frames[0])
    assert transport.stats().frames_delivered == 4


async def test_slin_8k_both_ways(make_server: MakeServer, connect: Connect) -> None:
    _, transport, peer, sink = await started(make_server, connect, SLIN)
    audio = tone(300, 20, 8000)
    await peer.send(wire.audio_frame(audio, 8000))
    assert (await sink.frames_count(1))[0] == audio
    transport.send_frame(audio)
    assert await peer.frame() == (0x10, audio)


async def test_ulaw_channel_frames_are_mu_law_in_a_slin_kind(
    make_server: MakeServer, connect: Connect
) -> None:
    _, transport, peer, sink = await started(make_server, connect, MediaFormat("ulaw", 8000))
    audio = tone(500, 20, 8000)
    await peer.send(wire.build_frame(0x10, g711.ulaw_encode(audio)))
    assert (await sink.frames_count(1))[0] == g711.ulaw_decode(g711.ulaw_encode(audio))
    transport.send_frame(audio)
    assert await peer.frame() == (0x10, audio), "sent back as slin LE, which Asterisk reads"


async def test_an_8k_stream_on_a_16k_transport_is_resampled(
    make_server: MakeServer, connect: Connect
) -> None:
    _, transport, peer, sink = await started(make_server, connect, SLIN16)
    audio = tone(400, 200, 8000)
    await peer.send(b"".join(wire.audio_frame(audio[i:i + 320], 8000)
                             for i in range(0, len(audio), 320)))
    got = await sink.frames_count(8)
    assert {len(f) for f in got} == {640}
    assert transport.stats().resampled_frames == 10


async def test_dtmf_is_reported_and_only_audio_is_ever_sent(
    make_server: MakeServer, connect: Connect
) -> None:
    _, transport, peer, sink = await started(make_server, connect)
    transport.on_dtmf = sink.dtmf.append
    for digit in "12#":
        await peer.send(wire.dtmf_frame(digit))
    for _ in range(3):
        transport.send_frame(bytes(640))
    await asyncio.sleep(0.05)
    assert sink.dtmf == ["1", "2", "#"]
    kinds = {(await peer.frame())[0] for _ in range(3)}
    assert kinds == {0x12}
    await transport.close()
    assert sink.closed == [], "our own close is not reported as the peer going away"
    parser = wire.AudioSocketParser()
    parser.feed(await peer.reader.read())
    assert {frame.kind for frame in parser.frames()} <= {0x12}, "no hang-up/error/DTMF frame"


async def test_silence_keeps_the_connection_alive_when_nothing_is_sent(
    make_server: MakeServer, connect: Connect
) -> None:
    server = await make_server()
    call_uuid = uuid.uuid4()
    transport = server.expect(call_uuid, SLIN16)
    peer = await connect(server, call_uuid)
    await transport.wait_connected(2.0)
    loop = asyncio.get_running_loop()
    start = loop.time()
    arrivals = []
    for _ in range(3):  # before start(), and with no pipeline sending: still kept alive
        kind, payload = await peer.frame(within_s=1.5)
        arrivals.append(loop.time() - start)
        assert (kind, payload) == (0x12, bytes(640))
    gaps = [b - a for a, b in zip([0.0, *arrivals], arrivals, strict=False)]
    assert max(gaps) < 1.0, f"Asterisk gives up after 2 s without a frame: {gaps}"
    assert transport.keepalives >= 3


async def test_the_keepalive_stays_quiet_while_frames_flow(
    make_server: MakeServer, connect: Connect
) -> None:
    _, transport, peer, _ = await started(make_server, connect, SLIN16)
    for _ in range(40):
        transport.send_frame(b"\x01\x00" * 320)
        await asyncio.sleep(0.02)
    assert transport.keepalives == 0


@pytest.mark.parametrize("how", ["half_close", "reset", "hangup_frame", "error_frame"])
async def test_the_peer_going_away_is_reported_once(
    make_server: MakeServer, connect: Connect, how: str
) -> None:
    _, transport, peer, sink = await started(make_server, connect)
    if how == "half_close":
        await peer.send(wire.audio_frame(bytes(640), 16000))
        peer.half_close()
    elif how == "reset":
        peer.reset()
    elif how == "hangup_frame":
        await peer.send(wire.hangup_frame())
    else:
        await peer.send(wire.error_frame(2))
    async with asyncio.timeout(2):
        await sink.ended.wait()
    expected = {"half_close": "peer closed the connection", "reset": "connection lost",
                "hangup_frame": "hang-up frame", "error_frame": "error frame (code 2)"}[how]
    assert len(sink.closed) == 1 and expected in sink.closed[0], sink.closed
    assert transport.ended_reason is not None
    if how != "reset":
        assert await peer.eof(), "we close our side too"
    transport.send_frame(bytes(640))  # the pacer may still tick: dropped, no exception
    assert transport.send_dropped >= 1
    await transport.close()
    assert len(sink.closed) == 1


async def test_a_stream_that_ended_before_start_reports_at_start(
    make_server: MakeServer, connect: Connect
) -> None:
    server = await make_server()
    call_uuid = uuid.uuid4()
    transport = server.expect(call_uuid, SLIN16)
    peer = await connect(server, call_uuid)
    await transport.wait_connected(2.0)
    peer.half_close()
    await peer.eof()
    sink = Sink()
    await transport.start(sink.on_frame, sink.on_closed)
    assert sink.closed == ["audiosocket: peer closed the connection"]


async def test_garbage_is_counted_and_skipped(make_server: MakeServer, connect: Connect) -> None:
    _, transport, peer, sink = await started(make_server, connect)
    await peer.send(
        wire.build_frame(0x11, bytes(480))          # a kind we do not handle
        + wire.build_frame(0x12, bytes(641))        # odd slin16 payload
        + wire.build_frame(0x03, b"xx")             # not a DTMF frame
        + wire.uuid_frame(uuid.uuid4())             # a second UUID
        + wire.audio_frame(b"\x05\x00" * 320, 16000)
    )
    got = await sink.frames_count(1)
    assert got == [b"\x05\x00" * 320]
    assert transport.garbage == 4 and transport.unknown_kinds == 1
    assert sink.closed == []


async def test_a_stream_of_nothing_but_garbage_is_ended(
    make_server: MakeServer, connect: Connect
) -> None:
    _, transport, peer, sink = await started(make_server, connect)
    await peer.send(wire.build_frame(0x7E, b"?") * 60)
    async with asyncio.timeout(2):
        await sink.ended.wait()
    assert "unusable stream" in sink.closed[0]
    assert await peer.eof()


async def test_a_peer_that_stops_reading_makes_us_drop_not_block(
    make_server: MakeServer, connect: Connect
) -> None:
    _, transport, peer, _ = await started(make_server, connect, SLIN16)
    peer.writer.transport.pause_reading()
    frame = b"\x01\x02" * 320
    for _ in range(60):  # up to 20 minutes of audio; the kernel buffers take a few MB of it
        for _ in range(1000):
            transport.send_frame(frame)
        await asyncio.sleep(0.001)
        if transport.send_dropped:
            break
    assert transport.send_dropped > 0
    assert transport.stats().frames_sent > 0
    assert transport.ended_reason is None, "a slow peer is not a dead one"


async def test_unknown_and_malformed_connections_are_closed(
    make_server: MakeServer, connect: Connect
) -> None:
    server = await make_server(handshake_timeout_s=0.2)
    stranger = await connect(server, uuid.uuid4())
    assert await stranger.eof()
    audio_first = await connect(server)
    await audio_first.send(wire.audio_frame(bytes(640), 16000))
    assert await audio_first.eof()
    silent = await connect(server)
    assert await silent.eof(within_s=1.0), "no UUID within the handshake timeout"
    short_uuid = await connect(server)
    await short_uuid.send(b"\x01\x00\x04abcd")
    assert await short_uuid.eof()
    assert server.rejected == 4 and server.accepted == 0


async def test_the_connection_goes_to_the_call_that_expects_its_uuid(
    make_server: MakeServer, connect: Connect
) -> None:
    server = await make_server()
    uuids = [uuid.uuid4() for _ in range(3)]
    transports = [server.expect(u, SLIN16) for u in uuids]
    with pytest.raises(MediaError):
        server.expect(uuids[0], SLIN16)
    peers = [await connect(server, u) for u in reversed(uuids)]
    for transport in transports:
        await transport.wait_connected(2.0)
    sinks = [Sink() for _ in transports]
    for transport, sink in zip(transports, sinks, strict=True):
        await transport.start(sink.on_frame, sink.on_closed)
    for i, peer in enumerate(reversed(peers)):
        await peer.send(wire.audio_frame(bytes([i + 1, 0]) * 320, 16000))
    for i, sink in enumerate(sinks):
        assert (await sink.frames_count(1))[0] == bytes([i + 1, 0]) * 320


async def test_waiting_for_a_connection_that_never_comes(make_server: MakeServer) -> None:
    server = await make_server()
    transport = server.expect(uuid.uuid4(), SLIN16)
    with pytest.raises(MediaError, match="no AudioSocket connection"):
        await transport.wait_connected(0.05)
    waiter = asyncio.ensure_future(transport.wait_connected(5))
    await asyncio.sleep(0)
    await transport.close()
    with pytest.raises(MediaError, match="closed before"):
        await waiter
    server.release(transport)


async def test_dialplan_connections_go_to_the_handler(
    make_server: MakeServer, connect: Connect
) -> None:
    server = await make_server()
    handled: list[tuple[uuid.UUID | None, bytes]] = []

    async def handler(transport: AudioSocketTransport) -> None:
        sink = Sink()
        await transport.start(sink.on_frame, sink.on_closed)
        frames = await sink.frames_count(1)
        handled.append((transport.call_uuid, frames[0]))
        transport.send_frame(frames[0])
        await transport.hang_up()

    server.set_dialplan_handler(handler)
    dialplan_uuid = uuid.UUID("7c2a5d4e-1b3f-4a6e-9d8c-0123456789ab")
    peer = await connect(server, dialplan_uuid)
    audio = tone(300, 20, 8000)

    async def speak() -> None:  # like the AudioSocket() application: a frame every 20 ms
        while True:
            await peer.send(wire.audio_frame(audio, 8000))
            await asyncio.sleep(0.02)

    speaking = asyncio.ensure_future(speak())
    try:
        while (frame := await peer.frame()) == (0x10, bytes(320)):
            pass  # the keepalive's silence, sent while the handler gets going
        assert frame == (0x10, audio)
        assert await peer.frame() == (0x00, b""), "a deliberate hang-up frame ends the call"
        assert await peer.eof()
    finally:
        speaking.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await speaking
    assert handled == [(dialplan_uuid, audio)]


async def test_stop_closes_open_connections_and_a_busy_port_is_an_error(
    make_server: MakeServer, connect: Connect
) -> None:
    server, transport, peer, sink = await started(make_server, connect)
    busy = AudioSocketServer("127.0.0.1", server.port)
    with pytest.raises(MediaError, match="cannot listen"):
        await busy.start()
    await server.stop()
    assert await peer.eof()
    assert sink.closed == []
    with pytest.raises(MediaError):
        AudioSocketTransport(MediaFormat("slin16", 48000))
