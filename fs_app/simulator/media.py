"""What a channel plays (``playback``): a file, silence or a tone, 20 ms at a time."""

from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np

from callwright.media.resample import resample_once


class PlaybackSource:
    """``next_frame()`` gives the next 20 ms, or None when the playback has ended."""

    def __init__(self, pcm: bytes | None, rate: int, *, endless: bool = False) -> None:
        self._pcm = pcm or b""
        self._pos = 0
        self._frame = rate * 2 // 50
        self._endless = endless
        self.ms = 0

    def next_frame(self) -> bytes | None:
        if self._endless:
            frame = self._pcm[: self._frame] if self._pcm else bytes(self._frame)
            if self._pcm:
                self._pcm = self._pcm[self._frame:] + self._pcm[: self._frame]
            self.ms += 20
            return frame.ljust(self._frame, b"\0")
        if self._pos >= len(self._pcm):
            return None
        frame = self._pcm[self._pos: self._pos + self._frame]
        self._pos += self._frame
        self.ms += 20
        return frame.ljust(self._frame, b"\0")


def open_playback(target: str, rate: int) -> PlaybackSource | None:
    """The source for ``playback <target>``; None when the file cannot be found or read."""
    if target.startswith("silence_stream://"):
        arg = target.removeprefix("silence_stream://").split(",")[0]
        ms = int(arg) if arg.lstrip("-").isdigit() else -1
        if ms < 0:
            return PlaybackSource(None, rate, endless=True)
        return PlaybackSource(bytes(rate * 2 * ms // 1000), rate)
    if target.startswith("tone_stream://"):
        spec = target.removeprefix("tone_stream://")
        hz = float(spec.split("%(")[-1].split(",")[-1].rstrip(")").split(";")[0]) \
            if "%(" in spec else 440.0
        t = np.arange(rate) / rate
        tone = (8000 * np.sin(2 * math.pi * hz * t)).astype("<i2").tobytes()
        return PlaybackSource(tone, rate, endless="loop=-1" in spec)
    path = Path(target)
    try:
        with wave.open(str(path), "rb") as w:
            data, file_rate = w.readframes(w.getnframes()), w.getframerate()
            if w.getnchannels() != 1 or w.getsampwidth() != 2:
                return None
    except (OSError, wave.Error, EOFError):
        return None
    if file_rate != rate:
        data = resample_once(data, file_rate, rate)
    return PlaybackSource(data, rate)
