"""The call recording: a stereo 16-bit WAV (caller left, assistant right) streamed to disk.

Each side is written at its position on the call's timeline (``at_sample``, samples since call
start, derived by the pipeline from the 20 ms ticks). Audio is held in a small reorder window (1 s
by default) so that either side may arrive a little late or overlap what is already there (a later
write to the same side and samples replaces the earlier one); a gap on a side is silence. Audio
older than the window behind the newest sample is written out in chunks of ``chunk_ms`` (a few KB),
through a buffered file. Memory is bounded (about two windows), whatever the call length.

The header's sizes are rewritten every ``header_every_ms`` of audio and at :meth:`close`, so a
crash leaves a file whose header is at most that much behind; :func:`repair_wav` fixes such a file
(and one cut in the middle of a sample frame) at start-up. It assumes ``data`` is the last chunk.

Threading: every write is a small buffered ``write`` into the page cache plus, once a second, two
4-byte header rewrites (seek + write + flush). That is a few microseconds on a local disk, so the
recorder is called straight from the event loop. If recordings live on slow or network storage,
give each recorder to a single worker thread (``asyncio.to_thread`` per chunk would reorder calls);
the class is not thread-safe and must be used from one thread at a time.
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np
import numpy.typing as npt

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
        # The buffer holds timeline samples [_base, _base + capacity); [_flushed, _high) is live.
        self._capacity = 2 * (self._window + self._chunk)  # compaction about once a window
        self._buf: npt.NDArray[np.int16] = np.zeros((self._capacity, CHANNELS), dtype=np.int16)
        self._base = 0
        self._flushed = 0  # samples per channel already handed to the file
        self._high = 0  # end of the newest audio seen on either side
        self._header_at = 0
        self.late_samples_dropped = 0
        self._info: RecordingInfo | None = None
        self._file: io.BufferedRandom = open(self.path, "w+b")  # closed in close()
        try:
            self._file.write(wav_header(sample_rate, 0))
            self._file.flush()
        except OSError as exc:
            self._file.close()
            raise MediaError(f"recorder: cannot write {self.path}: {exc}") from exc

    # -- public API -------------------------------------------------------------------------

    def write_caller(self, pcm: bytes, at_sample: int) -> None:
        """Caller audio (PCM16 LE mono) that starts ``at_sample`` samples after call start."""
        self._write(_CALLER, pcm, at_sample)

    def write_assistant(self, pcm: bytes, at_sample: int) -> None:
        """Assistant audio (PCM16 LE mono) that starts ``at_sample`` samples after call start."""
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
        return int(self._buf.shape[0])

    def close(self) -> RecordingInfo:
        """Write out everything held, fix the header and close the file. Safe to call twice."""
        if self._info is not None:
            return self._info
        try:
            self._write_out(self._high)
            self._write_header()
        finally:
            self._file.close()
        self._info = RecordingInfo(
            self.path,
            self._flushed * 1000 // self.sample_rate,
            HEADER_BYTES + self._flushed * FRAME_BYTES,
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

    def _write(self, channel: int, pcm: bytes, at_sample: int) -> None:
        if self._info is not None:
            raise MediaError("recorder: write after close")
        if len(pcm) % SAMPLE_BYTES:
            raise MediaError(f"recorder: PCM16 needs an even byte count, got {len(pcm)}")
        if at_sample < 0:
            raise MediaError(f"recorder: negative position {at_sample}")
        samples = np.frombuffer(pcm, dtype="<i2")
        step = max(1, self._window)
        for offset in range(0, len(samples), step):  # pieces never exceed the window
            self._place(channel, samples[offset : offset + step], at_sample + offset)

    def _place(self, channel: int, samples: npt.NDArray[np.int16], at: int) -> None:
        end = at + len(samples)
        if end <= self._flushed:
            self.late_samples_dropped += len(samples)
            return
        if at < self._flushed:
            cut = self._flushed - at
            self.late_samples_dropped += cut
            samples, at = samples[cut:], self._flushed
        if end - self._flushed > self._capacity - self._chunk:
            # A jump far ahead (a long gap on the timeline): what is older than the window is
            # final now, and must leave the buffer for the new audio to fit.
            self._write_out(end - self._window)
        if end > self._base + self._capacity:
            self._compact()
        self._buf[at - self._base : end - self._base, channel] = samples
        self._high = max(self._high, end)
        if self._high - self._window - self._flushed >= self._chunk:
            self._write_out(self._high - self._window)

    def _compact(self) -> None:
        """Move the live part [_flushed, _high) to the start of the buffer and zero the rest."""
        start, live = self._flushed - self._base, self._high - self._flushed
        if live > 0:
            self._buf[:live] = self._buf[start : start + live]
        self._buf[max(live, 0) :] = 0
        self._base = self._flushed

    def _write_out(self, until: int) -> None:
        """Hand timeline samples [_flushed, until) to the file (silence past the buffer)."""
        if until <= self._flushed:
            return
        if until * FRAME_BYTES > _MAX_DATA:
            raise MediaError(f"recorder: {self.path} would exceed the 4 GB WAV limit")
        in_buffer = min(until, self._base + self._capacity)
        try:
            if in_buffer > self._flushed:
                lo, hi = self._flushed - self._base, in_buffer - self._base
                self._file.write(self._buf[lo:hi].astype("<i2", copy=False).tobytes())
            gap = until - max(in_buffer, self._flushed)
            silence = bytes(min(gap, self._window + self._chunk) * FRAME_BYTES)
            while gap > 0:
                part = min(gap * FRAME_BYTES, len(silence))
                self._file.write(silence[:part])
                gap -= part // FRAME_BYTES
        except OSError as exc:
            raise MediaError(f"recorder: cannot write {self.path}: {exc}") from exc
        self._flushed = until
        self._high = max(self._high, until)
        if until >= self._base + self._capacity:
            self._base = until
            self._buf[:] = 0
        if self._flushed - self._header_at >= self._header_every:
            self._write_header()

    def _write_header(self) -> None:
        data_bytes = self._flushed * FRAME_BYTES
        f = self._file
        try:
            f.seek(4)
            f.write(struct.pack("<I", 36 + data_bytes))
            f.seek(40)
            f.write(struct.pack("<I", data_bytes))
            f.seek(0, os.SEEK_END)
            f.flush()
        except OSError as exc:
            raise MediaError(f"recorder: cannot write {self.path}: {exc}") from exc
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
