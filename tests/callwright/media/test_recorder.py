from __future__ import annotations

import shutil
import struct
import wave
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from callwright.errors import MediaError
from callwright.media.recorder import HEADER_BYTES, RecordingInfo, StereoWavRecorder, repair_wav

RATE = 8000
FRAME = 160  # samples per 20 ms

Samples = npt.NDArray[np.int16]
RecorderFactory = Callable[..., StereoWavRecorder]


@pytest.fixture
def make_recorder(tmp_path: Path) -> Iterator[RecorderFactory]:
    made: list[StereoWavRecorder] = []

    def make(name: str = "call.wav", **kwargs: int) -> StereoWavRecorder:
        rec = StereoWavRecorder(tmp_path / name, RATE, **kwargs)
        made.append(rec)
        return rec

    yield make
    for rec in made:
        rec.close()


def ramp(n: int, start: int = 1) -> Samples:
    return (np.arange(n, dtype=np.int64) % 30000 + start).astype(np.int16)


def pcm(samples: Samples) -> bytes:
    return samples.astype("<i2").tobytes()


def read_wav(path: Path) -> tuple[Samples, Samples]:
    with wave.open(str(path), "rb") as w:
        assert w.getnchannels() == 2
        assert w.getsampwidth() == 2
        assert w.getframerate() == RATE
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    return data[:, 0], data[:, 1]


def test_sides_land_at_their_sample_offsets(make_recorder: RecorderFactory) -> None:
    rec = make_recorder()
    caller, assistant = ramp(1000, 1), ramp(500, 5000)
    rec.write_caller(pcm(caller), 800)
    rec.write_assistant(pcm(assistant), 1600)
    info = rec.close()
    left, right = read_wav(info.path)
    assert len(left) == 2100
    assert np.array_equal(left[800:1800], caller)
    assert not left[:800].any() and not left[1800:].any()
    assert np.array_equal(right[1600:2100], assistant)
    assert not right[:1600].any()
    assert info == RecordingInfo(info.path, 2100 * 1000 // RATE, HEADER_BYTES + 2100 * 4)
    assert info.path.stat().st_size == info.bytes


def test_framewise_stream_with_missing_stretches(make_recorder: RecorderFactory) -> None:
    rec = make_recorder(reorder_window_ms=200, chunk_ms=40)
    expected = np.zeros((250 * FRAME, 2), dtype=np.int16)
    for i in range(250):  # 5 s: caller talks in 0-2 s, assistant in 3-5 s, nobody 2-3 s
        frame = ramp(FRAME, i)
        if i < 100:
            rec.write_caller(pcm(frame), i * FRAME)
            expected[i * FRAME : (i + 1) * FRAME, 0] = frame
        elif i >= 150:
            rec.write_assistant(pcm(frame), i * FRAME)
            expected[i * FRAME : (i + 1) * FRAME, 1] = frame
    left, right = read_wav(rec.close().path)
    assert np.array_equal(left, expected[:, 0])
    assert np.array_equal(right, expected[:, 1])


def test_late_side_within_the_window_is_placed_and_older_is_dropped(
    make_recorder: RecorderFactory,
) -> None:
    rec = make_recorder(reorder_window_ms=1000, chunk_ms=100)
    for i in range(150):  # assistant runs 3 s ahead of anything from the caller
        rec.write_assistant(pcm(ramp(FRAME, 7)), i * FRAME)
    late = ramp(FRAME, 100)
    rec.write_caller(pcm(late), 130 * FRAME)  # 0.4 s behind the newest audio: kept
    rec.write_caller(pcm(late), 10 * FRAME)  # 2.8 s behind: already on disk, dropped
    straddle = ramp(2 * FRAME, 200)  # half of it before the flushed point
    flushed = rec.samples_written
    rec.write_caller(pcm(straddle), flushed - FRAME)
    assert rec.late_samples_dropped == 2 * FRAME
    left, right = read_wav(rec.close().path)
    assert np.array_equal(left[130 * FRAME : 131 * FRAME], late)
    assert not left[10 * FRAME : 11 * FRAME].any()
    assert np.array_equal(left[flushed : flushed + FRAME], straddle[FRAME:])
    assert np.all(right == 7 + np.arange(len(right)) % FRAME)


def test_overlap_on_one_side_replaces_and_sides_are_independent(
    make_recorder: RecorderFactory,
) -> None:
    rec = make_recorder()
    rec.write_caller(pcm(ramp(400, 1)), 0)
    rec.write_caller(pcm(ramp(100, 900)), 200)  # overlaps the first write
    rec.write_assistant(pcm(ramp(400, 500)), 100)  # both sides talk at once
    left, right = read_wav(rec.close().path)
    assert np.array_equal(left[:200], ramp(200, 1))
    assert np.array_equal(left[200:300], ramp(100, 900))
    assert np.array_equal(left[300:400], ramp(400, 1)[300:])
    assert np.array_equal(right[100:500], ramp(400, 500))


def test_jump_ahead_and_big_writes_stay_bounded(make_recorder: RecorderFactory) -> None:
    rec = make_recorder(reorder_window_ms=500, chunk_ms=50)
    capacity = rec.buffer_capacity
    big = ramp(5 * RATE, 3)  # 5 s in one write
    rec.write_caller(pcm(big), 0)
    rec.write_assistant(pcm(ramp(FRAME, 9)), 600 * RATE)  # 10 minutes later
    assert rec.buffer_capacity == capacity
    assert rec.buffered_samples <= RATE // 2 + FRAME
    left, right = read_wav(rec.close().path)
    assert len(left) == 600 * RATE + FRAME
    assert np.array_equal(left[: 5 * RATE], big)
    assert not left[5 * RATE :].any()
    assert not right[: 600 * RATE].any()
    assert np.array_equal(right[600 * RATE :], ramp(FRAME, 9))


def test_ten_minutes_keep_memory_bounded(make_recorder: RecorderFactory) -> None:
    rec = make_recorder()
    capacity = rec.buffer_capacity
    caller_lag = 10  # caller frames arrive 200 ms after the assistant's
    most_buffered = 0
    frames = 10 * 60 * 50
    frame = pcm(ramp(FRAME, 1))
    for i in range(frames):
        rec.write_assistant(frame, i * FRAME)
        if i >= caller_lag:
            rec.write_caller(frame, (i - caller_lag) * FRAME)
        most_buffered = max(most_buffered, rec.buffered_samples)
    for i in range(frames - caller_lag, frames):
        rec.write_caller(frame, i * FRAME)
    assert rec.buffer_capacity == capacity <= 3 * RATE  # fixed, a few seconds at most
    assert most_buffered <= RATE + RATE // 10 + FRAME  # window + one chunk + one frame
    assert rec.late_samples_dropped == 0
    info = rec.close()
    assert info.duration_ms == 600_000
    assert info.path.stat().st_size == HEADER_BYTES + frames * FRAME * 4


def test_crash_leaves_a_file_that_repair_makes_readable(
    make_recorder: RecorderFactory, tmp_path: Path
) -> None:
    rec = make_recorder(header_every_ms=1000)
    audio = ramp(RATE * 5 // 2)
    for i in range(0, len(audio), FRAME):  # 2.5 s
        rec.write_caller(pcm(audio[i : i + FRAME]), i)
    crashed = tmp_path / "crashed.wav"
    shutil.copyfile(rec.path, crashed)  # what the disk holds if the process died now
    declared = struct.unpack("<I", crashed.read_bytes()[40:44])[0]
    assert declared >= RATE * 4  # the header was rewritten after the first second
    with crashed.open("ab") as f:
        f.write(b"\x01\x02\x03")  # a torn last write: half a sample frame
    assert repair_wav(crashed) is True
    left, _ = read_wav(crashed)
    assert len(left) >= RATE
    assert np.array_equal(left, audio[: len(left)])
    assert crashed.stat().st_size == HEADER_BYTES + len(left) * 4
    assert repair_wav(crashed) is False


def test_repair_fixes_a_header_claiming_more_than_the_file(make_recorder: RecorderFactory) -> None:
    rec = make_recorder()
    rec.write_caller(pcm(ramp(1000)), 0)
    path = rec.close().path
    assert repair_wav(path) is False
    with path.open("r+b") as f:
        f.truncate(HEADER_BYTES + 600 * 4 + 2)  # cut inside a sample frame
    with wave.open(str(path), "rb") as w:
        assert w.getnframes() == 1000  # the header promises more than the file holds
    assert repair_wav(path) is True
    left, _ = read_wav(path)
    assert np.array_equal(left, ramp(600))


def test_repair_refuses_a_file_that_is_not_a_wav(tmp_path: Path) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not a wave file at all, no header")
    with pytest.raises(MediaError):
        repair_wav(junk)
    riff_without_data = tmp_path / "nodata.wav"
    riff_without_data.write_bytes(b"RIFF\x04\x00\x00\x00WAVE")
    with pytest.raises(MediaError):
        repair_wav(riff_without_data)


def test_misuse_raises_media_error(make_recorder: RecorderFactory) -> None:
    rec = make_recorder()
    with pytest.raises(MediaError):
        rec.write_caller(b"\x00\x01\x02", 0)
    with pytest.raises(MediaError):
        rec.write_assistant(b"\x00\x00", -1)
    first = rec.close()
    assert rec.close() == first
    with pytest.raises(MediaError):
        rec.write_caller(b"\x00\x00", 0)


def test_context_manager_closes_with_a_valid_header(tmp_path: Path) -> None:
    with StereoWavRecorder(tmp_path / "ctx.wav", RATE) as rec:
        rec.write_assistant(pcm(ramp(FRAME)), 0)
    _, right = read_wav(tmp_path / "ctx.wav")
    assert np.array_equal(right, ramp(FRAME))


def test_audio_is_written_out_in_chunks_not_frame_by_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Steady 20 ms frames on both sides: one write per 100 ms chunk, not one per frame."""
    calls: list[int] = []
    original = StereoWavRecorder._write_out

    def counting(self: StereoWavRecorder, until: int) -> None:
        calls.append(until)
        original(self, until)

    monkeypatch.setattr(StereoWavRecorder, "_write_out", counting)
    recorder = StereoWavRecorder(tmp_path / "chunks.wav", 8000)
    frame = np.ones(160, dtype="<i2").tobytes()
    for i in range(500):  # 10 s
        recorder.write_caller(frame, i * 160)
        recorder.write_assistant(frame, i * 160)
    assert len(calls) <= 100
    info = recorder.close()
    assert info.duration_ms == 10_000
