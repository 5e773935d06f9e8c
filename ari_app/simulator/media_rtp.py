"""The Asterisk side of an ExternalMedia RTP channel (chan_rtp ``UnicastRTP``).

Measured behaviour reproduced (tests/asterisk22/asterisk-facts/media.md):
* bound on an even UDP port from 10000-20000 on the RTP address; it sends FROM that port TO
  ``external_host`` and accepts packets at once, before it has sent anything;
* it sends only what the bridge gives it (nothing while the caller is silent), one packet per
  frame: ulaw PT 0 / 160 B, alaw PT 8 / 160 B, slin PT 10 / 320 B big-endian, slin16 PT 118 /
  640 B big-endian; random SSRC and first sequence number, sequence +1 per packet, timestamp
  starting at one frame and advancing by each frame's samples (jumping with the wall clock after
  a silence), marker never set; a short last frame goes out short;
* received packets are decoded by their static payload type (0 µ-law, 8 A-law, 10/11 L16 8 kHz
  big-endian) whatever the channel format; dynamic types (96-127, 118 included) and anything
  that is not RTP are dropped without a word. Other static types (G.722, GSM...) are dropped too:
  the simulator has no decoder for them (Asterisk would decode G.722).
* packets from any address other than ``external_host`` are ignored (strict RTP).

Not Asterisk but the network: an optional :class:`RtpImpairment` drops a share of the packets sent
to the app and swaps others with the packet after them (seeded, so a run can be repeated), to
test the app's jitter buffer and recognition under loss and reordering.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from callwright.errors import ProtocolError
from callwright.media import g711
from callwright.media.rtp import build_rtp, parse_rtp

log = logging.getLogger(__name__)

#: format -> (payload type, sample rate)
RTP_FORMATS: dict[str, tuple[int, int]] = {
    "ulaw": (0, 8000),
    "alaw": (8, 8000),
    "slin": (10, 8000),
    "slin16": (118, 16000),
}
PORT_RANGE = (10000, 20000)
#: Beyond this many samples of disagreement, the timestamp follows the wall clock.
_MAX_TS_SKEW = 640
#: A packet held back for reordering goes out after this long if no packet follows it.
_HOLD_S = 0.03


@dataclass(frozen=True, slots=True)
class RtpImpairment:
    """Trouble on the way from Asterisk to the app: ``loss`` is the share of packets dropped,
    ``reorder`` the share held back and sent just after the next one (0.05 = 5 %)."""

    loss: float = 0.0
    reorder: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("loss", "reorder"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"RtpImpairment.{name} must be in [0, 1), got {value}")


def decode_payload(payload_type: int, payload: bytes) -> bytes | None:
    """8 kHz PCM16 LE for a received payload, or None when Asterisk would drop it."""
    if payload_type == 0:
        return g711.ulaw_decode(payload)
    if payload_type == 8:
        return g711.alaw_decode(payload)
    if payload_type in (10, 11):
        if len(payload) % 2:
            return None
        return np.frombuffer(payload, dtype=">i2").astype("<i2").tobytes()
    return None


class Upsampler2x:
    """8 kHz -> 16 kHz by linear interpolation, continuous across frames (half-sample delay)."""

    def __init__(self) -> None:
        self._prev = 0

    def process(self, pcm: bytes) -> np.ndarray:
        x = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.int32)
        if x.size == 0:
            return np.zeros(0, dtype=np.int32)
        prev = np.concatenate(([self._prev], x[:-1]))
        out = np.empty(x.size * 2, dtype=np.int32)
        out[0::2] = (prev + x) // 2
        out[1::2] = x
        self._prev = int(x[-1])
        return out


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, owner: RtpEndpoint) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.owner.received(data, (str(addr[0]), int(str(addr[1]))))

    def error_received(self, exc: Exception) -> None:
        log.debug("UnicastRTP socket error: %s", exc)


class RtpEndpoint:
    """One UnicastRTP channel's socket. ``sink`` gets what the app sent, as 8 kHz PCM16 LE."""

    def __init__(
        self,
        fmt: str,
        remote: tuple[str, int],
        sink: Callable[[bytes], None],
        rng: random.Random | None = None,
        impairment: RtpImpairment | None = None,
    ) -> None:
        if fmt not in RTP_FORMATS:
            raise ValueError(f"unknown RTP format {fmt!r}")
        self.format = fmt
        self.remote = remote
        self._sink = sink
        self._rng = rng or random.Random()
        self.payload_type, self.rate = RTP_FORMATS[fmt]
        self.ssrc = self._rng.getrandbits(32)
        self._seq = self._rng.getrandbits(16)
        self._lastts = 0
        self._txcore: float | None = None
        self._upsampler = Upsampler2x()
        self._transport: asyncio.DatagramTransport | None = None
        self.local_port = 0
        self.packets_sent = 0
        self.packets_received = 0
        self.packets_lost = 0
        self.packets_reordered = 0
        self.closed = False
        self.impairment: RtpImpairment | None = None
        self._impair_rng = random.Random()
        self._held: bytes | None = None
        self._hold_timer: asyncio.TimerHandle | None = None
        if impairment is not None:
            self.impair(impairment)

    def impair(self, impairment: RtpImpairment | None) -> None:
        """Apply ``impairment`` to the packets sent from now on (None: a perfect network)."""
        self.impairment = impairment
        self._impair_rng = random.Random(impairment.seed if impairment else None)

    async def open(self, host: str) -> int:
        """Bind an even port in 10000-20000 on ``host``; returns it."""
        loop = asyncio.get_running_loop()
        for _ in range(200):
            port = self._rng.randrange(PORT_RANGE[0], PORT_RANGE[1], 2)
            try:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _Protocol(self), local_addr=(host, port)
                )
            except OSError:
                continue
            self._transport = transport
            self.local_port = port
            return port
        raise OSError(f"no free even UDP port in {PORT_RANGE} on {host}")

    # -- Asterisk -> app -----------------------------------------------------------------------
    def deliver(self, pcm: bytes) -> None:
        """A frame from the bridge (8 kHz PCM16 LE): encode it and send one packet."""
        if self.closed or self._transport is None or not pcm:
            return
        if self.format == "ulaw":
            payload, samples = g711.ulaw_encode(pcm), len(pcm) // 2
        elif self.format == "alaw":
            payload, samples = g711.alaw_encode(pcm), len(pcm) // 2
        elif self.format == "slin":
            pcm = pcm[: len(pcm) - len(pcm) % 2]
            payload = np.frombuffer(pcm, dtype="<i2").astype(">i2").tobytes()
            samples = len(pcm) // 2
        else:
            up = self._upsampler.process(pcm)
            payload = np.clip(up, -32768, 32767).astype(">i2").tobytes()
            samples = int(up.size)
        timestamp = self._timestamp(samples)
        packet = build_rtp(self.payload_type, self._seq, timestamp, self.ssrc, payload)
        self._seq = (self._seq + 1) & 0xFFFF
        self.packets_sent += 1
        if self.impairment is None:
            self._transport.sendto(packet, self.remote)
        else:
            self._send_impaired(packet, self.impairment)

    def _send_impaired(self, packet: bytes, impairment: RtpImpairment) -> None:
        assert self._transport is not None
        rng = self._impair_rng
        if rng.random() < impairment.loss:
            self.packets_lost += 1
            return
        if self._held is None and rng.random() < impairment.reorder:
            self._held = packet
            self._hold_timer = asyncio.get_running_loop().call_later(_HOLD_S, self._release)
            return
        self._transport.sendto(packet, self.remote)
        if self._held is not None:
            self.packets_reordered += 1
            self._release()

    def _release(self) -> None:
        held, self._held = self._held, None
        if self._hold_timer is not None:
            self._hold_timer.cancel()
            self._hold_timer = None
        if held is not None and self._transport is not None and not self.closed:
            self._transport.sendto(held, self.remote)

    def _timestamp(self, samples: int) -> int:
        now = time.monotonic()
        if self._txcore is None:
            self._txcore = now
        by_clock = round((now - self._txcore) * self.rate)
        predicted = self._lastts + samples
        self._lastts = predicted if abs(by_clock - predicted) < _MAX_TS_SKEW else by_clock
        return self._lastts & 0xFFFFFFFF

    # -- app -> Asterisk -----------------------------------------------------------------------
    def received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.closed or addr != self.remote:
            return
        try:
            packet = parse_rtp(data)
        except ProtocolError:
            return
        pcm = decode_payload(packet.payload_type, packet.payload)
        if pcm:
            self.packets_received += 1
            self._sink(pcm)

    def close(self) -> None:
        self.closed = True
        if self._hold_timer is not None:
            self._hold_timer.cancel()
            self._hold_timer = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None
