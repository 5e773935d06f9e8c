"""What a FreeSWITCH call's media does the same way through either module (mod_audio_fork,
mod_audio_stream): the module started towards our WebSocket server (checked, then awaited until
its socket is up), started again when that socket drops mid-call, killAudio on barge-in, stopped
before a transfer, and closed with the call. :class:`~fs_app.call_media.CallMedia` and
:class:`~fs_app.stream_media.StreamMedia` add their own start and what their module plays."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Generic, TypeVar

from callwright.errors import MediaError
from fs_app.esl.message import EslProtocolError
from fs_app.esl_socket import EslSocket
from fs_app.fork_media import CONNECT_TIMEOUT_S, ForkServer, ForkTransport, check_sample_rate
from fs_app.media_restart import SocketRestarts
from fs_app.media_start import StartOnce

__all__ = ["ModuleMedia"]

T = TypeVar("T", bound=ForkTransport)


class ModuleMedia(Generic[T]):
    #: The module's name (in errors) and what its socket is called in events (``fork_lost``).
    module: ClassVar[str]
    socket_name: ClassVar[str]

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
        self.transport: T | None = None
        self._url: str | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Begun by the session as soon as the call is answered; the pipeline awaits it.
        self.starting = StartOnce(self._start)
        self.kill_audio_sent = 0
        self.restarts = SocketRestarts(
            self.socket_name, uuid=uuid, call_is_up=call_is_up, note=note,
            connect=self._connect, stop=lambda: esl.api(self._stop_args()), spawn=self._spawn)

    # -- what each module does its own way --------------------------------------------------------

    async def _start(self) -> T:
        """Start the media; returns once FreeSWITCH's socket is connected."""
        raise NotImplementedError

    def _start_args(self, url: str) -> str:
        """The module's API line starting it towards ``url``."""
        raise NotImplementedError

    def _stop_args(self) -> str:
        """The module's API line stopping it."""
        raise NotImplementedError

    async def _close_transport(self, transport: T) -> None:
        await transport.close()

    # -- shared ----------------------------------------------------------------------------------

    async def start(self) -> T:
        """Start the media (once: the session may have begun it already, fs_app.media_start);
        returns once FreeSWITCH's socket is connected."""
        return await self.starting()

    async def _connect(self, transport: ForkTransport) -> None:
        if self._url is not None:
            self._forks.forget(self._url)
        self._url = self._forks.expect(transport)
        line = self._start_args(self._url)
        reply = await self._esl.api(line)
        if not reply.startswith("+OK"):
            raise MediaError(f"{line.split()[0]} start failed: {reply.strip()} (is {self.module}"
                             " loaded?)")
        try:
            await asyncio.wait_for(asyncio.shield(transport.connected), CONNECT_TIMEOUT_S)
        except TimeoutError:
            raise MediaError(f"{self.module} did not connect to {self._url} in"
                             f" {CONNECT_TIMEOUT_S:.0f} s") from None

    def kill_audio(self) -> None:
        if self.transport is not None:
            self.kill_audio_sent += 1
            self.transport.kill_audio()

    async def stop_fork(self) -> None:
        """Stop the module ourselves (before a transfer): its end is not a media failure."""
        if self._url is None:
            return
        if self.transport is not None:
            self.transport.release()
        with contextlib.suppress(EslProtocolError):
            await self._esl.api(self._stop_args())
        self._forks.forget(self._url)
        self._url = None

    async def close(self) -> None:
        self.starting.cancel()
        if self.transport is not None:
            await self._close_transport(self.transport)
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
