"""Whole calls over each media transport: the real call service against the PBX simulator, real
AudioSocket (TCP), WebSocket media and RTP on 127.0.0.1, real Vosk and espeak-ng, SQLite.

Over AudioSocket and WebSocket media at slin16 the call stays at 16 kHz from the PBX to the
recogniser and in the recording. Over RTP, 5 % of the caller's packets are lost and 5 % reordered
on the way, and the call is still understood and recorded.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
import wave
from typing import TypeVar

import aiohttp
import numpy as np
import pytest

from ari_app.ari.rest import AriRestClient
from ari_app.demo import DEMO_CALLER, DEMO_NUMBER, DEMO_PHRASES
from ari_app.demo_caller import ConversationReport, converse, heard_speech_after, synthesize_phrases
from ari_app.media_legs import MediaChoice, media_choice
from ari_app.simulator.calls import SimulatedCall
from ari_app.simulator.media_audiosocket import AudioSocketEndpoint
from ari_app.simulator.media_rtp import RtpEndpoint, RtpImpairment
from ari_app.simulator.server import PbxSimulator
from callwright.config import load_config
from callwright.speech.vosk_stt import VoskSttEngine
from callwright.store.calls import Call
from tests.ari_app.conftest import PASSWORD, Harness, MakeHarness

T = TypeVar("T")


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def transport_env(transport: str, fmt: str) -> dict[str, str]:
    env = {"CALLWRIGHT_MEDIA_TRANSPORT": transport, "CALLWRIGHT_MEDIA_FORMAT": fmt}
    if transport == "audiosocket":
        env["CALLWRIGHT_MEDIA_AUDIOSOCKET_PORT"] = str(free_tcp_port())
    return env


async def media_endpoint(sim: PbxSimulator, kind: type[T], within_s: float = 5.0) -> T:
    """The simulator's side of the call's media channel, once the app has created it."""
    deadline = time.monotonic() + within_s
    while True:
        for channel in list(sim.pbx.channels.values()):
            if isinstance(channel.media, kind):
                return channel.media
        assert time.monotonic() < deadline, f"no {kind.__name__} media channel"
        await asyncio.sleep(0.002)


async def place_demo_call(h: Harness) -> SimulatedCall:
    return await h.sim.place_call(
        dialed=DEMO_NUMBER, caller_number=DEMO_CALLER, caller_name="E2E", app=h.settings.ari.app
    )


async def talk(h: Harness, call: SimulatedCall, placed: float) -> ConversationReport:
    audio = await synthesize_phrases(await h.caller_voice(), DEMO_PHRASES, "ko")
    return await converse(call, DEMO_PHRASES, audio, placed_at=placed, turn_timeout_s=25)


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0


async def assert_understood_and_recorded(h: Harness, report: ConversationReport, rate: int) -> Call:
    assert report.greeting_heard_at is not None
    assert all(turn.reply_heard_at is not None for turn in report.turns)
    assert report.ended_by_assistant
    call = await h.closed_call()
    assert (call.status, call.end_reason) == ("completed", "demo_booked")
    turns = await h.calls.turns(call.id)
    assert [t.speaker for t in turns] == ["assistant", "caller", "assistant", "caller", "assistant"]
    assert [t.text for t in turns if t.speaker == "caller"] == ["안녕하세요", "네"]
    assert call.recording_path is not None and call.duration_ms is not None
    with wave.open(call.recording_path) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, rate)
        stereo = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    assert abs(len(stereo) / rate * 1000 - call.duration_ms) < 1500
    said = int((report.turns[0].said_at - report.placed_at) * rate)
    assert rms(stereo[said:said + rate // 2, 0]) > 300, "the caller's 안녕하세요 is on the left"
    assert rms(stereo[:, 1]) > 300, "the assistant's side is silent"
    return call


async def assert_nothing_left_on_the_pbx(h: Harness) -> None:
    async with aiohttp.ClientSession() as session:
        rest = AriRestClient(session, h.sim.ari_url, h.settings.ari.username, PASSWORD)
        deadline = time.monotonic() + 3.0
        while await rest.list_channels() or await rest.list_bridges():
            assert time.monotonic() < deadline, "channels or bridges left behind"
            await asyncio.sleep(0.05)


async def recogniser_rates(h: Harness) -> set[int]:
    """Sample rates the call's recognisers were opened at (the idle pool, after the call)."""
    stt = await h.service.speech.stt_for(None)
    assert isinstance(stt, VoskSttEngine)
    return {rate for rate, _ in stt.pool.keys()}


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["audiosocket", "websocket"])
async def test_the_demo_call_at_16_khz(make_harness: MakeHarness, transport: str) -> None:
    h = await make_harness(env=transport_env(transport, "slin16"))
    placed = time.monotonic()
    call = await place_demo_call(h)
    report = await talk(h, call, placed)
    row = await assert_understood_and_recorded(h, report, rate=16000)
    assert await recogniser_rates(h) == {16000}, "Vosk was fed 16 kHz audio"
    events = {e.kind: e.detail for e in await h.calls.events(row.id)}
    name = str(events["media_connected"]["media_channel"])
    assert name.startswith({"audiosocket": "AudioSocket/", "websocket": "WebSocket/"}[transport])
    await assert_nothing_left_on_the_pbx(h)
    if transport == "audiosocket":
        assert h.service.audiosocket is not None and h.service.audiosocket.accepted == 1


@pytest.mark.slow
async def test_an_rtp_call_with_loss_and_reordering_is_understood_and_recorded(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness()
    placed = time.monotonic()
    call = await place_demo_call(h)
    endpoint = await media_endpoint(h.sim, RtpEndpoint)
    endpoint.impair(RtpImpairment(loss=0.05, reorder=0.05, seed=7))
    report = await talk(h, call, placed)
    await assert_understood_and_recorded(h, report, rate=8000)
    assert await recogniser_rates(h) == {8000}
    sent = endpoint.packets_sent
    assert sent > 50, "the caller spoke"
    assert 0.02 < endpoint.packets_lost / sent < 0.1
    assert endpoint.packets_reordered >= 3


@pytest.mark.slow
async def test_an_audiosocket_peer_that_half_closes_ends_the_call_cleanly(
    make_harness: MakeHarness,
) -> None:
    h = await make_harness(env=transport_env("audiosocket", "slin16"))
    placed = time.monotonic()
    call = await place_demo_call(h)
    endpoint = await media_endpoint(h.sim, AudioSocketEndpoint)
    await heard_speech_after(call.caller, placed, within_s=10)
    endpoint.half_close()
    async with asyncio.timeout(5):
        await call.ended()
    row = await h.closed_call()
    assert row.status == "completed"
    assert row.end_reason == "media_closed: audiosocket: peer closed the connection"
    assert row.ended_at is not None and row.duration_ms is not None
    await assert_nothing_left_on_the_pbx(h)


def test_each_assistant_can_choose_its_transport() -> None:
    media = load_config(None, env={}).media
    assert media_choice(media) == MediaChoice("rtp", "ulaw")
    assert media_choice(media, {"transport": "audiosocket", "format": "slin16"}) == (
        MediaChoice("audiosocket", "slin16")
    )
    assert media_choice(media, {"transport": "websocket"}) == MediaChoice("websocket", "ulaw")
    # RTP cannot carry 16 kHz back to Asterisk: 8 kHz instead of silence.
    assert media_choice(media, {"format": "slin16"}) == MediaChoice("rtp", "slin")
    # A typo in one assistant falls back to the server default rather than failing its calls.
    assert media_choice(media, {"transport": "sip", "format": "opus"}) == MediaChoice("rtp", "ulaw")
    server16 = load_config(None, env={"CALLWRIGHT_MEDIA_TRANSPORT": "websocket",
                                      "CALLWRIGHT_MEDIA_FORMAT": "slin16"}).media
    assert media_choice(server16) == MediaChoice("websocket", "slin16")
    assert media_choice(server16, {"transport": "rtp"}) == MediaChoice("rtp", "slin")


class SequenceReceiver(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.sequences: list[int] = []

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.sequences.append(int.from_bytes(data[2:4], "big"))


async def test_the_simulator_impairment_is_seeded_and_near_its_rates() -> None:
    got: list[list[int]] = []
    for _ in range(2):
        loop = asyncio.get_running_loop()
        transport, receiver = await loop.create_datagram_endpoint(
            SequenceReceiver, local_addr=("127.0.0.1", 0)
        )
        received = receiver.sequences
        port = transport.get_extra_info("sockname")[1]
        endpoint = RtpEndpoint("ulaw", ("127.0.0.1", port), lambda pcm: None, random.Random(1),
                               impairment=RtpImpairment(loss=0.05, reorder=0.05, seed=3))
        await endpoint.open("127.0.0.1")
        try:
            for _ in range(50):
                for _ in range(20):
                    endpoint.deliver(bytes(320))
                await asyncio.sleep(0.002)
            await asyncio.sleep(0.1)
        finally:
            endpoint.close()
            transport.close()
        got.append(received)
        assert 20 < 1000 - len(received) < 80, "about 5 % lost"
        backwards = sum(1 for a, b in zip(received, received[1:], strict=False)
                        if (b - a) & 0xFFFF > 0x8000)
        assert 20 < backwards < 80, "about 5 % reordered"
        assert len(set(received)) == len(received), "no duplicates"
    assert got[0] == got[1], "the same seed gives the same run"
    with pytest.raises(ValueError):
        RtpImpairment(loss=1.0)
