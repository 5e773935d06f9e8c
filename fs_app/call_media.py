"""A FreeSWITCH call's media: the channel kept writing frames, mod_audio_fork started towards our
server, started again when its socket drops mid-call, killAudio on barge-in, stopped before a
transfer. :class:`CallMedia` does it over the call's ESL socket for
:class:`~fs_app.call_session.FreeswitchCallSession`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from callwright.call.journal import CallJournal
from callwright.errors import MediaError
from fs_app import audio_fork
from fs_app.esl import commands
from fs_app.esl.message import EslCommandError, EslProtocolError
from fs_app.esl_socket import EslSocket
from fs_app.fork_media import CONNECT_TIMEOUT_S, ForkServer, ForkTransport, check_sample_rate
from fs_app.media_restart import SocketRestarts
from fs_app.media_start import StartOnce

log = logging.getLogger(__name__)

#: Played on the channel for the whole call: the fork's audio back replaces its frames.
SILENCE = "silence_stream://-1"


class KillAudioJournal(CallJournal):
    """The call's journal; a barge-in (the pipeline notes it as it stops the reply) also drops
    what FreeSWITCH still holds of that reply (``killAudio``)."""

    def __init__(self, *args: Any, on_barge_in: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_barge_in = on_barge_in

    async def event(self, kind: str, **detail: Any) -> None:
        if kind == "barge_in":
            self._on_barge_in()
        await super().event(kind, **detail)


class CallMedia:
    def __init__(
        self, esl: EslSocket, forks: ForkServer, *, uuid: str, call_uid: str, rate: int,
        call_is_up: Callable[[], bool], note: Callable[[str, dict[str, Any]], Awaitable[Any]],
    ) -> None:
        check_sample_rate(rate)
        self._esl = esl
        self._forks = forks
        self._uuid = uuid
        self._call_uid = call_uid
        self._rate = rate
        self._call_is_up = call_is_up
        self._note = note
        self.transport: ForkTransport | None = None
        self._url: str | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Begun by the session as soon as the call is answered; the pipeline awaits it.
        self.starting = StartOnce(self._start)
        self.kill_audio_sent = 0
        self.silence_restarts = 0
        self.restarts = SocketRestarts(
            "fork", uuid=uuid, call_is_up=call_is_up, note=note, connect=self._connect,
            stop=lambda: esl.api(audio_fork.stop_args(uuid)), spawn=self._spawn)

    async def start(self) -> ForkTransport:
        """Start the media (once: the session may have begun it already, fs_app.media_start);
        returns once FreeSWITCH's socket is connected."""
        return await self.starting()

    async def _start(self) -> ForkTransport:
        """The silence playback, then the fork; returns once FreeSWITCH's socket is connected."""
        transport = ForkTransport(self._rate)
        await self._esl.checked(commands.execute("playback", SILENCE))
        await self._connect(transport)
        self.restarts.watch(transport)
        self.transport = transport  # only once connected: frames sent before would be lost
        return transport

    async def _connect(self, transport: ForkTransport) -> None:
        if self._url is not None:
            self._forks.forget(self._url)
        self._url = self._forks.expect(transport)
        reply = await self._esl.api(audio_fork.start_args(
            self._uuid, self._url, rate=self._rate, metadata={"call": self._call_uid},
            bidirectional_rate=self._rate,
        ))
        if not reply.startswith("+OK"):
            raise MediaError(f"uuid_audio_fork start failed: {reply.strip()} (is mod_audio_fork"
                             " loaded?)")
        try:
            await asyncio.wait_for(asyncio.shield(transport.connected), CONNECT_TIMEOUT_S)
        except TimeoutError:
            raise MediaError(f"mod_audio_fork did not connect to {self._url} in"
                             f" {CONNECT_TIMEOUT_S:.0f} s") from None

    def playback_ended(self, target: str) -> None:
        """A playback ended; the silence playback (killAudio's CF_BREAK, uuid_break) is started
        again, or the fork's audio back is no longer heard."""
        if target != SILENCE or not self._call_is_up():
            return
        self.silence_restarts += 1
        self._spawn(self._quietly(commands.execute("playback", SILENCE)))

    def kill_audio(self) -> None:
        if self.transport is not None:
            self.kill_audio_sent += 1
            self.transport.kill_audio()

    async def stop_fork(self) -> None:
        """Stop the fork ourselves (before a transfer): its end is not a media failure."""
        if self._url is None:
            return
        if self.transport is not None:
            self.transport.release()
        with contextlib.suppress(EslProtocolError):
            await self._esl.api(audio_fork.stop_args(self._uuid))
        self._forks.forget(self._url)
        self._url = None

    def figures(self) -> dict[str, float | int | None]:
        out: dict[str, float | int | None] = {
            "frames_in": self.transport.frames_in if self.transport else 0,
            "kill_audio": self.kill_audio_sent, "silence_restarts": self.silence_restarts,
            "fork_restarts": self.restarts.count,
        }
        if self.transport is not None:
            out.update(self.transport.marks.figures())
        return out

    async def close(self) -> None:
        self.starting.cancel()
        if self.transport is not None:
            await self.transport.close()
        if self._url is not None:
            self._forks.forget(self._url)
            self._url = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _quietly(self, data: bytes) -> None:
        with contextlib.suppress(EslProtocolError, EslCommandError):
            await self._esl.command(data)
