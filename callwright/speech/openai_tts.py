"""Speech synthesis through an OpenAI-compatible ``/v1/audio/speech`` endpoint.

The answer is asked for as a WAV (parsed here; a server streaming it may write placeholder sizes,
so the data chunk may run to the end of the body) or as ``pcm``, which OpenAI defines as raw
signed 16-bit little-endian mono at 24 kHz. Either is resampled to the rate the call asks for.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Literal

import numpy as np
import openai
from openai import AsyncOpenAI, omit

from callwright.errors import SpeechError
from callwright.media.resample import resample_once

#: The rate of OpenAI's raw ``pcm`` response format.
PCM_RATE = 24000
ResponseFormat = Literal["wav", "pcm"]
_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE


def _mono_pcm16(body: bytes, fmt: int, channels: int, bits: int) -> bytes:
    if fmt == _PCM and bits == 16:
        samples = np.frombuffer(body[: len(body) - len(body) % 2], dtype="<i2").astype(np.float32)
        samples /= 32768.0
    elif fmt == _FLOAT and bits == 32:
        samples = np.frombuffer(body[: len(body) - len(body) % 4], dtype="<f4")
    else:
        raise SpeechError(f"unsupported WAV encoding (format {fmt}, {bits} bit)")
    frames = samples[: samples.size - samples.size % channels].reshape(-1, channels)
    mono = frames.mean(axis=1) if channels > 1 else frames[:, 0]
    scaled = np.clip(np.rint(mono * 32768.0), -32768, 32767)
    return bytes(scaled.astype("<i2").tobytes())


def decode_wav(data: bytes) -> tuple[bytes, int]:
    """PCM16 LE mono and the sample rate of a WAV (PCM 16-bit or float 32-bit, any channels).

    A data size larger than the body (0xFFFFFFFF from a streaming writer) runs to the end.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise SpeechError("the speech endpoint did not answer with a WAV")
    pos, fmt, channels, rate, bits = 12, 0, 0, 0, 0
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body = pos + 8
        if chunk_id == b"fmt " and size >= 16 and body + 16 <= len(data):
            fmt, channels, rate = struct.unpack_from("<HHI", data, body)
            (bits,) = struct.unpack_from("<H", data, body + 14)
            if fmt == _EXTENSIBLE and size >= 26 and body + 26 <= len(data):
                (fmt,) = struct.unpack_from("<H", data, body + 24)  # the sub-format GUID
        elif chunk_id == b"data":
            if rate <= 0 or channels <= 0:
                raise SpeechError("the WAV has no usable fmt chunk before its data")
            return _mono_pcm16(data[body : min(len(data), body + size)], fmt, channels, bits), rate
        pos = body + size + (size & 1)
    raise SpeechError("the WAV has no data chunk")


class OpenAiTts:
    """A :class:`~callwright.speech.protocols.TtsEngine` calling ``/v1/audio/speech``.

    ``client`` belongs to the caller (not closed here). ``voice`` is the default voice (e.g.
    ``alloy``); a ``voice`` given to :meth:`synthesize` replaces it. ``timeout_s`` bounds each
    request, ``speed`` (0.25-4.0) is passed when set.
    """

    name = "openai"

    def __init__(
        self,
        client: AsyncOpenAI,
        model: str,
        voice: str,
        response_format: ResponseFormat = "wav",
        *,
        speed: float | None = None,
        timeout_s: float = 20.0,
    ) -> None:
        if not model or not voice:
            raise SpeechError("an OpenAI speech model and voice are required")
        if response_format not in ("wav", "pcm"):
            raise SpeechError(f"response_format must be wav or pcm, got {response_format!r}")
        if speed is not None and not 0.25 <= speed <= 4.0:
            raise SpeechError(f"speed {speed} is outside 0.25-4.0")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.client = client
        self.model = model
        self.voice = voice
        self.response_format: ResponseFormat = response_format
        self.speed = speed
        self.timeout_s = timeout_s

    async def synthesize(self, text: str, sample_rate: int, voice: str | None = None) -> bytes:
        """PCM16 LE mono of ``text`` at ``sample_rate``; empty text gives empty audio."""
        if sample_rate <= 0:
            raise SpeechError(f"invalid sample rate {sample_rate}")
        if not text.strip():
            return b""
        body = await self._request(text, voice or self.voice)
        if self.response_format == "pcm":
            pcm, rate = body[: len(body) - len(body) % 2], PCM_RATE
        else:
            pcm, rate = decode_wav(body)
        if not pcm:
            raise SpeechError(f"the speech endpoint returned no audio for {text[:40]!r}")
        return resample_once(pcm, rate, sample_rate)

    async def _request(self, text: str, voice: str) -> bytes:
        try:
            async with asyncio.timeout(self.timeout_s):
                response = await self.client.audio.speech.create(
                    input=text,
                    model=self.model,
                    voice=voice,
                    response_format=self.response_format,
                    speed=self.speed if self.speed is not None else omit,
                    timeout=self.timeout_s,
                )
                return response.content
        except TimeoutError as exc:
            raise SpeechError(f"OpenAI speech timed out after {self.timeout_s} s") from exc
        except openai.APIStatusError as exc:
            raise SpeechError(
                f"OpenAI speech failed: HTTP {exc.status_code}: {exc.message}"
            ) from exc
        except openai.OpenAIError as exc:
            raise SpeechError(f"OpenAI speech failed: {exc}") from exc
