"""The caller's audio on EAGI's fd 3, and listening for one caller turn, half-duplex.

Asterisk writes the audio the channel reads to fd 3: raw signed 16-bit little-endian mono PCM,
no header, in 20 ms chunks (320 bytes at 8 kHz; 640 bytes at 16 kHz with
``EAGI_AUDIO_FORMAT=slin16``), and only while the channel receives audio frames. Nothing can be
written back: the assistant answers with ``STREAM FILE``. While a prompt plays the audio is
muted (dropped): the conversation is half-duplex.

:class:`CallerAudio` buffers what arrived (at most ``max_buffer_s``, the oldest is dropped) and
hands out whole frames. :func:`listen_for_turn` runs VAD and endpointing over those frames and
recognises the turn; when no frame arrives for ``GAP_S`` (the caller's side sends nothing), each
20 ms without audio counts as a silent frame, so a turn still ends.
"""

from __future__ import annotations

import asyncio
import os
import stat
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from callwright.errors import MediaError
from callwright.speech.endpointing import (
    Endpointer,
    EndpointingConfig,
    EndpointState,
    NoiseDiscarded,
    PreRollBuffer,
    SpeechEnded,
    SpeechStarted,
    pre_roll_keep_ms,
)
from callwright.speech.protocols import SttEngine, SttStream
from callwright.speech.vad import VoiceActivityDetector

FRAME_MS = 20
#: No caller audio for this long: the caller side is silent (Asterisk sends nothing then).
GAP_S = 0.06
MAX_BUFFER_S = 10.0


class AudioEnded(MediaError):
    """fd 3 closed: the channel is gone."""


class CallerAudio:
    """Caller audio from fd 3, cut into 20 ms frames; dropped while muted."""

    def __init__(self, sample_rate: int = 8000, max_buffer_s: float = MAX_BUFFER_S) -> None:
        self._buffer = bytearray()
        self._max_buffer_s = max_buffer_s
        self._muted = False
        self._ended = False
        self._wake = asyncio.Event()
        self.bytes_in = 0
        self.bytes_dropped = 0
        self.sample_rate = sample_rate
        self.set_rate(sample_rate)

    def set_rate(self, sample_rate: int) -> None:
        if sample_rate not in (8000, 16000):
            raise MediaError(f"EAGI audio is 8000 or 16000 Hz, not {sample_rate}")
        self.sample_rate = sample_rate
        self.frame_bytes = sample_rate * FRAME_MS // 1000 * 2
        self._max_bytes = int(sample_rate * 2 * self._max_buffer_s)

    @property
    def ended(self) -> bool:
        return self._ended

    @property
    def muted(self) -> bool:
        return self._muted

    def feed(self, data: bytes) -> None:
        self.bytes_in += len(data)
        self._buffer += data
        if self._muted:
            self._drop(len(self._buffer))
        elif len(self._buffer) > self._max_bytes:
            self._drop(len(self._buffer) - self._max_bytes)
        self._wake.set()

    def end(self) -> None:
        self._ended = True
        self._wake.set()

    def mute(self) -> None:
        """Drop what is buffered and what arrives until :meth:`unmute` (a prompt is playing)."""
        self._muted = True
        self._drop(len(self._buffer))

    def unmute(self) -> None:
        self._muted = False

    def _drop(self, count: int) -> None:
        count -= count % 2  # keep sample alignment: a half sample stays for its other byte
        del self._buffer[:count]
        self.bytes_dropped += count

    async def next_frame(self, wait_s: float) -> bytes | None:
        """The next frame, or None if none is complete within ``wait_s`` seconds. Raises
        AudioEnded once fd 3 closed and the buffer has no whole frame left."""
        deadline = time.monotonic() + wait_s
        while len(self._buffer) < self.frame_bytes:
            if self._ended:
                raise AudioEnded("the EAGI audio pipe (fd 3) closed")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._wake.clear()
            try:
                async with asyncio.timeout(remaining):
                    await self._wake.wait()
            except TimeoutError:
                return None
        frame = bytes(self._buffer[: self.frame_bytes])
        del self._buffer[: self.frame_bytes]
        return frame


class _AudioPipe(asyncio.Protocol):
    def __init__(self, audio: CallerAudio) -> None:
        self._audio = audio

    def data_received(self, data: bytes) -> None:
        self._audio.feed(data)

    def eof_received(self) -> bool | None:
        self._audio.end()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._audio.end()


async def open_audio_pipe(fd: int, audio: CallerAudio) -> asyncio.BaseTransport:
    """Read ``fd`` (EAGI's 3) into ``audio``. Raises MediaError if it is not an open pipe."""
    try:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            raise MediaError(f"fd {fd} is not an EAGI audio pipe (was the script started by "
                             "EAGI()?)")
        pipe = os.fdopen(fd, "rb", buffering=0, closefd=False)
    except OSError as exc:
        raise MediaError(f"no EAGI audio on fd {fd} (was the script started by EAGI()?): "
                         f"{exc}") from exc
    try:
        transport, _ = await asyncio.get_running_loop().connect_read_pipe(
            lambda: _AudioPipe(audio), pipe
        )
    except (OSError, ValueError) as exc:
        pipe.close()
        raise MediaError(f"fd {fd} is not an EAGI audio pipe: {exc}") from exc
    return transport


@dataclass(frozen=True, slots=True)
class Heard:
    """A finished caller turn."""

    text: str
    confidence: float | None
    started_wall: float   # epoch seconds (estimated) of the first speech frame
    detected_at: float    # monotonic time the end of the turn was detected
    stt_ms: float         # end detected → transcript ready


@dataclass(frozen=True, slots=True)
class NoInput:
    """The caller said nothing within the Listen's ``no_input_s``."""


@dataclass(frozen=True, slots=True)
class Gone:
    """The caller hung up (or fd 3 closed) while we listened."""


async def listen_for_turn(
    audio: CallerAudio,
    stt: Callable[[], Awaitable[SttEngine]],
    *,
    vad: VoiceActivityDetector,
    endpointing: EndpointingConfig,
    grammar: Sequence[str] | None,
    no_input_s: float,
    gone: asyncio.Event,
) -> Heard | NoInput | Gone:
    """Wait for one caller turn and recognise it. ``stt`` returns the engine (it may still be
    loading its model: the audio waits in the buffer meanwhile)."""
    endpointer = Endpointer(endpointing, frame_ms=FRAME_MS)
    pre_roll = PreRollBuffer(pre_roll_keep_ms(endpointing, FRAME_MS), FRAME_MS)
    stream: SttStream | None = None
    t_ms = 0.0
    last_frame = time.monotonic()
    try:
        while True:
            if gone.is_set():
                return Gone()
            try:
                frame = await audio.next_frame(FRAME_MS / 1000)
            except AudioEnded:
                return Gone()
            now = time.monotonic()
            if frame is not None:
                last_frame = now
                speech = vad.is_speech(frame)
            elif now - last_frame >= GAP_S:
                speech = False
            else:
                continue
            events = endpointer.process(speech, t_ms)
            if frame is not None:
                pre_roll.push(frame, t_ms)
                if stream is not None:
                    stream.feed(frame)
            t_ms += FRAME_MS
            for event in events:
                if isinstance(event, SpeechStarted):
                    stream = await (await stt()).open_stream(audio.sample_rate, grammar)
                    stream.feed(pre_roll.take_since(event.onset_ms - endpointing.pre_roll_ms))
                elif isinstance(event, SpeechEnded) and stream is not None:
                    detected = time.monotonic()
                    transcript = await stream.finish()
                    return Heard(
                        text=transcript.text.strip(),
                        confidence=transcript.confidence,
                        started_wall=time.time() - (t_ms - event.onset_ms) / 1000.0,
                        detected_at=detected,
                        stt_ms=(time.monotonic() - detected) * 1000.0,
                    )
                elif isinstance(event, NoiseDiscarded) and stream is not None:
                    await stream.close()
                    stream = None
            quiet = endpointer.state is EndpointState.QUIET
            if stream is None and quiet and t_ms >= no_input_s * 1000.0:
                return NoInput()
    finally:
        if stream is not None:
            await stream.close()
