"""fd-3 audio buffering and the half-duplex listening loop (no speech: no recogniser)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from agi.eagi_audio import AudioEnded, CallerAudio, Gone, NoInput, listen_for_turn, open_audio_pipe
from callwright.errors import MediaError
from callwright.speech.endpointing import EndpointingConfig
from callwright.speech.protocols import SttEngine
from callwright.speech.vad import VoiceActivityDetector

FRAME = 320


def frames(count: int, value: int = 0) -> bytes:
    return bytes([value]) * FRAME * count


async def test_frames_come_out_whole_and_in_order_whatever_the_chunks() -> None:
    audio = CallerAudio(8000)
    stream = bytes(range(256)) * 5  # 1280 bytes = 4 frames
    for size in (1, 7, 319, 500, 453):
        audio.feed(stream[:size])
        stream = stream[size:]
    out = [await audio.next_frame(0.01) for _ in range(4)]
    assert b"".join(f for f in out if f) == bytes(range(256)) * 5
    assert await audio.next_frame(0.01) is None


async def test_muting_drops_audio_but_keeps_samples_aligned() -> None:
    audio = CallerAudio(8000)
    audio.feed(b"\x01\x00" * 160 + b"\x02")  # a frame and half a sample
    audio.mute()
    audio.feed(b"\x00" + b"\x03\x00" * 200)  # its other byte, then audio during the prompt
    audio.unmute()
    audio.feed(b"\x04\x00" * 160)
    assert await audio.next_frame(0.01) == b"\x04\x00" * 160
    assert audio.bytes_dropped == 320 + 2 + 400


async def test_the_buffer_keeps_only_the_newest_audio() -> None:
    audio = CallerAudio(8000, max_buffer_s=0.1)  # 5 frames
    for value in range(8):
        audio.feed(frames(1, value))
    got = [await audio.next_frame(0.01) for _ in range(5)]
    assert [f[0] for f in got if f] == [3, 4, 5, 6, 7]


async def test_the_end_of_fd_3_ends_the_audio_after_what_was_buffered() -> None:
    audio = CallerAudio(16000)
    audio.feed(bytes(640 + 10))
    audio.end()
    assert await audio.next_frame(0.01) == bytes(640)
    with pytest.raises(AudioEnded):
        await audio.next_frame(0.01)


def test_only_the_rates_asterisk_sends() -> None:
    with pytest.raises(MediaError):
        CallerAudio(44100)


async def test_reading_a_real_pipe() -> None:
    read_end, write_end = os.pipe()
    audio = CallerAudio(8000)
    transport = await open_audio_pipe(read_end, audio)
    try:
        os.write(write_end, frames(2, 7))
        os.close(write_end)
        assert await audio.next_frame(1.0) == frames(1, 7)
        assert await audio.next_frame(1.0) == frames(1, 7)
        with pytest.raises(AudioEnded):
            await audio.next_frame(1.0)
    finally:
        transport.close()
        os.close(read_end)


async def test_a_plain_file_on_fd_3_is_a_media_error(tmp_path: Path) -> None:
    with (tmp_path / "not-a-pipe").open("wb") as handle:
        with pytest.raises(MediaError, match="not an EAGI audio pipe"):
            await open_audio_pipe(handle.fileno(), CallerAudio())
        assert not handle.closed  # the fd belongs to the caller


async def no_recogniser() -> SttEngine:
    raise AssertionError("silence must not open a recogniser")


def listen(audio: CallerAudio, gone: asyncio.Event, no_input_s: float = 0.3) -> asyncio.Task[
        object]:
    return asyncio.get_running_loop().create_task(listen_for_turn(
        audio, no_recogniser, vad=VoiceActivityDetector(audio.sample_rate),
        endpointing=EndpointingConfig(), grammar=None, no_input_s=no_input_s, gone=gone,
    ))


async def test_silence_frames_end_in_no_input() -> None:
    audio = CallerAudio(8000)
    audio.feed(frames(20))  # 400 ms of digital silence, all at once
    started = time.monotonic()
    assert await listen(audio, asyncio.Event()) == NoInput()
    assert time.monotonic() - started < 0.2  # audio time, not wall time


async def test_no_audio_at_all_also_ends_in_no_input() -> None:
    # Asterisk sends nothing while the caller's side is silent: wall time counts then.
    started = time.monotonic()
    assert await listen(CallerAudio(8000), asyncio.Event()) == NoInput()
    assert 0.25 < time.monotonic() - started < 2.0


async def test_a_hang_up_while_listening() -> None:
    audio, gone = CallerAudio(8000), asyncio.Event()
    task = listen(audio, gone, no_input_s=10)
    await asyncio.sleep(0.05)
    gone.set()
    assert await asyncio.wait_for(task, 1.0) == Gone()
    audio = CallerAudio(8000)
    task = listen(audio, asyncio.Event(), no_input_s=10)
    audio.end()
    assert await asyncio.wait_for(task, 1.0) == Gone()
