"""A call's audio socket started again when it drops mid-call: one policy for mod_audio_fork and
mod_audio_stream.

When FreeSWITCH's WebSocket to us goes away while the call is up (a network failure, the module
restarting; :attr:`~fs_app.fork_media.ForkTransport.on_lost`), the call is not lost: the module
is told to stop (it may still hold its media bug; an error there is expected and ignored) and
started again towards a fresh URL on the same transport, at most :data:`MAX_RESTARTS` times a
call. Each drop is a ``<module>_lost`` call event. When the call is no longer ours, the restart
limit is reached or the new start fails, the media has ended and the pipeline is told.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from callwright.errors import CallwrightError
from fs_app.esl.message import EslProtocolError
from fs_app.fork_media import ForkTransport

log = logging.getLogger(__name__)

#: How many times a call's audio socket is started again after it dropped.
MAX_RESTARTS = 3


class SocketRestarts:
    """``what`` names the socket in events and logs (``fork``: ``fork_lost``); ``stop`` and
    ``connect`` are the module's own commands (connect returns once the new socket is up)."""

    def __init__(self, what: str, *, uuid: str, call_is_up: Callable[[], bool],
                 note: Callable[[str, dict[str, Any]], Awaitable[Any]],
                 stop: Callable[[], Awaitable[Any]],
                 connect: Callable[[ForkTransport], Awaitable[None]],
                 spawn: Callable[[Coroutine[Any, Any, None]], None]) -> None:
        self.what = what
        self._uuid = uuid
        self._call_is_up = call_is_up
        self._note = note
        self._stop = stop
        self._connect = connect
        self._spawn = spawn
        self.count = 0

    def watch(self, transport: ForkTransport) -> None:
        """From now on a drop of ``transport``'s socket is restarted, not the media's end."""
        transport.on_lost = lambda reason: self._spawn(self.restart(transport, reason))

    async def restart(self, transport: ForkTransport, reason: str) -> None:
        if not self._call_is_up():
            transport.fail(reason)
            return
        log.warning("call %s: the %s's socket dropped (%s): starting it again", self._uuid,
                    self.what, reason)
        await self._note(f"{self.what}_lost", {"reason": reason})
        if self.count >= MAX_RESTARTS:
            transport.fail(f"{reason} (after {MAX_RESTARTS} restarts)")
            return
        self.count += 1
        try:
            with contextlib.suppress(EslProtocolError):  # FreeSWITCH may still hold the bug
                await self._stop()
            await self._connect(transport)
        except CallwrightError as exc:
            transport.fail(f"{reason}; restarting the {self.what} failed: {exc}")
