"""Test helpers: a UDP socket playing the app's RTP side, and test audio."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from typing import cast

import numpy as np

from callwright.media.rtp import RtpPacket, build_rtp, parse_rtp


def tone(hz: float, ms: float, amplitude: int = 8000, rate: int = 8000) -> bytes:
    n = int(rate * ms / 1000)
    t = np.arange(n) / rate
    return (amplitude * np.sin(2 * math.pi * hz * t)).astype("<i2").tobytes()


def dominant_hz(pcm: bytes, rate: int = 8000) -> float:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.argmax(spectrum) * rate / x.size)


@dataclass(frozen=True)
class Received:
    at: float
    packet: RtpPacket
    addr: tuple[str, int]


class RtpPeer(asyncio.DatagramProtocol):
    """The app's UDP socket: records every packet, can send packets from the same socket."""

    def __init__(self) -> None:
        self.packets: list[Received] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.arrived = asyncio.Event()

    @classmethod
    async def open(cls, host: str = "127.0.0.1") -> RtpPeer:
        peer = cls()
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: peer, local_addr=(host, 0))
        return peer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    @property
    def address(self) -> str:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return f"{host}:{port}"

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.packets.append(Received(time.monotonic(), parse_rtp(data), addr))
        self.arrived.set()

    def send(self, data: bytes, to: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(data, to)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def send_paced(
    peer: RtpPeer, to: tuple[str, int], payloads: list[bytes], pt: int, frame_samples: int = 160
) -> None:
    """Send one packet per 20 ms, as a paced app would."""
    start = time.monotonic()
    for i, payload in enumerate(payloads):
        await asyncio.sleep(max(0.0, start + i * 0.02 - time.monotonic()))
        peer.send(build_rtp(pt, (1000 + i) & 0xFFFF, i * frame_samples, 0x1234, payload), to)
