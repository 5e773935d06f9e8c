"""The person on the phone: speaks on cue, presses keys, hangs up, and records what it hears.

A :class:`SimulatedCaller` is scripted from a test or the demo::

    await call.caller.say(pcm16_8k)        # real time, 20 ms frames
    await call.caller.silence(500)          # sends nothing, like Wait()
    call.caller.send_dtmf("12#")            # ChannelDtmfReceived per digit, ~350 ms apart
    when = await call.caller.wait_for_speech(timeout=3)
    await call.caller.wait_until_quiet(600, timeout=10)
    await call.caller.hangup()

Audio is 8 kHz PCM16 little-endian both ways. Times are seconds since the call was connected.
Like a dialplan Playback(), the caller produces frames only while it speaks; ``phone_like=True``
makes it send silence frames in between, as a SIP phone without VAD does.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 8000
FRAME_BYTES = 320
FRAME_S = 0.02
DTMF_DIGITS = frozenset("0123456789*#ABCD")


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of heard speech, in seconds since the call was connected."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


def frame_rms(pcm: bytes) -> float:
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples * samples))) if samples.size else 0.0


class SimulatedCaller:
    """One caller. The simulator wires it to a channel with :meth:`connect`."""

    def __init__(
        self,
        *,
        phone_like: bool = False,
        speech_rms: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.phone_like = phone_like
        self.speech_rms = speech_rms
        self._clock = clock
        self.t0 = clock()
        self._send: Callable[[bytes], None] | None = None
        self._dtmf: Callable[[str], None] | None = None
        self._hangup: Callable[[], None] | None = None
        self._heard: list[tuple[float, bytes]] = []
        self._first_speech: float | None = None
        self._last_speech: float | None = None
        self._speech_event = asyncio.Event()
        self._gone = asyncio.Event()
        self._speaking = 0
        self._background: asyncio.Task[None] | None = None
        self.dtmf_sent: list[tuple[float, str]] = []
        self.dtmf_heard: list[tuple[float, str]] = []

    # -- wiring (used by the simulator) --------------------------------------------------------
    def connect(
        self,
        send: Callable[[bytes], None],
        dtmf: Callable[[str], None],
        hangup: Callable[[], None],
    ) -> None:
        """The call is up: ``send`` carries our frames, ``dtmf`` our digits, ``hangup`` ends it."""
        self._send, self._dtmf, self._hangup = send, dtmf, hangup
        self.t0 = self._clock()
        if self.phone_like:
            self._background = asyncio.get_running_loop().create_task(self._comfort_silence())

    def deliver(self, pcm: bytes) -> None:
        """A frame the caller hears."""
        if self._gone.is_set():
            return
        now = self._clock() - self.t0
        self._heard.append((now, bytes(pcm)))
        if frame_rms(pcm) >= self.speech_rms:
            if self._first_speech is None:
                self._first_speech = now
            self._last_speech = now + len(pcm) / 2 / RATE
            self._speech_event.set()

    def hear_dtmf(self, digits: str) -> None:
        """Digits the app sent towards the caller (POST /channels/{id}/dtmf)."""
        now = self._clock() - self.t0
        self.dtmf_heard.extend((now, d) for d in digits)

    def close(self) -> None:
        """The line is dead (the call ended or left for the dialplan for good)."""
        self._gone.set()
        self._send = self._dtmf = self._hangup = None
        if self._background is not None:
            self._background.cancel()
            self._background = None

    @property
    def connected(self) -> bool:
        return self._send is not None and not self._gone.is_set()

    # -- what the test scripts -----------------------------------------------------------------
    async def say(self, pcm16_8k: bytes) -> None:
        """Speak: stream ``pcm16_8k`` in real time, 20 ms a frame (the last one may be short)."""
        self._speaking += 1
        try:
            start = self._clock()
            for i, offset in enumerate(range(0, len(pcm16_8k), FRAME_BYTES)):
                delay = start + i * FRAME_S - self._clock()
                if delay > 0:
                    await asyncio.sleep(delay)
                send = self._send
                if send is None or self._gone.is_set():
                    return
                send(pcm16_8k[offset : offset + FRAME_BYTES])
            tail = start + (len(pcm16_8k) / 2 / RATE) - self._clock()
            if tail > 0:
                await asyncio.sleep(tail)
        finally:
            self._speaking -= 1

    async def silence(self, ms: float) -> None:
        """Say nothing for ``ms`` milliseconds (nothing is sent unless ``phone_like``)."""
        await asyncio.sleep(ms / 1000)

    def send_dtmf(
        self, digits: str, digit_ms: int = 250, gap_ms: int = 100
    ) -> asyncio.Task[None]:
        """Press keys like SendDTMF(digits,250): one event at the end of each digit."""
        bad = [d for d in digits if d not in DTMF_DIGITS]
        if bad:
            raise ValueError(f"not DTMF digits: {''.join(bad)!r}")

        async def press() -> None:
            for digit in digits:
                await asyncio.sleep(digit_ms / 1000)
                dtmf = self._dtmf
                if dtmf is None:
                    return
                self.dtmf_sent.append((self._clock() - self.t0, digit))
                dtmf(digit)
                await asyncio.sleep(gap_ms / 1000)

        return asyncio.get_running_loop().create_task(press())

    async def hangup(self) -> None:
        """Hang up (the app sees ChannelHangupRequest cause 16) and wait until the line is dead."""
        hangup = self._hangup
        if hangup is not None:
            hangup()
        await self._gone.wait()

    async def wait_gone(self) -> None:
        await self._gone.wait()

    # -- what the caller heard -----------------------------------------------------------------
    def heard_frames(self) -> list[tuple[float, bytes]]:
        """Every frame heard, with its arrival time."""
        return list(self._heard)

    def heard_pcm(self) -> bytes:
        """What was heard as one 8 kHz track from the moment of connection, gaps as silence.

        A frame is placed at its arrival time, or right after the previous frame if that one
        has not finished playing yet (a phone's jitter buffer would do the same).
        """
        out = bytearray()
        for t, pcm in self._heard:
            at = int(round(t * RATE)) * 2
            if at > len(out):
                out.extend(bytes(at - len(out)))
            out.extend(pcm)
        return bytes(out)

    def heard_segments(self, hangover_ms: float = 200.0) -> list[Segment]:
        """Stretches of speech, joined across pauses shorter than ``hangover_ms``."""
        pcm = self.heard_pcm()
        segments: list[Segment] = []
        for i in range(0, len(pcm), FRAME_BYTES):
            if frame_rms(pcm[i : i + FRAME_BYTES]) < self.speech_rms:
                continue
            start = i / 2 / RATE
            end = start + min(FRAME_BYTES, len(pcm) - i) / 2 / RATE
            if segments and start - segments[-1].end <= hangover_ms / 1000:
                segments[-1] = Segment(segments[-1].start, end)
            else:
                segments.append(Segment(start, end))
        return segments

    async def wait_for_speech(self, timeout: float) -> float:  # noqa: ASYNC109 (API of the brief)
        """The time of the first speech heard; TimeoutError if none comes in ``timeout`` s."""
        await asyncio.wait_for(self._speech_event.wait(), timeout)
        assert self._first_speech is not None
        return self._first_speech

    async def wait_until_quiet(
        self, quiet_ms: float, timeout: float  # noqa: ASYNC109 (API of the brief)
    ) -> float:
        """Wait for speech, then for ``quiet_ms`` without any; returns when the speech ended."""
        deadline = self._clock() + timeout
        await asyncio.wait_for(self._speech_event.wait(), timeout)
        while True:
            assert self._last_speech is not None
            quiet_since = self._last_speech
            remaining = quiet_since + quiet_ms / 1000 - (self._clock() - self.t0)
            if remaining <= 0:
                return quiet_since
            if self._clock() + remaining > deadline:
                raise TimeoutError(f"still hearing speech after {timeout} s")
            await asyncio.sleep(remaining)

    def save_wav(self, path: str | Path) -> None:
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(self.heard_pcm())

    async def _comfort_silence(self) -> None:
        silence = bytes(FRAME_BYTES)
        next_at = self._clock()
        with contextlib.suppress(asyncio.CancelledError):
            while not self._gone.is_set():
                next_at += FRAME_S
                await asyncio.sleep(max(0.0, next_at - self._clock()))
                send = self._send
                if self._speaking == 0 and send is not None:
                    send(silence)
