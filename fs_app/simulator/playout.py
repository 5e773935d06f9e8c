"""mod_audio_fork's playout of audio sent back by the server (bidirectional streaming), sans-IO.

As measured (freeswitch-facts README, "Measured with a test assistant"): audio is buffered, the
first ~160 ms of a stream are held before anything plays, then it moves into the call in 80 ms
chunks, so a tail shorter than 80 ms waits for more audio. It is only written while the channel
itself writes frames (``next_frame`` is only called then). Marks are reported ``playout`` when the
audio before them has been written, ``cleared`` when killAudio drops them. Audio declared at
another rate than the channel's is resampled; odd byte counts are carried over.
"""

from __future__ import annotations

from callwright.media.resample import Resampler

HOLD_MS = 160
CHUNK_MS = 80
FRAME_MS = 20


class Playout:
    def __init__(self, channel_rate: int, stream_rate: int) -> None:
        self.rate = channel_rate
        self._resampler = Resampler(stream_rate, channel_rate)
        self._bytes_per_ms = channel_rate * 2 // 1000
        self._carry = b""
        self._buffer = bytearray()  # received, not yet moved into the call
        self._ready = bytearray()  # moved into the call in chunks, written 20 ms a tick
        self._started = False
        self._received = 0  # bytes ever received (channel rate), marks are placed on this axis
        self._written = 0
        self._marks: list[tuple[int, str]] = []

    def add_audio(self, data: bytes) -> None:
        data = self._carry + data
        even = len(data) - len(data) % 2
        self._carry = data[even:]
        pcm = self._resampler.process(data[:even])
        self._buffer += pcm
        self._received += len(pcm)

    def add_mark(self, name: str) -> None:
        self._marks.append((self._received, name))

    def kill(self) -> list[str]:
        """killAudio: the buffer is dropped; returns the marks that were pending (cleared)."""
        cleared = [name for _, name in self._marks]
        self._marks.clear()
        self._buffer.clear()
        self._ready.clear()
        self._resampler.reset()
        self._started = False
        self._received = self._written
        return cleared

    @property
    def idle(self) -> bool:
        return not self._buffer and not self._ready

    def next_frame(self) -> tuple[bytes | None, list[str]]:
        """The frame to write into the call now (None: nothing from the fork, the channel's own
        frame is written) and the marks whose audio has now all been written."""
        chunk = CHUNK_MS * self._bytes_per_ms
        if not self._started and len(self._buffer) >= HOLD_MS * self._bytes_per_ms:
            self._started = True
        if self._started and len(self._ready) < FRAME_MS * self._bytes_per_ms:
            while len(self._buffer) >= chunk and len(self._ready) < chunk:
                self._ready += self._buffer[:chunk]
                del self._buffer[:chunk]
        frame: bytes | None = None
        size = FRAME_MS * self._bytes_per_ms
        if self._started and self._ready:
            frame = bytes(self._ready[:size]).ljust(size, b"\0")
            del self._ready[:size]
            self._written += min(size, len(frame))
        played = [name for at, name in self._marks if at <= self._written]
        self._marks = [(at, name) for at, name in self._marks if at > self._written]
        return frame, played
