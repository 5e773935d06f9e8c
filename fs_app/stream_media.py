"""A FreeSWITCH call's media through mod_audio_stream community edition (``[freeswitch] media =
"audio_stream"``), the fallback when mod_audio_fork is not built.

The caller's audio comes in over the module's WebSocket (served by the same
:class:`~fs_app.fork_media.ForkServer`: metadata first, then 20 ms L16 frames). The module cannot
stream audio back, so the pipeline's replies are cut into WAV files (:class:`ReplyFiles`): a
file is written at the end of an utterance (``FLUSH_QUIET_FRAMES`` quiet frames) or once
``MAX_CHUNK_S`` of it are waiting, and played with ``uuid_broadcast <uuid> <file> aleg``, one at
a time (the next once FreeSWITCH reports the last played). That is higher latency than the fork
(a reply is heard up to ``MAX_CHUNK_S`` plus FreeSWITCH's ~200 ms broadcast start later).
Barge-in drops what waits and breaks the file playing (``uuid_break``). A stream whose socket
drops mid-call is started again, as the fork is (fs_app.media_restart). FreeSWITCH must be able
to read the files: ``[freeswitch] stream_files_dir`` on a filesystem both see.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import secrets
import wave
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np

from callwright.errors import CallwrightError
from fs_app import audio_stream
from fs_app.esl_socket import EslSocket
from fs_app.fork_media import ForkServer, ForkTransport
from fs_app.module_media import ModuleMedia
from fs_app.playout_marks import QUIET_PEAK

log = logging.getLogger(__name__)

#: Quiet frames that end an utterance (its file is written then).
FLUSH_QUIET_FRAMES = 10
#: The longest piece of a reply waiting for a file.
MAX_CHUNK_S = 2.0


class ReplyFiles:
    """The pipeline's frames cut into WAV files played one at a time; no sockets (``play`` and
    ``stop_playing`` are given)."""

    def __init__(self, rate: int, directory: Path, *, play: Callable[[Path], None],
                 stop_playing: Callable[[], None]) -> None:
        self._rate = rate
        self._dir = directory
        self._play = play
        self._stop_playing = stop_playing
        self._prefix = secrets.token_hex(6)
        self._numbers = itertools.count()
        self._pending = bytearray()
        self._quiet = 0
        self.playing: Path | None = None
        self.files_played = 0
        self.breaks = 0

    def add(self, pcm: bytes) -> None:
        quiet = int(np.abs(np.frombuffer(pcm, "<i2")).max(initial=0)) < QUIET_PEAK
        if quiet and (not self._pending or self._quiet >= FLUSH_QUIET_FRAMES):
            self._flush_if_due()
            return  # silence between replies is not written
        self._quiet = self._quiet + 1 if quiet else 0
        self._pending += pcm
        self._flush_if_due()

    def played(self, target: str) -> None:
        """FreeSWITCH finished (or broke) the playback of ``target``."""
        if self.playing is None or str(self.playing) != target:
            return
        with contextlib.suppress(OSError):
            self.playing.unlink()
        self.playing = None
        self._flush_if_due()

    def clear(self) -> None:
        """Barge-in: nothing more of this reply; the file playing is broken."""
        self._pending.clear()
        self._quiet = 0
        if self.playing is not None:
            self.breaks += 1
            self._stop_playing()

    def close(self) -> None:
        self._pending.clear()
        if self.playing is not None:
            with contextlib.suppress(OSError):
                self.playing.unlink()

    def _flush_if_due(self) -> None:
        if self.playing is not None or not self._pending:
            return
        if self._quiet < FLUSH_QUIET_FRAMES and len(self._pending) < MAX_CHUNK_S * self._rate * 2:
            return
        path = self._dir / f"callwright-{self._prefix}-{next(self._numbers)}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(self._rate)
            w.writeframes(bytes(self._pending))
        self._pending.clear()
        self._quiet = 0
        self.playing = path
        self.files_played += 1
        self._play(path)


class StreamTransport(ForkTransport):
    """The caller's audio from mod_audio_stream's socket; what the pipeline sends goes to
    :class:`ReplyFiles` instead of the socket."""

    def __init__(self, rate: int) -> None:
        super().__init__(rate)
        self.replies: ReplyFiles | None = None

    def send_frame(self, pcm: bytes) -> None:
        if self.replies is not None and self.closed_reason is None:
            self.replies.add(bytes(pcm))

    def kill_audio(self) -> None:
        if self.replies is not None:
            self.replies.clear()

    def mark(self, name: str) -> None:
        """The module has no marks."""


class StreamMedia(ModuleMedia[StreamTransport]):
    """:class:`~fs_app.call_media.CallMedia`'s counterpart for mod_audio_stream."""

    module = "mod_audio_stream"
    socket_name = "stream"

    def __init__(
        self, esl: EslSocket, forks: ForkServer, *, uuid: str, call_uid: str, rate: int,
        directory: Path, call_is_up: Callable[[], bool],
        note: Callable[[str, dict[str, Any]], Awaitable[Any]],
    ) -> None:
        super().__init__(esl, forks, uuid=uuid, call_uid=call_uid, rate=rate,
                         call_is_up=call_is_up, note=note)
        self._dir = directory

    async def _start(self) -> StreamTransport:
        """Starts the stream; returns once FreeSWITCH's socket is connected."""
        transport = StreamTransport(self._rate)
        transport.replies = ReplyFiles(self._rate, self._dir, play=self._broadcast,
                                       stop_playing=self._break)
        await self._connect(transport)
        self.restarts.watch(transport)
        self.transport = transport  # only once connected: frames sent before would be lost
        return transport

    def _start_args(self, url: str) -> str:
        return audio_stream.start_args(
            self._uuid, url, rate=self._rate,
            metadata=json.dumps({"call": self._call_uid}, separators=(",", ":")))

    def _stop_args(self) -> str:
        return audio_stream.stop_args(self._uuid)

    async def _close_transport(self, transport: StreamTransport) -> None:
        await transport.close()
        if transport.replies is not None:
            transport.replies.close()

    def playback_ended(self, target: str) -> None:
        if self.transport is not None and self.transport.replies is not None:
            self.transport.replies.played(target)

    def stream_failed(self, body: str) -> None:
        """mod_audio_stream::error: the module could not connect; the call cannot hear."""
        if self.transport is not None:
            self.transport.fail(f"mod_audio_stream could not connect: {body}")

    def figures(self) -> dict[str, float | int | None]:
        replies = self.transport.replies if self.transport is not None else None
        return {
            "frames_in": self.transport.frames_in if self.transport else 0,
            "kill_audio": self.kill_audio_sent,
            "reply_files": replies.files_played if replies is not None else 0,
            "reply_breaks": replies.breaks if replies is not None else 0,
            "stream_restarts": self.restarts.count,
        }

    def _broadcast(self, path: Path) -> None:
        self._spawn(self._api(f"uuid_broadcast {self._uuid} {path} aleg"))

    def _break(self) -> None:
        self._spawn(self._api(f"uuid_break {self._uuid}"))

    async def _api(self, line: str) -> None:
        try:
            reply = await self._esl.api(line)
        except CallwrightError as exc:
            log.warning("call %s: %s failed: %s", self._uuid, line.split()[0], exc)
            return
        if not reply.startswith("+OK"):
            log.warning("call %s: %s: %s", self._uuid, line.split()[0], reply.strip())
