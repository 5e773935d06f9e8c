"""The UnicastRTP endpoint on its own: packets out, packets in, what is dropped."""

from __future__ import annotations

import asyncio
import random

import numpy as np
import pytest

from ari_app.simulator.media_rtp import RtpEndpoint, Upsampler2x, decode_payload
from callwright.media import g711
from callwright.media.rtp import build_rtp
from tests.ari_app.simulator.conftest import PeerFactory
from tests.ari_app.simulator.media_helpers import tone


async def test_binds_an_even_port_and_sends_from_it(make_peer: PeerFactory) -> None:
    peer = await make_peer()
    host, port = peer.address.split(":")
    got: list[bytes] = []
    endpoint = RtpEndpoint("slin", (host, int(port)), got.append, random.Random(1))
    local = await endpoint.open("127.0.0.1")
    try:
        assert local % 2 == 0 and 10000 <= local < 20000
        frame = tone(300, 20)
        endpoint.deliver(frame)
        await asyncio.wait_for(peer.arrived.wait(), 1)
        packet = peer.packets[0].packet
        assert peer.packets[0].addr == ("127.0.0.1", local)
        assert packet.payload == np.frombuffer(frame, "<i2").astype(">i2").tobytes()
        assert (packet.payload_type, packet.timestamp, packet.marker) == (10, 160, False)
        # Packets from the peer's socket are decoded; others are ignored.
        peer.send(build_rtp(0, 1, 160, 5, g711.ulaw_encode(frame)), ("127.0.0.1", local))
        await asyncio.sleep(0.05)
        assert len(got) == 1
        endpoint.received(build_rtp(0, 2, 320, 5, g711.ulaw_encode(frame)), ("127.0.0.1", 9))
        assert len(got) == 1
    finally:
        endpoint.close()


def test_timestamps_follow_the_clock_after_a_silence(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr("ari_app.simulator.media_rtp.time.monotonic", lambda: now[0])
    endpoint = RtpEndpoint("ulaw", ("127.0.0.1", 9), lambda pcm: None)
    stamps = []
    for _ in range(3):
        stamps.append(endpoint._timestamp(160))
        now[0] += 0.02
    now[0] += 1.0
    stamps.append(endpoint._timestamp(160))
    assert stamps[:3] == [160, 320, 480]
    assert stamps[3] == round(1.06 * 8000)


@pytest.mark.parametrize(
    ("pt", "payload", "expected"),
    [
        (0, g711.ulaw_encode(b"\x10\x00" * 4), g711.ulaw_decode(g711.ulaw_encode(b"\x10\x00" * 4))),
        (10, b"\x01\x02", b"\x02\x01"),
        (11, b"\x01\x02", b"\x02\x01"),
        (10, b"\x01", None),
        (118, b"\x00" * 640, None),
        (96, b"\x00" * 160, None),
        (9, b"\x00" * 160, None),
    ],
)
def test_decode_by_payload_type(pt: int, payload: bytes, expected: bytes | None) -> None:
    assert decode_payload(pt, payload) == expected


def test_upsampler_doubles_and_is_continuous() -> None:
    up = Upsampler2x()
    a = up.process(np.array([0, 100, 200], dtype="<i2").tobytes())
    b = up.process(np.array([300], dtype="<i2").tobytes())
    assert a.tolist() == [0, 0, 50, 100, 150, 200]
    assert b.tolist() == [250, 300]
