"""Speech synthesis with espeak-ng, run as a subprocess (never through a shell).

espeak-ng writes a 22050 Hz mono WAV to stdout. We parse it, drop the silence it puts before the
first sound (keeping at most ``LEAD_SILENCE_MS``) so the first frame reaches the caller sooner,
resample the whole utterance with soxr to the rate the call asks for, and return PCM16 LE.
"""

from __future__ import annotations

import asyncio
import re
import struct

import numpy as np
import soxr

from callwright.errors import SpeechError

#: Silence kept before the first sound, in milliseconds.
LEAD_SILENCE_MS = 20
#: A sample louder than this (of 32768) counts as sound when trimming leading silence.
SILENCE_THRESHOLD = 200
_VOICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_+\-./]*$")


def parse_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Samples (int16) and sample rate of a PCM16 mono WAV.

    espeak-ng writing to a pipe cannot seek back, so its RIFF and data sizes are placeholders
    (0x7FFFF000): the data chunk is taken as running to the end of the bytes.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise SpeechError("espeak-ng did not produce a WAV")
    pos = 12
    rate = channels = bits = 0
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body = pos + 8
        if chunk_id == b"fmt ":
            fmt, channels, rate = struct.unpack_from("<HHI", data, body)
            (bits,) = struct.unpack_from("<H", data, body + 14)
            if fmt != 1:
                raise SpeechError(f"espeak-ng WAV has format {fmt}, expected PCM")
        elif chunk_id == b"data":
            if rate == 0:
                raise SpeechError("espeak-ng WAV has no fmt chunk before its data")
            if channels != 1 or bits != 16:
                raise SpeechError(f"espeak-ng WAV is {channels} ch {bits} bit, expected mono 16")
            end = min(len(data), body + size)
            end -= (end - body) % 2
            return np.frombuffer(data[body:end], dtype="<i2"), rate
        pos = body + size + (size & 1)
    raise SpeechError("espeak-ng WAV has no data")


def trim_leading_silence(
    samples: np.ndarray, rate: int, keep_ms: int = LEAD_SILENCE_MS
) -> np.ndarray:
    """Drop silence before the first sound, keeping ``keep_ms`` of it."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > SILENCE_THRESHOLD)
    if loud.size == 0:
        return samples
    start = max(0, int(loud[0]) - rate * keep_ms // 1000)
    return samples[start:]


def resample_pcm16(samples: np.ndarray, from_rate: int, to_rate: int) -> bytes:
    """Resample int16 samples with soxr (high quality, anti-aliased) to PCM16 LE bytes."""
    if from_rate == to_rate:
        return samples.astype("<i2").tobytes()
    floats = samples.astype(np.float32) / 32768.0
    out = soxr.resample(floats, from_rate, to_rate, quality="HQ")
    clipped = np.clip(out, -1.0, 32767.0 / 32768.0) * 32768.0
    return bytes(clipped.astype("<i2").tobytes())


class EspeakTts:
    """A :class:`~callwright.speech.protocols.TtsEngine` running ``espeak-ng``.

    ``rate_wpm`` is espeak's ``-s`` (words per minute, default 175), ``pitch`` its ``-p`` (0-99).
    """

    name = "espeak-ng"

    def __init__(
        self,
        default_voice: str = "en-us",
        rate_wpm: int | None = None,
        pitch: int | None = None,
        *,
        executable: str = "espeak-ng",
    ) -> None:
        self.default_voice = self._checked_voice(default_voice)
        if rate_wpm is not None and not 80 <= rate_wpm <= 500:
            raise SpeechError(f"espeak-ng rate {rate_wpm} wpm is outside 80-500")
        if pitch is not None and not 0 <= pitch <= 99:
            raise SpeechError(f"espeak-ng pitch {pitch} is outside 0-99")
        self.rate_wpm = rate_wpm
        self.pitch = pitch
        self.executable = executable

    @staticmethod
    def _checked_voice(voice: str) -> str:
        if not _VOICE.match(voice):
            raise SpeechError(f"invalid espeak-ng voice name {voice!r}")
        return voice

    def command(self, text: str, voice: str | None = None) -> list[str]:
        """The argument vector for ``text`` (for logs and tests; no shell is involved)."""
        argv = [self.executable, "--stdout", "-v", self._checked_voice(voice or self.default_voice)]
        if self.rate_wpm is not None:
            argv += ["-s", str(self.rate_wpm)]
        if self.pitch is not None:
            argv += ["-p", str(self.pitch)]
        # "--" ends the options: text starting with "-" is spoken, never parsed as a flag.
        return [*argv, "--", text]

    async def synthesize(self, text: str, sample_rate: int, voice: str | None = None) -> bytes:
        """PCM16 LE mono of ``text`` at ``sample_rate``; empty text gives empty audio."""
        if sample_rate <= 0:
            raise SpeechError(f"invalid sample rate {sample_rate}")
        if not text.strip():
            return b""
        if "\x00" in text:
            text = text.replace("\x00", " ")
        argv = self.command(text, voice)
        wav = await self._run(argv)
        samples, rate = parse_wav(wav)
        if samples.size == 0:
            raise SpeechError(f"espeak-ng produced no audio for {text[:40]!r}")
        return resample_pcm16(trim_leading_silence(samples, rate), rate, sample_rate)

    async def _run(self, argv: list[str]) -> bytes:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except FileNotFoundError as exc:
            raise SpeechError(f"{argv[0]} is not installed (apt-get install espeak-ng)") from exc
        except OSError as exc:
            raise SpeechError(f"could not start {argv[0]}: {exc}") from exc
        try:
            out, err = await proc.communicate()
        finally:
            if proc.returncode is None:  # cancelled (barge-in): do not leave it running
                proc.kill()
                await proc.wait()
        if proc.returncode != 0:
            message = err.decode(errors="replace").strip() or f"exit status {proc.returncode}"
            raise SpeechError(f"espeak-ng failed (voice {argv[3]!r}): {message}")
        return out
