from __future__ import annotations

import builtins
import errno
import io
import os
import shutil
import struct
import tempfile
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# -- the recorder against a reference model ---------------------------------------------------


class ReferenceTimeline:
    """The documented rules on a plain in-memory timeline (no buffer, no file, no fast path): a
    write is taken a window at a time; a piece ending at or before the final point is dropped, one
    straddling it is cut; a later write to the same side and samples replaces the earlier one;
    once the newest audio is a window and a chunk past the final point, everything older than the
    window behind it becomes final. Gaps are silence; closing makes everything final."""

    def __init__(self, window: int, chunk: int) -> None:
        self.window, self.chunk = window, chunk
        self.audio = np.zeros((0, 2), dtype=np.int16)
        self.final = 0
        self.high = 0
        self.dropped = 0

    def write(self, channel: int, samples: Samples, at: int) -> None:
        step = max(1, self.window)
        for offset in range(0, len(samples), step):
            self._place(channel, samples[offset : offset + step], at + offset)

    def _place(self, channel: int, piece: Samples, at: int) -> None:
        end = at + len(piece)
        if end <= self.final:
            self.dropped += len(piece)
            return
        if at < self.final:
            self.dropped += self.final - at
            piece, at = piece[self.final - at :], self.final
        if end > len(self.audio):
            grown = np.zeros((end, 2), dtype=np.int16)
            grown[: len(self.audio)] = self.audio
            self.audio = grown
        self.audio[at:end, channel] = piece
        self.high = max(self.high, end)
        if self.high - self.window - self.final >= self.chunk:
            self.final = self.high - self.window

    def close(self) -> Samples:
        self.final = self.high
        return self.audio[: self.high]


@st.composite
def recorder_scripts(draw: st.DrawFn) -> tuple[dict[str, int], list[tuple[int, str, int, int]]]:
    """Recorder settings and writes: (channel, where, offset, samples); ``where`` says what the
    offset is relative to, resolved against the model's state when the write is made."""
    config = {
        "reorder_window_ms": draw(st.sampled_from([0, 1, 3, 10, 40, 1000])),
        "chunk_ms": draw(st.sampled_from([1, 2, 5, 20, 100])),
        "header_every_ms": draw(st.sampled_from([1, 7, 50, 1000])),
    }
    reach = RATE * (config["reorder_window_ms"] + config["chunk_ms"]) // 1000 + 3
    where = st.sampled_from(["high", "high", "high", "final", "back", "ahead", "jump", "bad"])
    write = st.tuples(
        st.integers(0, 1),
        where,
        st.integers(0, reach),
        st.one_of(st.integers(0, 2 * reach + 3), st.sampled_from([1, FRAME, FRAME + 1])),
    )
    return config, draw(st.lists(write, min_size=1, max_size=40))


def on_disk(path: Path) -> bytes:
    with path.open("rb") as f:  # what a crash would leave (the OS has it, the buffer may not)
        return f.read()


@settings(max_examples=300, deadline=None)
@given(recorder_scripts())
def test_random_writes_match_the_reference_timeline(
    script: tuple[dict[str, int], list[tuple[int, str, int, int]]],
) -> None:
    config, writes = script
    with (
        tempfile.TemporaryDirectory() as tmp,
        StereoWavRecorder(Path(tmp) / "r.wav", RATE, **config) as rec,
    ):
        model = ReferenceTimeline(
            RATE * config["reorder_window_ms"] // 1000,
            max(1, RATE * config["chunk_ms"] // 1000),
        )
        header_every = max(1, RATE * config["header_every_ms"] // 1000)
        capacity = rec.buffer_capacity
        for i, (channel, where, offset, n) in enumerate(writes):
            samples = ramp(n, 1 + 97 * i)  # no zeros: every sample shows whose write it is
            write = rec.write_assistant if channel else rec.write_caller
            if where == "bad":  # refused outright, and changes nothing
                with pytest.raises(MediaError):
                    write(pcm(samples) + b"\x00" if offset % 2 else pcm(samples), -1 - offset)
                continue
            at = {
                "high": model.high,
                "final": model.final,
                "back": max(0, model.high - offset),
                "ahead": model.high + offset,
                "jump": model.high + capacity + 50 * offset,
            }[where]
            write(pcm(samples), at)
            model.write(channel, samples, at)
            assert rec.samples_written == model.final
            assert rec.buffered_samples == model.high - model.final
            assert rec.late_samples_dropped == model.dropped
            assert rec.buffer_capacity == capacity
            data = on_disk(rec.path)
            declared = struct.unpack("<I", data[40:44])[0]
            assert HEADER_BYTES + declared <= len(data)  # never claims more than the file holds
            assert declared // 4 > model.final - header_every  # at most a header period behind
        info = rec.close()
        expected = model.close()
        left, right = read_wav(info.path)
        assert np.array_equal(left, expected[:, 0])
        assert np.array_equal(right, expected[:, 1])
        assert info.bytes == info.path.stat().st_size == HEADER_BYTES + len(expected) * 4
        assert rec.late_samples_dropped == model.dropped


def test_fast_and_checked_paths_agree_on_steady_frames(make_recorder: RecorderFactory) -> None:
    """Contiguous 20 ms frames (the fast path) and the same audio in odd-sized pieces, some late
    and overlapping (the checked path), make the same file."""
    steady, ragged = make_recorder("steady.wav"), make_recorder("ragged.wav")
    audio = ramp(300 * FRAME, 11)
    for i in range(300):
        frame = pcm(audio[i * FRAME : (i + 1) * FRAME])
        steady.write_caller(frame, i * FRAME)
        steady.write_assistant(frame, i * FRAME)
    rng = np.random.default_rng(7)
    cut = np.unique(np.concatenate([[0, len(audio)], rng.integers(0, len(audio), 900)]))
    for lo, hi in zip(cut[:-1], cut[1:], strict=True):
        ragged.write_caller(pcm(audio[lo:hi]), int(lo))
        back = max(0, int(lo) - 3 * FRAME)  # rewrite the same audio a little late: no change
        ragged.write_assistant(pcm(audio[back:hi]), back)
    assert steady.late_samples_dropped == ragged.late_samples_dropped == 0
    assert steady.close().path.read_bytes() == ragged.close().path.read_bytes()


def test_a_refused_write_leaves_the_recording_intact(make_recorder: RecorderFactory) -> None:
    rec = make_recorder()
    rec.write_caller(pcm(ramp(FRAME)), 0)
    for bad in (pcm(ramp(FRAME))[:-1], pcm(ramp(3))[:-1], b"\x00"):  # odd byte counts
        with pytest.raises(MediaError):
            rec.write_caller(bad, FRAME)
        with pytest.raises(MediaError):
            rec.write_assistant(bad, 0)
    rec.write_caller(pcm(ramp(FRAME, 500)), FRAME)
    assert rec.buffer_capacity == 2 * (RATE + RATE // 10)
    left, right = read_wav(rec.close().path)
    assert np.array_equal(left, np.concatenate([ramp(FRAME), ramp(FRAME, 500)]))
    assert not right.any()


def test_steady_frames_never_leave_the_fast_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-order 20 ms frames, one side lagging the other by less than the window, are placed
    without the checked path (correct too, but several times slower), but for the frame that
    needs a compaction, about once a window."""
    checked: list[int] = []
    original = StereoWavRecorder._write

    def counting(self: StereoWavRecorder, channel: int, pcm: bytes, at_sample: int) -> None:
        checked.append(at_sample)
        original(self, channel, pcm, at_sample)

    monkeypatch.setattr(StereoWavRecorder, "_write", counting)
    with StereoWavRecorder(tmp_path / "steady.wav", RATE) as rec:
        frame = pcm(ramp(FRAME))
        for i in range(3000):  # 1 min, across many compactions and header rewrites
            rec.write_assistant(frame, i * FRAME)
            if i >= 30:
                rec.write_caller(frame, (i - 30) * FRAME)  # 0.6 s behind
    assert len(checked) <= 60


class _SmallDisk(io.FileIO):
    """A file on a disk with room for ``room`` bytes: writes past it fail with ENOSPC, as the
    kernel answers (a write that partly fits writes the part that fits)."""

    room = 0

    def write(self, data: Any) -> int:
        left = self.room - self.tell()
        if left <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(memoryview(data).cast("B")[:left])


def small_disk(room: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The recorder's new files get ``room`` bytes of disk (reopening one is not limited)."""
    _SmallDisk.room = room

    def small_disk_open(path: Path, mode: str, buffering: int = -1) -> IO[bytes]:
        if mode == "w+b":
            return io.BufferedRandom(_SmallDisk(path, "w+"), buffering)
        return builtins.open(path, mode, buffering)

    monkeypatch.setattr("callwright.media.recorder.open", small_disk_open, raising=False)


def test_a_full_disk_fails_the_recorder_once_and_close_keeps_what_fits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC injected at the file boundary (tests/callwright/call/test_pipeline_failures.py
    fills a real tmpfs instead)."""
    small_disk(HEADER_BYTES + 8000 * 4, monkeypatch)  # one second of stereo audio
    rec = StereoWavRecorder(tmp_path / "call.wav", RATE, header_every_ms=200)
    frame = ramp(FRAME).tobytes()
    with pytest.raises(MediaError, match="No space left") as failed:
        for i in range(3 * 50):  # three seconds
            rec.write_caller(frame, i * FRAME)
            rec.write_assistant(frame, i * FRAME)
    assert rec.failed is failed.value
    with pytest.raises(MediaError, match="No space left"):  # refused at once from then on
        rec.write_caller(frame, 0)
    info = rec.close()
    assert info.error is failed.value
    assert rec.close() is info
    with wave.open(str(tmp_path / "call.wav")) as wav:
        frames = wav.getnframes()
    assert 0 < frames <= RATE and info.duration_ms == frames * 1000 // RATE
    assert info.bytes == HEADER_BYTES + frames * 4


def test_a_disk_full_only_at_close_still_closes_and_keeps_what_fits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_disk(HEADER_BYTES + 100 * 4, monkeypatch)
    rec = StereoWavRecorder(tmp_path / "call.wav", RATE)
    rec.write_caller(ramp(FRAME).tobytes(), 0)  # held in the reorder window, not written yet
    info = rec.close()
    assert info.error is not None and rec.failed is info.error
    with wave.open(str(tmp_path / "call.wav")) as wav:
        assert wav.getnframes() == 100
