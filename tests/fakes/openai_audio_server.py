"""A real local HTTP server speaking OpenAI's audio endpoints, with scripted answers.

    async with ScriptedAudioServer(transcriptions=[Transcription("yes")]) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="test-key")

``POST /v1/audio/transcriptions`` parses the multipart upload (``file``, ``model``, ``language``,
``response_format`` ...), records it in :attr:`ScriptedAudioServer.uploads` (so tests can check the
file is a valid WAV of the right rate and duration) and answers ``{"text": ...}`` from the queue of
:class:`Transcription` scripts.

``POST /v1/audio/speech`` answers with audio made in the server from a queue of :class:`Speech`
scripts: a tone (default) or espeak-ng speech of the input text, as a WAV (optionally with the
"unknown length" sizes a streaming server writes) or raw PCM16 at 24 kHz (``response_format``
"pcm", OpenAI's raw format), recorded in :attr:`ScriptedAudioServer.speech_requests`.

Either script can fail with an HTTP status, wait first, or hang until the server closes.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import struct
import time
import wave
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np
import soxr
from aiohttp import web

__all__ = ["SPEECH_RATE", "ScriptedAudioServer", "Speech", "Transcription", "Upload"]

#: The rate of the audio ``/v1/audio/speech`` returns (OpenAI's pcm format is 24 kHz).
SPEECH_RATE = 24000


@dataclass(frozen=True)
class Transcription:
    """One scripted transcription answer."""

    text: str = ""
    delay_s: float = 0.0
    status: int = 200
    error_message: str = "scripted error"
    hang: bool = False


@dataclass(frozen=True)
class Speech:
    """One scripted speech answer: a ``tone_hz`` sine of ``ms_per_char`` per input character, or
    espeak-ng speech of the input when ``espeak_voice`` is set. ``unknown_length`` writes RIFF and
    data sizes of 0xFFFFFFFF, as servers streaming a WAV do."""

    tone_hz: float = 440.0
    ms_per_char: int = 50
    espeak_voice: str | None = None
    unknown_length: bool = False
    delay_s: float = 0.0
    status: int = 200
    error_message: str = "scripted error"
    hang: bool = False


@dataclass
class Upload:
    """One request to ``/v1/audio/transcriptions``: its form fields and uploaded file."""

    fields: dict[str, str]
    filename: str
    content_type: str
    data: bytes
    received_at: float

    def wav(self) -> tuple[int, int, int, bytes]:
        """``(rate, channels, sample width, frames)`` of the uploaded WAV (raises if invalid)."""
        with wave.open(io.BytesIO(self.data)) as reader:
            frames = reader.readframes(reader.getnframes())
            return reader.getframerate(), reader.getnchannels(), reader.getsampwidth(), frames

    @property
    def duration_s(self) -> float:
        rate, channels, width, frames = self.wav()
        return len(frames) / (rate * channels * width)


def tone(hz: float, seconds: float, rate: int = SPEECH_RATE) -> bytes:
    """PCM16 LE mono sine at half scale."""
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * math.pi * hz * t) * 16384).astype("<i2").tobytes()


def wav_bytes(pcm: bytes, rate: int, *, unknown_length: bool = False) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(pcm)
    data = bytearray(out.getvalue())
    if unknown_length:
        struct.pack_into("<I", data, 4, 0xFFFFFFFF)
        struct.pack_into("<I", data, data.index(b"data") + 4, 0xFFFFFFFF)
    return bytes(data)


async def espeak_pcm(text: str, voice: str, rate: int = SPEECH_RATE) -> bytes:
    proc = await asyncio.create_subprocess_exec(
        "espeak-ng", "-v", voice, "--stdout", "--", text,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    wav, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(err.decode(errors="replace"))
    with wave.open(io.BytesIO(wav)) as reader:
        source_rate = reader.getframerate()
    body = wav[wav.index(b"data") + 8 :]
    samples = np.frombuffer(body[: len(body) - len(body) % 2], dtype="<i2")
    out = soxr.resample(samples.astype(np.float32) / 32768.0, source_rate, rate, "HQ")
    return (np.clip(out, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


class ScriptedAudioServer:
    """The fake server. Use as an async context manager, or ``start()`` / ``close()``."""

    def __init__(
        self,
        transcriptions: Iterable[Transcription] = (),
        speech: Iterable[Speech] = (),
        *,
        default_transcription: Transcription | None = None,
        default_speech: Speech | None = Speech(),
    ) -> None:
        self._transcriptions: deque[Transcription] = deque(transcriptions)
        self._speech: deque[Speech] = deque(speech)
        self.default_transcription = default_transcription
        self.default_speech = default_speech
        self.uploads: list[Upload] = []
        self.speech_requests: list[dict[str, Any]] = []
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/audio/transcriptions", self._transcribe)
        app.router.add_post("/v1/audio/speech", self._speak)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> ScriptedAudioServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("the server is not started")
        return f"http://127.0.0.1:{self._port}/v1"

    def queue(self, *scripts: Transcription | Speech) -> None:
        for script in scripts:
            if isinstance(script, Transcription):
                self._transcriptions.append(script)
            else:
                self._speech.append(script)

    async def _wait(self, delay_s: float, hang: bool) -> bool:
        """Sleep (or hang); False when the server is closing meanwhile."""
        if hang:
            await self._closing.wait()
            return False
        if delay_s > 0:
            try:
                await asyncio.wait_for(self._closing.wait(), delay_s)
                return False
            except TimeoutError:
                pass
        return True

    async def _transcribe(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            return _error(400, "'file' is required")
        self.uploads.append(
            Upload(
                fields={k: v for k, v in form.items() if isinstance(v, str)},
                filename=upload.filename,
                content_type=upload.content_type,
                data=upload.file.read(),
                received_at=time.monotonic(),
            )
        )
        script = self._transcriptions.popleft() if self._transcriptions else None
        script = script or self.default_transcription
        if script is None:
            return _error(500, "no scripted transcription left")
        if not await self._wait(script.delay_s, script.hang):
            return _error(503, "server closing")
        if script.status != 200:
            return _error(script.status, script.error_message)
        return web.json_response({"text": script.text})

    async def _speak(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _error(400, "the body is not JSON")
        self.speech_requests.append(body)
        script = self._speech.popleft() if self._speech else self.default_speech
        if script is None:
            return _error(500, "no scripted speech left")
        if not await self._wait(script.delay_s, script.hang):
            return _error(503, "server closing")
        if script.status != 200:
            return _error(script.status, script.error_message)
        text, fmt = str(body.get("input", "")), body.get("response_format", "mp3")
        if not text or "model" not in body or "voice" not in body:
            return _error(400, "input, model and voice are required")
        if fmt not in ("wav", "pcm"):
            return _error(400, f"this fake serves wav and pcm, not {fmt}")
        if script.espeak_voice is not None:
            pcm = await espeak_pcm(text, script.espeak_voice)
        else:
            pcm = tone(script.tone_hz, len(text) * script.ms_per_char / 1000)
        if fmt == "pcm":
            return web.Response(body=pcm, content_type="audio/pcm")
        wav = wav_bytes(pcm, SPEECH_RATE, unknown_length=script.unknown_length)
        return web.Response(body=wav, content_type="audio/wav")


def _error(status: int, message: str) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "server_error", "param": None, "code": None}},
        status=status,
    )
