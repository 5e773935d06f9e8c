"""An Event Socket connection over asyncio streams, on the sans-IO parser of :mod:`fs_app.esl`.

FreeSWITCH answers commands in the order they were sent (a ``command/reply`` or an
``api/response`` each), with events and notices in between: :meth:`EslSocket.command` waits for
its own reply, events go to ``on_event``, disconnect notices to ``on_notice``. Input that is not
ESL ends the connection with a clear error (logged with the bytes' position, pending commands
failed with it), after every message received before it has been delivered: nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable

from fs_app.esl import commands
from fs_app.esl.events import (
    DISCONNECT_NOTICE,
    DisconnectNotice,
    EslEvent,
    is_event,
    parse_disconnect_notice,
    parse_event,
)
from fs_app.esl.message import EslCommandError, EslMessage, EslProtocolError
from fs_app.esl.parser import EslParser

log = logging.getLogger(__name__)

#: The longest a command waits for its reply before the connection is taken for dead.
REPLY_TIMEOUT_S = 10.0


class EslClosed(EslProtocolError):
    """The connection ended before the reply came."""


class EslSocket:
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
        on_event: Callable[[EslEvent], None],
        on_notice: Callable[[DisconnectNotice], None] = lambda notice: None,
        on_closed: Callable[[str], None] = lambda reason: None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._on_event = on_event
        self._on_notice = on_notice
        self._on_closed = on_closed
        self._parser = EslParser()
        self._waiting: deque[asyncio.Future[EslMessage]] = deque()
        self._task: asyncio.Task[None] | None = None
        self.closed_reason: str | None = None
        #: The first message when the peer speaks first (``auth/request`` on inbound sockets).
        self.greeting: asyncio.Future[EslMessage] | None = None

    def start(self, *, expect_greeting: bool = False) -> None:
        if expect_greeting:
            self.greeting = asyncio.get_running_loop().create_future()
        self._task = asyncio.get_running_loop().create_task(self._read())

    @property
    def open(self) -> bool:
        return self.closed_reason is None

    async def command(self, data: bytes) -> EslMessage:
        """Send one command and return its reply (EslClosed if the connection ends first)."""
        if self.closed_reason is not None:
            raise EslClosed(f"ESL connection closed: {self.closed_reason}")
        future: asyncio.Future[EslMessage] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        try:
            self._writer.write(data)
            await self._writer.drain()
        except ConnectionError as exc:
            self._close(f"connection lost: {exc}")
        try:
            return await asyncio.wait_for(future, REPLY_TIMEOUT_S)
        except TimeoutError:
            self._close(f"no reply in {REPLY_TIMEOUT_S:.0f} s")
            raise EslClosed(f"no reply to {data[:60]!r} in {REPLY_TIMEOUT_S:.0f} s") from None

    async def checked(self, data: bytes) -> EslMessage:
        """:meth:`command`, raising EslCommandError when the reply is not ``+OK...``."""
        reply = await self.command(data)
        if not reply.is_ok:
            text = reply.reply_text if reply.content_type == "command/reply" else reply.text
            raise EslCommandError(data.decode("utf-8", "replace").split("\n")[0], text)
        return reply

    async def api(self, line: str) -> str:
        """``api <line>``: FreeSWITCH's answer text (``-ERR ...`` included: callers judge)."""
        return (await self.command(commands.api(line))).text

    async def close(self) -> None:
        self._close("closed by us")
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait_closed(self) -> None:
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._task)

    # -- reading -----------------------------------------------------------------------------
    async def _read(self) -> None:
        reason = "peer closed the connection"
        try:
            while True:
                data = await self._reader.read(65536)
                if not data:
                    break
                try:
                    messages = self._parser.feed(data)
                except EslProtocolError as exc:
                    for message in exc.complete:
                        self._dispatch(message)
                    log.error("FreeSWITCH sent bytes that are not ESL, connection closed: %s", exc)
                    reason = f"protocol error: {exc}"
                    break
                for message in messages:
                    self._dispatch(message)
        except ConnectionError as exc:
            reason = f"connection lost: {exc}"
        finally:
            self._close(reason)

    def _dispatch(self, message: EslMessage) -> None:
        if self.greeting is not None and not self.greeting.done():
            self.greeting.set_result(message)
            return
        if is_event(message):
            try:
                event = parse_event(message)
            except EslProtocolError as exc:
                log.error("an ESL event that does not decode was dropped: %s", exc)
                return
            self._on_event(event)
        elif message.content_type == DISCONNECT_NOTICE:
            self._on_notice(parse_disconnect_notice(message))
        elif self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_result(message)
        else:
            log.warning("an ESL reply nobody waited for: %s", message.headers[:3])

    def _close(self, reason: str) -> None:
        if self.closed_reason is not None:
            return
        self.closed_reason = reason
        with contextlib.suppress(ConnectionError, RuntimeError):
            self._writer.close()
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_exception(EslClosed(f"ESL connection closed: {reason}"))
        if self.greeting is not None and not self.greeting.done():
            self.greeting.set_exception(EslClosed(f"ESL connection closed: {reason}"))
        self._on_closed(reason)
