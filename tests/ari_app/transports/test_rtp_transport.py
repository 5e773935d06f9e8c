"""The ExternalMedia RTP transport, for real over UDP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import random
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import numpy as np
import pytest

from ari_app.transports.rtp import MAX_PACKETS_PER_TICK, RtpTransport
from callwright.errors import ConfigError, MediaError
from callwright.media import g711
from callwright.media.pacer import PacerClock
from callwright.media.rtp import RtpPacket, RtpSender, build_rtp, parse_rtp
from callwright.media.transport import ArrivingFrames, MediaFormat, MediaTransport

ULAW = MediaFormat("ulaw", 8000)
SILENT_FRAME = bytes(320)


class Peer(asyncio.DatagramProtocol):
    """Plays Asterisk: a UDP socket that sends RTP and collects what it receives."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.put_nowait((data, addr))

    @property
    def address(self) -> tuple[str, int]:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return host, port

    def send(self, data: bytes, to: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(data, to)

    async def next(self) -> bytes:
        async with asyncio.timeout(2.0):
            data, _ = await self.received.get()
        return data


class Sink:
    """Collects the frames a transport delivers."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.closed: list[str] = []

    def on_frame(self, pcm: bytes) -> None:
        self.frames.append(pcm)

    def on_closed(self, reason: str) -> None:
        self.closed.append(reason)


MakeTransport = Callable[..., Awaitable[RtpTransport]]
MakePeer = Callable[[], Awaitable[Peer]]


@pytest.fixture
async def make_transport() -> AsyncIterator[MakeTransport]:
    made: list[RtpTransport] = []

    async def make(fmt: MediaFormat = ULAW, **kwargs: Any) -> RtpTransport:
        kwargs.setdefault("bind_host", "127.0.0.1")
        kwargs.setdefault("port_range", (0, 0))
        transport = RtpTransport(fmt, **kwargs)
        made.append(transport)
        await transport.open()
        return transport

    yield make
    for transport in made:
        await transport.close()


@pytest.fixture
async def make_peer() -> AsyncIterator[MakePeer]:
    made: list[Peer] = []

    async def make() -> Peer:
        loop = asyncio.get_running_loop()
        _, peer = await loop.create_datagram_endpoint(Peer, local_addr=("127.0.0.1", 0))
        made.append(peer)
        return peer

    yield make
    for peer in made:
        if peer.transport is not None:
            peer.transport.close()


@pytest.fixture(params=["own-timer", "shared-clock"])
async def playout(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, Any]]:
    """Transport options: playout on the transport's own timer, or on the shared pacer clock."""
    if request.param == "own-timer":
        yield {}
        return
    clock = PacerClock()
    clock.start()
    yield {"ticker": clock}
    await clock.stop()


def ulaw_payload(seq: int) -> bytes:
    """A distinct, recognisable 20 ms µ-law payload per sequence number."""
    code = 0x80 + (seq * 7) % 0x70  # positive levels, never the silence code
    return bytes([code]) * 160


async def wait_for(condition: Callable[[], bool], within_s: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_receives_reordered_duplicated_lost_and_garbage_packets(
    make_transport: MakeTransport, make_peer: MakePeer, playout: dict[str, Any]
) -> None:
    transport = await make_transport(**playout)
    peer = await make_peer()
    sink = Sink()
    await transport.start(sink.on_frame, sink.on_closed)
    sender = RtpSender(0, ssrc=0x5EED, first_sequence=65530, first_timestamp=160)
    packets = {i: sender.packet(ulaw_payload(i), 160) for i in range(18)}
    # Sequence numbers run 65530..65535, 0..11: the stream wraps around.
    # Send order, one datagram per 20 ms: 3 and 4 swapped, 5 duplicated, 6 never sent,
    # 10 sent far too late (its slot has been played by then), garbage in between.
    schedule: list[bytes | None] = [
        packets[0], packets[1], packets[2], packets[4], packets[3], packets[5], packets[5],
        packets[7], b"\x00garbage", packets[8], packets[9], packets[11],
        bytes.fromhex("40000001000000a001b7d5aaff"), packets[12], packets[13], packets[14],
        packets[15], packets[16], packets[10], packets[17],
    ]
    for datagram in schedule:
        assert datagram is not None
        peer.send(datagram, transport.local_address)
        await asyncio.sleep(0.02)
    await wait_for(lambda: len(sink.frames) >= 18)
    await asyncio.sleep(0.3)  # the stream has stopped: no more frames, no invented silence

    expected = [
        SILENT_FRAME if i in (6, 10) else g711.ulaw_decode(ulaw_payload(i)) for i in range(18)
    ]
    assert len(sink.frames) == 18
    for i, (got, want) in enumerate(zip(sink.frames, expected, strict=True)):
        assert got == want, f"frame {i} differs"
    stats = transport.stats()
    assert stats.garbage == 2
    assert stats.lost == 2
    assert stats.late == 1
    assert stats.duplicates == 1
    assert stats.silence_frames == 2
    assert stats.frames_delivered == 18
    assert stats.receive.ssrc == 0x5EED
    assert stats.receive.out_of_order == 2  # packet 3, and packet 10 (counted by A.1 rules)
    assert (stats.receive.expected, stats.receive.received) == (18, 17)
    assert stats.packets_received == 18
    assert sink.closed == []


async def test_stream_restarts_after_a_pause(
    make_transport: MakeTransport, make_peer: MakePeer, playout: dict[str, Any]
) -> None:
    transport = await make_transport(idle_stop_ms=60, **playout)
    peer = await make_peer()
    sink = Sink()
    await transport.start(sink.on_frame, sink.on_closed)
    sender = RtpSender(0)
    for burst in range(2):
        for i in range(4):
            peer.send(sender.packet(ulaw_payload(burst * 4 + i), 160), transport.local_address)
            await asyncio.sleep(0.02)
        wanted = 4 * (burst + 1)
        await wait_for(lambda: len(sink.frames) >= wanted)  # noqa: B023
        await asyncio.sleep(0.25)  # caller silent: Asterisk sends nothing
        assert len(sink.frames) == 4 * (burst + 1)
    assert sink.frames == [g711.ulaw_decode(ulaw_payload(i)) for i in range(8)]
    assert transport.stats().lost == 0


async def test_frames_go_to_the_arrival_sink_before_the_jitter_buffer_plays_them(
    make_transport: MakeTransport, make_peer: MakePeer
) -> None:
    transport = await make_transport(jitter_depth_frames=3)
    assert isinstance(transport, ArrivingFrames)
    peer = await make_peer()
    sink = Sink()
    arrived: list[tuple[float, bytes]] = []
    played: list[float] = []
    transport.set_arrival_sink(lambda pcm: arrived.append((time.monotonic(), pcm)))
    await transport.start(lambda pcm: (played.append(time.monotonic()), sink.on_frame(pcm)),
                          sink.on_closed)
    payload = g711.ulaw_encode(np.full(160, 1000, dtype="<i2").tobytes())
    peer.send(build_rtp(0, 1, 160, 1, payload), transport.local_address)
    peer.send(build_rtp(0, 2, 320, 1, b"\x80" * 8), transport.local_address)  # short: not sent on
    await wait_for(lambda: len(sink.frames) == 2)
    assert [pcm for _, pcm in arrived] == [g711.ulaw_decode(payload)]
    assert played[0] - arrived[0][0] >= 0.035  # the buffer held it (3 frames, or 3 ticks)
    transport.set_arrival_sink(None)
    peer.send(build_rtp(0, 3, 480, 1, payload), transport.local_address)
    await wait_for(lambda: len(sink.frames) == 3)
    assert len(arrived) == 1


async def test_short_last_frame_is_padded(
    make_transport: MakeTransport, make_peer: MakePeer
) -> None:
    transport = await make_transport(jitter_depth_frames=1)
    peer = await make_peer()
    sink = Sink()
    await transport.start(sink.on_frame, sink.on_closed)
    peer.send(build_rtp(0, 9, 160, 1, b"\x80" * 8), transport.local_address)
    await wait_for(lambda: len(sink.frames) == 1)
    assert sink.frames[0] == g711.ulaw_decode(b"\x80" * 8) + bytes(304)


async def test_slin_is_received_big_endian_and_sent_as_pt_10(
    make_transport: MakeTransport, make_peer: MakePeer
) -> None:
    transport = await make_transport(MediaFormat("slin", 8000), jitter_depth_frames=1)
    peer = await make_peer()
    sink = Sink()
    await transport.start(sink.on_frame, sink.on_closed)
    pcm = np.arange(160, dtype=np.int64).astype("<i2").tobytes()
    big_endian = np.arange(160, dtype=np.int64).astype(">i2").tobytes()
    peer.send(build_rtp(10, 1, 160, 1, big_endian), transport.local_address)
    await wait_for(lambda: len(sink.frames) == 1)
    assert sink.frames[0] == pcm
    transport.send_frame(pcm)  # the remote was learned from that packet
    packet = parse_rtp(await peer.next())
    assert packet.payload_type == 10
    assert packet.payload == big_endian


async def test_sent_frames_arrive_as_valid_rtp(
    make_transport: MakeTransport, make_peer: MakePeer
) -> None:
    transport = await make_transport()
    peer = await make_peer()
    transport.set_remote(*peer.address)  # sending before anything was received
    frames = [
        (np.sin(np.arange(160) * 0.1 * (k + 1)) * 8000).astype("<i2").tobytes() for k in range(10)
    ]
    for pcm in frames:
        transport.send_frame(pcm)
    packets = [parse_rtp(await peer.next()) for _ in frames]
    assert {p.payload_type for p in packets} == {0}
    assert all(len(p.payload) == 160 for p in packets)
    assert [p.payload for p in packets] == [g711.ulaw_encode(pcm) for pcm in frames]
    assert len({p.ssrc for p in packets}) == 1
    for before, after in zip(packets, packets[1:], strict=False):
        assert after.sequence == (before.sequence + 1) % 65536
        assert after.timestamp == (before.timestamp + 160) % 2**32
    assert not any(p.marker for p in packets)
    stats = transport.stats()
    assert stats.packets_sent == 10 and stats.octets_sent == 1600
    assert stats.remote == f"{peer.address[0]}:{peer.address[1]}"


async def test_pause_in_sending_starts_a_talkspurt(
    make_transport: MakeTransport, make_peer: MakePeer
) -> None:
    transport = await make_transport()
    peer = await make_peer()
    transport.set_remote(*peer.address)
    transport.send_frame(SILENT_FRAME)
    first = parse_rtp(await peer.next())
    await asyncio.sleep(0.2)
    transport.send_frame(SILENT_FRAME)
    second = parse_rtp(await peer.next())
    assert second.sequence == (first.sequence + 1) % 65536
    assert second.marker is True
    jump = (second.timestamp - first.timestamp) % 2**32
    assert jump % 160 == 0 and 160 * 9 <= jump <= 160 * 20


async def test_remote_is_learned_from_the_first_valid_packet(
    make_transport: MakeTransport, make_peer: MakePeer, playout: dict[str, Any]
) -> None:
    transport = await make_transport(**playout)
    peer = await make_peer()
    sink = Sink()
    await transport.start(sink.on_frame, sink.on_closed)
    transport.send_frame(SILENT_FRAME)  # nowhere to send yet: dropped and counted
    assert transport.stats().send_without_remote == 1
    peer.send(b"not rtp", transport.local_address)
    await asyncio.sleep(0.05)
    assert transport.remote_address is None  # garbage teaches nothing
    peer.send(build_rtp(0, 1, 160, 1, ulaw_payload(1)), transport.local_address)
    await wait_for(lambda: transport.remote_address is not None)
    assert transport.remote_address == peer.address
    transport.send_frame(SILENT_FRAME)
    packet = parse_rtp(await peer.next())
    assert packet.payload == b"\xff" * 160


async def test_set_remote_is_kept_when_packets_come_from_elsewhere(
    make_transport: MakeTransport, make_peer: MakePeer, playout: dict[str, Any]
) -> None:
    transport = await make_transport(**playout)
    sink = Sink()
    await transport.start(sink.on_frame, sink.on_closed)
    asterisk = await make_peer()
    stranger = await make_peer()
    transport.set_remote(*asterisk.address)
    stranger.send(build_rtp(0, 1, 160, 1, ulaw_payload(1)), transport.local_address)
    await wait_for(lambda: transport.stats().packets_received == 1)
    transport.send_frame(SILENT_FRAME)
    assert parse_rtp(await asterisk.next()).payload_type == 0
    assert stranger.received.empty()


async def test_set_remote_accepts_channel_variable_strings(make_transport: MakeTransport) -> None:
    transport = await make_transport()
    transport.set_remote("127.0.0.1", "16296")
    assert transport.remote_address == ("127.0.0.1", 16296)
    for host, port in (("asterisk.local", 4000), ("127.0.0.1", "x"), ("127.0.0.1", 0)):
        with pytest.raises(MediaError):
            transport.set_remote(host, port)


async def test_unsupported_payload_types_are_dropped(
    make_transport: MakeTransport, make_peer: MakePeer, playout: dict[str, Any]
) -> None:
    transport = await make_transport(jitter_depth_frames=1, **playout)
    peer = await make_peer()
    sink = Sink()
    await transport.start(sink.on_frame, sink.on_closed)
    peer.send(build_rtp(101, 1, 160, 1, b"\x01\x0a\x00\xa0"), transport.local_address)  # DTMF
    peer.send(build_rtp(118, 2, 320, 1, bytes(640)), transport.local_address)  # 16 kHz
    await wait_for(lambda: transport.stats().unsupported_payload == 2)
    await asyncio.sleep(0.1)
    assert sink.frames == []


async def test_port_range_skips_busy_ports(make_transport: MakeTransport) -> None:
    for _ in range(20):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", 0))
        busy = probe.getsockname()[1] & ~1
        probe.close()
        holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            holder.bind(("127.0.0.1", busy))
        except OSError:
            holder.close()
            continue
        try:
            transport = await make_transport(port_range=(busy, busy + 3))
        except MediaError:
            continue  # busy + 2 was taken by someone else too: try another pair
        finally:
            holder.close()
        assert transport.local_address == ("127.0.0.1", busy + 2)
        assert transport.advertise_address == f"127.0.0.1:{busy + 2}"
        return
    pytest.fail("could not find a free pair of ports")


async def test_no_free_port_is_a_media_error(make_transport: MakeTransport) -> None:
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    try:
        with pytest.raises(MediaError, match="no free UDP port"):
            await make_transport(port_range=(port, port))
    finally:
        holder.close()


async def test_advertised_address_can_differ_from_the_bind_address(
    make_transport: MakeTransport,
) -> None:
    transport = await make_transport(bind_host="0.0.0.0", advertise_host="192.0.2.10")
    port = transport.local_address[1]
    assert transport.local_address == ("0.0.0.0", port)
    assert transport.advertise_address == f"192.0.2.10:{port}"


@pytest.mark.parametrize(
    ("fmt", "kwargs", "key"),
    [
        (MediaFormat("slin16", 16000), {}, "media.format"),
        (MediaFormat("opus", 48000), {}, "media.format"),
        (MediaFormat("ulaw", 16000), {}, "media.sample_rate"),
        (ULAW, {"bind_host": "0.0.0.0"}, "media.rtp.advertise_host"),
        (ULAW, {"bind_host": "0.0.0.0", "advertise_host": "0.0.0.0"}, "media.rtp.advertise_host"),
        (ULAW, {"bind_host": "localhost"}, "media.rtp.bind_host"),
        (ULAW, {"port_range": (5000, 4000)}, "media.rtp.port_range"),
    ],
)
def test_configuration_is_checked(fmt: MediaFormat, kwargs: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        RtpTransport(fmt, **kwargs)
    assert info.value.key == key


def test_slin16_refusal_explains_why() -> None:
    with pytest.raises(ConfigError, match="AudioSocket"):
        RtpTransport(MediaFormat("slin16", 16000))


async def test_close_is_idempotent_and_final(
    make_transport: MakeTransport, make_peer: MakePeer, playout: dict[str, Any]
) -> None:
    transport = await make_transport(**playout)
    peer = await make_peer()
    sink = Sink()
    await transport.start(sink.on_frame, sink.on_closed)
    transport.set_remote(*peer.address)
    await transport.close()
    await transport.close()
    with pytest.raises(MediaError):
        transport.send_frame(SILENT_FRAME)
    with pytest.raises(MediaError):
        await transport.open()
    assert sink.closed == []  # our own close is not the peer going away


async def test_send_frame_rejects_odd_pcm(make_transport: MakeTransport) -> None:
    transport = await make_transport()
    transport.set_remote("127.0.0.1", 9)
    with pytest.raises(MediaError):
        transport.send_frame(b"\x00" * 3)


async def test_ssrc_change_restarts_the_stream(
    make_transport: MakeTransport, make_peer: MakePeer, playout: dict[str, Any]
) -> None:
    transport = await make_transport(jitter_depth_frames=1, **playout)
    peer = await make_peer()
    sink = Sink()
    await transport.start(sink.on_frame, sink.on_closed)
    first, second = RtpSender(0, ssrc=1), RtpSender(0, ssrc=2)
    for sender, base in ((first, 0), (second, 10)):
        for i in range(3):
            peer.send(sender.packet(ulaw_payload(base + i), 160), transport.local_address)
            await asyncio.sleep(0.02)
    await wait_for(lambda: len(sink.frames) >= 6)
    await asyncio.sleep(0.1)
    assert sink.frames == [g711.ulaw_decode(ulaw_payload(i)) for i in (0, 1, 2, 10, 11, 12)]
    assert transport.stats().receive.ssrc_changes == 1


async def test_fuzzed_datagrams_never_break_the_transport(
    make_transport: MakeTransport,
    make_peer: MakePeer,
    caplog: pytest.LogCaptureFixture,
    playout: dict[str, Any],
) -> None:
    transport = await make_transport(jitter_depth_frames=1, **playout)
    peer = await make_peer()
    sink = Sink()
    await transport.start(sink.on_frame, sink.on_closed)
    rng = random.Random(1234)
    valid = build_rtp(0, 100, 160, 77, ulaw_payload(1))
    sent = 0
    for n in range(300):
        if n % 20 == 0:
            await asyncio.sleep(0.005)  # let the socket drain: loopback buffers are finite
        if rng.random() < 0.5:
            datagram = rng.randbytes(rng.randrange(0, 200))
        else:  # a valid packet, truncated and with a byte flipped
            mutated = bytearray(valid[: rng.randrange(0, len(valid) + 1)])
            if mutated:
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            datagram = bytes(mutated)
        if datagram:  # asyncio does not send empty datagrams
            peer.send(datagram, transport.local_address)
            sent += 1
    await asyncio.sleep(0.2)
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    stats = transport.stats()
    assert stats.garbage + stats.unsupported_payload + stats.packets_received == sent
    assert stats.garbage > 100
    # Still alive: a clean new stream is delivered.
    frames_before = len(sink.frames)
    sender = RtpSender(0, ssrc=99)
    for i in range(3):
        peer.send(sender.packet(ulaw_payload(i), 160), transport.local_address)
        await asyncio.sleep(0.02)
    await wait_for(lambda: g711.ulaw_decode(ulaw_payload(2)) in sink.frames[frames_before:])


async def test_clock_mode_reads_on_ticks_and_keeps_kernel_arrival_times(
    make_transport: MakeTransport, make_peer: MakePeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the shared clock, datagrams wait in the socket until the next tick, but the jitter
    statistics see when each one really arrived (SO_TIMESTAMPNS), not when it was read."""
    clock = PacerClock()  # not started: the test runs the ticks
    transport = await make_transport(ticker=clock, jitter_depth_frames=1)
    peer = await make_peer()
    sink = Sink()
    await transport.start(sink.on_frame, sink.on_closed)
    arrivals: list[float | None] = []
    original = transport._on_datagram

    def spy(data: bytes, source: tuple[str, int], arrival: float | None = None) -> None:
        arrivals.append(arrival)
        original(data, source, arrival)

    monkeypatch.setattr(transport, "_on_datagram", spy)
    sender = RtpSender(0)
    sent_at = []
    for i in range(3):
        sent_at.append(time.monotonic())
        peer.send(sender.packet(ulaw_payload(i), 160), transport.local_address)
        await asyncio.sleep(0.03)
    assert transport.stats().packets_received == 0  # nothing is read between ticks
    read_at = time.monotonic()
    clock.tick_all(0)
    assert transport.stats().packets_received == 3
    assert sink.frames == [g711.ulaw_decode(ulaw_payload(0))]  # one frame per tick
    if sys.platform.startswith("linux"):
        for sent, arrival in zip(sent_at, arrivals, strict=True):
            assert arrival is not None
            assert sent - 0.001 <= arrival < read_at, "arrival is the kernel's, not the read's"
        assert arrivals[2] - arrivals[0] >= 0.05  # 30 ms apart, read at once


async def test_clock_mode_reads_a_bounded_number_of_datagrams_per_tick(
    make_transport: MakeTransport, make_peer: MakePeer
) -> None:
    """A flood cannot stall the clock: each tick reads at most MAX_PACKETS_PER_TICK per call,
    the rest waits in the socket for the next ticks."""
    clock = PacerClock()
    transport = await make_transport(ticker=clock, jitter_max_frames=500)
    peer = await make_peer()
    sink = Sink()
    await transport.start(sink.on_frame, sink.on_closed)
    sender = RtpSender(0)
    total = MAX_PACKETS_PER_TICK + 36
    for i in range(total):
        peer.send(sender.packet(ulaw_payload(i), 160), transport.local_address)
    await asyncio.sleep(0.05)
    clock.tick_all(0)
    assert transport.stats().packets_received == MAX_PACKETS_PER_TICK
    clock.tick_all(1)
    assert transport.stats().packets_received == total


async def test_clock_mode_survives_garbage_and_socket_errors(
    make_transport: MakeTransport, make_peer: MakePeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = PacerClock()
    transport = await make_transport(ticker=clock, jitter_depth_frames=1)
    peer = await make_peer()
    sink = Sink()
    await transport.start(sink.on_frame, sink.on_closed)
    sock = transport._sock
    assert sock is not None
    real_recvmsg = sock.recvmsg
    failures = [ConnectionRefusedError(111, "Connection refused")]  # an ICMP error, reported once

    class FlakySocket:
        def recvmsg(self, size: int, ancillary: int) -> Any:
            if failures:
                raise failures.pop()
            return real_recvmsg(size, ancillary)

        def __getattr__(self, name: str) -> Any:
            return getattr(sock, name)

    monkeypatch.setattr(transport, "_sock", FlakySocket())
    peer.send(b"\x80garbage", transport.local_address)
    peer.send(build_rtp(0, 1, 160, 1, ulaw_payload(1)), transport.local_address)
    await asyncio.sleep(0.05)
    for index in range(3):
        clock.tick_all(index)
    stats = transport.stats()
    assert stats.socket_errors == 1  # the first tick's read failed: counted, nothing lost
    assert stats.garbage == 1
    assert stats.packets_received == 1
    assert sink.frames == [g711.ulaw_decode(ulaw_payload(1))]
    assert sink.closed == []


def test_implements_the_media_transport_protocol() -> None:
    transport: MediaTransport = RtpTransport(ULAW)  # checked by mypy, too
    assert transport.format == ULAW
    assert callable(transport.send_frame)


def test_packet_built_by_hand_parses() -> None:
    # Guard for the helper the tests above rely on.
    packet = RtpPacket(payload_type=0, sequence=1, timestamp=2, ssrc=3, payload=ulaw_payload(1))
    assert parse_rtp(packet.to_bytes()).payload == ulaw_payload(1)


class CountingCodec:
    """The transport's codec, counting what it encodes."""

    def __init__(self, codec: Any) -> None:
        self._codec = codec
        self.encoded: list[bytes] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._codec, name)

    def encode(self, pcm: bytes) -> bytes:
        self.encoded.append(pcm)
        return cast(bytes, self._codec.encode(pcm))


async def test_a_frame_sent_again_is_encoded_once(
    make_transport: MakeTransport, make_peer: MakePeer
) -> None:
    transport = await make_transport()
    peer = await make_peer()
    transport.set_remote(*peer.address)
    codec = CountingCodec(transport.codec)
    transport.codec = codec
    tone = (np.sin(np.arange(160) / 3) * 8000).astype("<i2").tobytes()
    sent = [SILENT_FRAME, SILENT_FRAME, tone, bytes(bytearray(tone)), SILENT_FRAME, SILENT_FRAME]
    for frame in sent:
        transport.send_frame(frame)
    payloads = [parse_rtp(await peer.next()).payload for _ in sent]
    assert payloads == [g711.ulaw_encode(frame) for frame in sent]
    # The same silence object twice in a row: encoded once; an equal but other object (a new
    # frame of the reply) always encoded.
    assert [id(pcm) for pcm in codec.encoded] == [id(SILENT_FRAME), id(tone), id(sent[3]),
                                                 id(SILENT_FRAME)]
    mutable = bytearray(tone)
    transport.send_frame(mutable)  # type: ignore[arg-type]
    mutable[:2] = b"\x00\x40"
    transport.send_frame(mutable)  # type: ignore[arg-type]
    assert [parse_rtp(await peer.next()).payload for _ in range(2)] == [
        g711.ulaw_encode(tone), g711.ulaw_encode(bytes(mutable))]
