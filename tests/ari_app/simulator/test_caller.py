"""SimulatedCaller: real-time speech, what it heard, waiting helpers, DTMF."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from ari_app.simulator.caller import SimulatedCaller
from tests.ari_app.simulator.media_helpers import tone


def wired(caller: SimulatedCaller) -> tuple[list[tuple[float, bytes]], list[str], list[int]]:
    sent: list[tuple[float, bytes]] = []
    digits: list[str] = []
    hangups: list[int] = []

    def hangup() -> None:
        hangups.append(1)
        caller.close()

    caller.connect(
        send=lambda pcm: sent.append((time.monotonic(), pcm)),
        dtmf=digits.append,
        hangup=hangup,
    )
    return sent, digits, hangups


async def test_say_streams_in_real_time() -> None:
    caller = SimulatedCaller()
    sent, _, _ = wired(caller)
    start = time.monotonic()
    await caller.say(tone(300, 205))
    elapsed = time.monotonic() - start
    assert 0.19 < elapsed < 0.3
    assert [len(p) for _, p in sent] == [320] * 10 + [80]
    gaps = [b[0] - a[0] for a, b in zip(sent, sent[1:], strict=False)]
    assert all(0.01 < g < 0.035 for g in gaps)


async def test_silence_sends_nothing_unless_phone_like() -> None:
    quiet = SimulatedCaller()
    sent, _, _ = wired(quiet)
    await quiet.silence(100)
    assert sent == []
    phone = SimulatedCaller(phone_like=True)
    sent_phone, _, _ = wired(phone)
    await phone.silence(120)
    phone.close()
    assert 4 <= len(sent_phone) <= 7
    assert all(p == bytes(320) for _, p in sent_phone)


async def test_heard_audio_timeline_and_segments(tmp_path: Path) -> None:
    caller = SimulatedCaller()
    wired(caller)
    speech = tone(400, 100)
    for i in range(5):
        caller.deliver(speech[i * 320 : (i + 1) * 320])
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)
    caller.deliver(speech[:320])
    heard = caller.heard_pcm()
    assert len(heard) >= (0.4 * 8000) * 2
    segments = caller.heard_segments()
    assert len(segments) == 2
    assert segments[0].duration == pytest.approx(0.1, abs=0.03)
    assert segments[1].start - segments[0].end > 0.25
    caller.save_wav(tmp_path / "heard.wav")
    assert (tmp_path / "heard.wav").stat().st_size == 44 + len(heard)


async def test_wait_helpers() -> None:
    caller = SimulatedCaller()
    wired(caller)
    with pytest.raises(TimeoutError):
        await caller.wait_for_speech(timeout=0.05)

    async def speak() -> None:
        await asyncio.sleep(0.05)
        pcm = tone(500, 200)
        for i in range(10):
            caller.deliver(pcm[i * 320 : (i + 1) * 320])
            await asyncio.sleep(0.02)

    task = asyncio.get_running_loop().create_task(speak())
    first = await caller.wait_for_speech(timeout=1)
    assert 0.03 < first < 0.2
    ended = await caller.wait_until_quiet(150, timeout=2)
    assert ended - first == pytest.approx(0.2, abs=0.06)
    await task


async def test_dtmf_and_hangup() -> None:
    caller = SimulatedCaller()
    _, digits, hangups = wired(caller)
    with pytest.raises(ValueError):
        caller.send_dtmf("1x")
    start = time.monotonic()
    await caller.send_dtmf("12#", digit_ms=50, gap_ms=20)
    assert digits == ["1", "2", "#"]
    assert 0.2 < time.monotonic() - start < 0.4
    await caller.hangup()
    assert hangups == [1] and not caller.connected
    caller.deliver(tone(400, 20))
    assert caller.heard_frames() == [], "a dead line hears nothing"
