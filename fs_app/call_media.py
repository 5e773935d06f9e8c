"""A FreeSWITCH call's media: the channel kept writing frames, mod_audio_fork started towards our
server, started again when its socket drops mid-call, killAudio on barge-in, stopped before a
transfer. :class:`CallMedia` does it over the call's ESL socket for
:class:`~fs_app.call_session.FreeswitchCallSession`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from callwright.call.journal import CallJournal
from fs_app import audio_fork
from fs_app.esl import commands
from fs_app.esl.message import EslCommandError, EslProtocolError
from fs_app.esl_socket import EslSocket
from fs_app.fork_media import ForkServer, ForkTransport
from fs_app.module_media import ModuleMedia

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


class CallMedia(ModuleMedia[ForkTransport]):
    module = "mod_audio_fork"
    socket_name = "fork"

    def __init__(
        self, esl: EslSocket, forks: ForkServer, *, uuid: str, call_uid: str, rate: int,
        call_is_up: Callable[[], bool], note: Callable[[str, dict[str, Any]], Awaitable[Any]],
    ) -> None:
        super().__init__(esl, forks, uuid=uuid, call_uid=call_uid, rate=rate,
                         call_is_up=call_is_up, note=note)
        self.silence_restarts = 0

    async def _start(self) -> ForkTransport:
        """The silence playback, then the fork; returns once FreeSWITCH's socket is connected."""
        transport = ForkTransport(self._rate)
        await self._esl.checked(commands.execute("playback", SILENCE))
        await self._connect(transport)
        self.restarts.watch(transport)
        self.transport = transport  # only once connected: frames sent before would be lost
        return transport

    def _start_args(self, url: str) -> str:
        return audio_fork.start_args(self._uuid, url, rate=self._rate,
                                     metadata={"call": self._call_uid},
                                     bidirectional_rate=self._rate)

    def _stop_args(self) -> str:
        return audio_fork.stop_args(self._uuid)

    def playback_ended(self, target: str) -> None:
        """A playback ended; the silence playback (killAudio's CF_BREAK, uuid_break) is started
        again, or the fork's audio back is no longer heard."""
        if target != SILENCE or not self._call_is_up():
            return
        self.silence_restarts += 1
        self._spawn(self._quietly(commands.execute("playback", SILENCE)))

    def figures(self) -> dict[str, float | int | None]:
        out: dict[str, float | int | None] = {
            "frames_in": self.transport.frames_in if self.transport else 0,
            "kill_audio": self.kill_audio_sent, "silence_restarts": self.silence_restarts,
            "fork_restarts": self.restarts.count,
        }
        if self.transport is not None:
            out.update(self.transport.marks.figures())
        return out

    async def _quietly(self, data: bytes) -> None:
        with contextlib.suppress(EslProtocolError, EslCommandError):
            await self._esl.command(data)
