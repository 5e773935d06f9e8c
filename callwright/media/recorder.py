"""The call recording: a stereo 16-bit WAV (caller left, assistant right) streamed to disk.

Each side is written at its position on the call's timeline (``at_sample``, samples since call
start, derived by the pipeline from the 20 ms ticks). Audio is held in a small reorder window (1 s
by default) so that either side may arrive a little late or overlap what is already there (a later
write to the same side and samples replaces the earlier one); a gap on a side is silence. Audio
older than the window behind the newest sample is written out in chunks of ``chunk_ms`` (a few KB),
through a file buffer of one header period. Memory is bounded (two windows and that buffer, about
100 KB at 8 kHz), whatever the call length.

The header's sizes are rewritten every ``header_every_ms`` of audio and at :meth:`close`, so a
crash leaves a file whose header is at most that much behind; :func:`repair_wav` fixes such a file
(and one cut in the middle of a sample frame) at start-up. It assumes ``data`` is the last chunk.

A write the disk refuses (``ENOSPC``: disk full, or any other ``OSError``) raises
:class:`MediaError` and leaves the recorder :attr:`~StereoWavRecorder.failed`: later writes raise
at once, and :meth:`~StereoWavRecorder.close` keeps what reached the disk, a readable WAV (the file
closed and repaired), without raising.

Cost and threading: a frame in order is a few comparisons and a slice assignment into the side's
``bytearray``; the sides are interleaved (numpy) once per chunk, and once per header period the file
buffer goes out in one ``write`` and the header in one 40-byte ``pwrite``: a few microseconds on a
local disk, so the recorder is called straight from the event loop. If recordings live on slow or
network storage, give each recorder to a single worker thread (``asyncio.to_thread`` per chunk
would reorder calls); the class is not thread-safe and must be used from one thread at a time.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import numpy as np

from callwright.errors import MediaError

CHANNELS = 2
SAMPLE_BYTES = 2
FRAME_BYTES = CHANNELS * SAMPLE_BYTES  # one stereo sample frame
HEADER_BYTES = 44
_MAX_DATA = 0xFFFFFFFF - 36
_CALLER, _ASSISTANT = 0, 1


@dataclass(frozen=True, slots=True)
class RecordingInfo:
    path: Path
    duration_ms: int
    bytes: int  # file size, header included
    #: Why the recording stopped before the end of the call (None: it did not).
    error: MediaError | None = None


def wav_header(sample_rate: int, data_bytes: int) -> bytes:
    """A 44-byte PCM WAV header for stereo 16-bit audio."""
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + data_bytes,
        b"WAVE",
        b"fmt ",
        16,
        1,  # PCM
        CHANNELS,
        sample_rate,
        sample_rate * FRAME_BYTES,
        FRAME_BYTES,
        SAMPLE_BYTES * 8,
        b"data",
        data_bytes,
    )


class StereoWavRecorder:
    """Streams a stereo WAV of a call to ``path``. Use :meth:`close` (or ``with``) to finish it."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        sample_rate: int,
        *,
        reorder_window_ms: int = 1000,
        chunk_ms: int = 100,
        header_every_ms: int = 1000,
    ) -> None:
        if sample_rate <= 0 or reorder_window_ms < 0 or chunk_ms <= 0 or header_every_ms <= 0:
            raise MediaError("recorder: sample rate, chunk and header period must be positive")
        self.path = Path(path)
        self.sample_rate = sample_rate
        self._window = sample_rate * reorder_window_ms // 1000
        self._chunk = max(1, sample_rate * chunk_ms // 1000)
        self._header_every = max(1, sample_rate * header_every_ms // 1000)
        self._piece = max(1, self._window) * SAMPLE_BYTES  # the most bytes _place takes at once
        # A PCM16 LE buffer per channel holds timeline samples [_base, _base + capacity); the live
        # part is [_flushed, _high). The numpy views (for write-out) also pin the buffers' size.
        self._capacity = 2 * (self._window + self._chunk)  # compaction about once a window
        self._left = bytearray(self._capacity * SAMPLE_BYTES)
        self._right = bytearray(self._capacity * SAMPLE_BYTES)
        self._views = (np.frombuffer(self._left, "<i2"), np.frombuffer(self._right, "<i2"))
        self._stage = np.empty((self._chunk, CHANNELS), "<i2")  # a chunk, interleaved
        self._base = self._header_at = 0
        self._flushed = 0  # samples per channel already handed to the file
        self._high = 0  # end of the newest audio seen on either side
        self._limit = self._out_at = 0  # set by _limits()
        self._limits()
        self.late_samples_dropped = 0
        #: The write the disk refused; the recorder takes no more audio once it is set.
        self.failed: MediaError | None = None
        self._info: RecordingInfo | None = None
        period = (self._header_every + self._chunk) * FRAME_BYTES  # so one write(2) per period
        buffering = min(max(io.DEFAULT_BUFFER_SIZE, period), 1 << 16)
        self._file: BinaryIO = open(self.path, "w+b", buffering=buffering)  # closed in close()
        try:
            self._file.write(wav_header(sample_rate, 0))
            self._file.flush()
        except OSError as exc:
            self._file.close()
            raise MediaError(f"recorder: cannot write {self.path}: {exc}") from exc

    # -- public API -------------------------------------------------------------------------
    # Both writers inline _place's common case: one piece (an even byte count, at most _piece)
    # at or after _flushed, ending in the buffer (by _limit). All else takes _write.

    def write_caller(self, pcm: bytes, at_sample: int) -> None:
        """Caller audio (PCM16 LE mono) that starts ``at_sample`` samples after call start."""
        n = len(pcm)
        end = at_sample + (n >> 1)
        if self._flushed <= at_sample and end <= self._limit and 0 < n <= self._piece and not n & 1:
            lo = (at_sample - self._base) << 1
            self._left[lo : lo + n] = pcm
            if end > self._high:
                self._high = end
                if end >= self._out_at:
                    self._write_out(end - self._window)
        else:
            self._write(_CALLER, pcm, at_sample)

    def write_assistant(self, pcm: bytes, at_sample: int) -> None:
        """Assistant audio (PCM16 LE mono) that starts ``at_sample`` samples after call start."""
        n = len(pcm)
        end = at_sample + (n >> 1)
        if self._flushed <= at_sample and end <= self._limit and 0 < n <= self._piece and not n & 1:
            lo = (at_sample - self._base) << 1
            self._right[lo : lo + n] = pcm
            if end > self._high:
                self._high = end
                if end >= self._out_at:
                    self._write_out(end - self._window)
        else:
            self._write(_ASSISTANT, pcm, at_sample)

    @property
    def samples_written(self) -> int:
        """Stereo sample frames handed to the file so far."""
        return self._flushed

    @property
    def buffered_samples(self) -> int:
        """Stereo sample frames held in memory, waiting for the reorder window to pass."""
        return self._high - self._flushed

    @property
    def buffer_capacity(self) -> int:
        """Size of the in-memory buffer in stereo sample frames (fixed for the recorder's life)."""
        return len(self._left) // SAMPLE_BYTES

    def close(self) -> RecordingInfo:
        """Write out everything held, fix the header and close the file. Safe to call twice.

        After a failed write (:attr:`failed`), or if this last write fails, the file is closed
        and repaired to what reached the disk, and the info carries the error (no exception).
        """
        if self._info is not None:
            return self._info
        try:
            if self.failed is None:
                self._write_out(self._high)
                self._write_header()
        except MediaError:
            pass  # self.failed is set: the part on disk is kept below
        finally:
            self._limit = -1  # every later write takes _write, which refuses it
            try:
                self._file.close()  # the descriptor is closed even when the flush fails
            except OSError as exc:
                self._fail(exc)
        if self.failed is None:
            self._info = RecordingInfo(
                self.path,
                self._flushed * 1000 // self.sample_rate,
                HEADER_BYTES + self._flushed * FRAME_BYTES,
            )
            return self._info
        size = HEADER_BYTES
        try:
            repair_wav(self.path)
            size = self.path.stat().st_size
        except (MediaError, OSError):
            pass  # not even the header reached the disk: nothing to keep
        frames = max(0, size - HEADER_BYTES) // FRAME_BYTES
        self._info = RecordingInfo(
            self.path, frames * 1000 // self.sample_rate, size, error=self.failed
        )
        return self._info

    def __enter__(self) -> StereoWavRecorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------------

    def _limits(self) -> None:
        """The fast path's bounds: call whenever _flushed or _base moves. (A piece that fits the
        buffer needs no jump: writing out after placing it gives the same file.)"""
        self._limit = self._base + self._capacity
        self._out_at = self._flushed + self._window + self._chunk  # _high here: a chunk is due

    def _fail(self, exc: OSError) -> MediaError:
        if self.failed is None:
            self.failed = MediaError(f"recorder: cannot write {self.path}: {exc}")
            self.failed.__cause__ = exc
            self._limit = -1  # every later write takes _write, which refuses it
        return self.failed

    def _write(self, channel: int, pcm: bytes, at_sample: int) -> None:
        if self.failed is not None:
            raise self.failed
        if self._limit < 0:  # set by close()
            raise MediaError("recorder: write after close")
        if len(pcm) % SAMPLE_BYTES:
            raise MediaError(f"recorder: PCM16 needs an even byte count, got {len(pcm)}")
        if at_sample < 0:
            raise MediaError(f"recorder: negative position {at_sample}")
        data = memoryview(pcm).cast("B")
        for offset in range(0, len(data), self._piece):  # pieces never exceed the window
            self._place(channel, data[offset : offset + self._piece], at_sample + offset // 2)

    def _place(self, channel: int, data: memoryview, at: int) -> None:
        end = at + len(data) // SAMPLE_BYTES
        if end <= self._flushed:
            self.late_samples_dropped += end - at
            return
        if at < self._flushed:
            cut = self._flushed - at
            self.late_samples_dropped += cut
            data, at = data[cut * SAMPLE_BYTES :], self._flushed
        # A jump far ahead (a long gap on the timeline): what is older than the window (but not
        # this piece, if there is no window) is final now, and must leave the buffer.
        jump = end - self._flushed > self._capacity - self._chunk
        if jump:
            self._write_out(min(at, end - self._window))
        if end > self._base + self._capacity:
            self._compact()
        lo = (at - self._base) * SAMPLE_BYTES
        (self._left, self._right)[channel][lo : lo + len(data)] = data
        self._high = max(self._high, end)
        if jump or self._high - self._window - self._flushed >= self._chunk:
            self._write_out(self._high - self._window)

    def _compact(self) -> None:
        """Move the live part [_flushed, _high) to the start of the buffer and zero the rest."""
        start, live = self._flushed - self._base, max(self._high - self._flushed, 0)
        for view in self._views:
            view[:live] = view[start : start + live]  # numpy copes with the overlap
            view[live:] = 0
        self._base = self._flushed
        self._limits()

    def _write_out(self, until: int) -> None:
        """Hand timeline samples [_flushed, until) to the file (silence past the buffer)."""
        flushed = self._flushed
        if until <= flushed:
            return
        if until * FRAME_BYTES > _MAX_DATA:
            raise MediaError(f"recorder: {self.path} would exceed the 4 GB WAV limit")
        in_buffer = min(until, self._base + self._capacity)
        try:
            if in_buffer > flushed:
                lo, hi, k = flushed - self._base, in_buffer - self._base, in_buffer - flushed
                stereo = self._stage[:k] if k <= self._chunk else np.empty((k, CHANNELS), "<i2")
                stereo[:, 0] = self._views[_CALLER][lo:hi]
                stereo[:, 1] = self._views[_ASSISTANT][lo:hi]
                self._file.write(stereo.data)
            gap = until - max(in_buffer, flushed)
            silence = bytes(min(gap, self._window + self._chunk) * FRAME_BYTES)
            while gap > 0:
                part = min(gap * FRAME_BYTES, len(silence))
                self._file.write(silence[:part])
                gap -= part // FRAME_BYTES
        except OSError as exc:
            raise self._fail(exc) from exc
        self._flushed = until
        self._high = max(self._high, until)
        if until >= self._base + self._capacity:
            self._base = until
            for view in self._views:
                view[:] = 0
        self._limits()
        if until - self._header_at >= self._header_every:
            self._write_header()

    def _write_header(self) -> None:
        """Flush the data, then set the RIFF and data sizes to cover it (one 40-byte pwrite)."""
        try:
            self._file.flush()
            header = wav_header(self.sample_rate, self._flushed * FRAME_BYTES)
            os.pwrite(self._file.fileno(), header[4:], 4)
        except OSError as exc:
            raise self._fail(exc) from exc
        self._header_at = self._flushed


def repair_wav(path: str | os.PathLike[str]) -> bool:
    """Make a WAV left by a crash readable: set the RIFF and data sizes from the file length and cut
    a trailing partial sample frame. Returns True if the file was changed, False if it was already
    consistent. Raises :class:`MediaError` if it is not a PCM WAV with a fmt and a data chunk."""
    path = Path(path)
    try:
        with open(path, "r+b") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(0)
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                raise MediaError(f"{path}: not a RIFF/WAVE file")
            block_align = 0
            pos = 12
            while True:
                f.seek(pos)
                chunk = f.read(8)
                if len(chunk) < 8:
                    raise MediaError(f"{path}: no data chunk")
                cid, csize = struct.unpack("<4sI", chunk)
                if cid == b"fmt ":
                    fmt = f.read(16)
                    if len(fmt) < 16:
                        raise MediaError(f"{path}: truncated fmt chunk")
                    block_align = struct.unpack("<H", fmt[12:14])[0]
                elif cid == b"data":
                    break
                pos += 8 + csize + (csize & 1)
            if block_align <= 0:
                raise MediaError(f"{path}: no usable fmt chunk before the data")
            data_start = pos + 8
            declared = csize
            available = size - data_start
            data_bytes = min(available - available % block_align, _MAX_DATA)
            riff = struct.unpack("<I", head[4:8])[0]
            consistent = declared == data_bytes and riff == data_start - 8 + data_bytes
            if consistent and size == data_start + data_bytes:
                return False
            f.truncate(data_start + data_bytes)
            f.seek(4)
            f.write(struct.pack("<I", data_start - 8 + data_bytes))
            f.seek(pos + 4)
            f.write(struct.pack("<I", data_bytes))
            return True
    except OSError as exc:
        raise MediaError(f"cannot repair {path}: {exc}") from exc
