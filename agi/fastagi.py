"""The asyncio side of AGI: :class:`AgiSession` over any byte stream, and the FastAGI server.

A session reads the environment block, then runs one reader task that feeds
:class:`~agi.protocol.AgiConnection` and hands each reply to the command waiting for it; the
unsolicited ``HANGUP`` line sets :attr:`AgiSession.hung_up` (commands still work afterwards, as
on a real Asterisk: ``GET VARIABLE`` answers, ``ANSWER`` gets 511). The same session class serves
EAGI, over the script's stdin and stdout.

:class:`FastAgiServer` listens on TCP (Asterisk's ``AGI(agi://host:4573/<script>)``) and runs one
coroutine per connection: it reads the environment, picks the handler registered for the
script name, runs it, and closes the connection when the handler returns (Asterisk waits for
that: it does not close the socket itself). Garbage from the peer is a ProtocolError: logged,
and the connection is closed; the server carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from agi.environment import AgiEnvironment
from agi.protocol import (
    AgiConnection,
    Command,
    ErrorReply,
    HangupNotice,
    Reply,
    command_error,
)
from callwright.errors import CallwrightError, ProtocolError

log = logging.getLogger(__name__)

DEFAULT_PORT = 4573
ESCAPE_ALL = "0123456789*#"


class AgiClosed(CallwrightError):
    """The AGI connection is closed (by the peer, by us, or after an abandoned reply)."""


class ByteSink(Protocol):
    """Where commands are written: an ``asyncio.StreamWriter`` (socket or pipe)."""

    def write(self, data: bytes) -> None: ...
    async def drain(self) -> None: ...
    def close(self) -> None: ...
    async def wait_closed(self) -> None: ...


@dataclass(frozen=True, slots=True)
class StreamResult:
    """The outcome of STREAM FILE: ``played`` False if Asterisk could not play it (missing
    file, or the channel hung up), ``digit`` the key that interrupted it, ``endpos`` in
    samples."""

    played: bool
    digit: str | None
    endpos: int | None


def _retrieve(future: asyncio.Future[Reply | ErrorReply]) -> None:
    if not future.cancelled():
        future.exception()


class AgiSession:
    """One AGI conversation. Create with :func:`open_session`; close with :meth:`close`."""

    def __init__(
        self,
        env: AgiEnvironment,
        connection: AgiConnection,
        reader: asyncio.StreamReader,
        writer: ByteSink,
        *,
        name: str = "agi",
    ) -> None:
        self.env = env
        self.name = name
        self._conn = connection
        self._reader = reader
        self._writer = writer
        self._lock = asyncio.Lock()
        self._pending: asyncio.Future[Reply | ErrorReply] | None = None
        self._hangup = asyncio.Event()
        self._closed = asyncio.Event()
        self._failure: CallwrightError | None = None
        if connection.hung_up:
            self._hangup.set()
        self._task = asyncio.get_running_loop().create_task(self._read(), name=f"{name}-reader")

    # -- state ------------------------------------------------------------------------------------

    @property
    def hung_up(self) -> bool:
        """True once Asterisk said ``HANGUP`` (or the connection closed)."""
        return self._hangup.is_set()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def wait_hangup(self) -> None:
        """Return when the channel hung up or the connection closed."""
        await self._hangup.wait()

    # -- commands ---------------------------------------------------------------------------------

    async def command(self, name: str, *args: str) -> Reply:
        """Send a command and return its 200 reply.

        Raises the :class:`~agi.protocol.AgiCommandError` subclass for 510/511/520,
        :class:`AgiClosed` if the connection closes, ProtocolError for a malformed reply. A
        caller may give up waiting (``asyncio.timeout``); the next command then waits for the
        abandoned reply first, so replies never get out of step.
        """
        command = Command(name, args)
        async with self._lock:
            previous = self._pending
            if previous is not None and not previous.done():
                # A caller gave up on its reply (cancelled): it must arrive before we go on.
                await asyncio.wait({previous})
            if self._failure is not None:
                raise self._failure
            future: asyncio.Future[Reply | ErrorReply] = (
                asyncio.get_running_loop().create_future()
            )
            future.add_done_callback(_retrieve)
            data = self._conn.send(command)
            self._pending = future
            try:
                self._writer.write(data)
                await self._writer.drain()
            except OSError as exc:
                self._fail(AgiClosed(f"{self.name}: cannot send {command.name}: {exc}"))
            reply = await asyncio.shield(future)
        if isinstance(reply, ErrorReply):
            raise command_error(reply, command.line)
        return reply

    async def answer(self) -> None:
        await self.command("ANSWER")

    async def hangup(self) -> None:
        await self.command("HANGUP")

    async def noop(self) -> None:
        await self.command("NOOP")

    async def verbose(self, message: str, level: int = 1) -> None:
        await self.command("VERBOSE", message, str(level))

    async def channel_status(self) -> int:
        """The channel state (6 = up)."""
        return (await self.command("CHANNEL STATUS")).value

    async def get_variable(self, name: str) -> str | None:
        """A channel variable or function (``CALLERID(num)``); None when it is not set."""
        reply = await self.command("GET VARIABLE", name)
        return reply.data if reply.value == 1 else None

    async def get_full_variable(self, expression: str) -> str | None:
        """An expression with ``${...}`` substitutions, evaluated by Asterisk."""
        reply = await self.command("GET FULL VARIABLE", expression)
        return reply.data if reply.value == 1 else None

    async def set_variable(self, name: str, value: str) -> None:
        await self.command("SET VARIABLE", name, value)

    async def stream_file(self, path: str, escape_digits: str = "") -> StreamResult:
        """Play a sound file (``path`` without its extension); returns when it ends. A key in
        ``escape_digits`` stops it. The reply comes only when playback ends, so no timeout."""
        reply = await self.command("STREAM FILE", path, escape_digits)
        value = reply.value
        digit = chr(value) if 0 < value < 0x110000 else None
        return StreamResult(played=value >= 0, digit=digit, endpos=reply.endpos)

    # -- closing ----------------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the connection (FastAGI: Asterisk then ends the AGI). Safe to call twice."""
        self._fail(AgiClosed(f"{self.name}: closed"))
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(2.0):
                await self._writer.wait_closed()

    def _fail(self, error: CallwrightError) -> None:
        if self._failure is None:
            self._failure = error
        pending = self._pending
        if pending is not None and not pending.done():
            pending.set_exception(self._failure)
        self._hangup.set()
        self._closed.set()

    async def _read(self) -> None:
        try:
            while True:
                data = await self._reader.read(65536)
                if not data:
                    self._conn.receive_eof()
                    self._fail(AgiClosed(f"{self.name}: the peer closed the connection"))
                    return
                for event in self._conn.receive(data):
                    self._dispatch(event)
        except ProtocolError as exc:
            log.warning("%s: %s; closing", self.name, exc)
            self._fail(exc)
        except OSError as exc:
            self._fail(AgiClosed(f"{self.name}: {exc}"))

    def _dispatch(self, event: object) -> None:
        if isinstance(event, HangupNotice):
            log.debug("%s: HANGUP", self.name)
            self._hangup.set()
        elif isinstance(event, Reply | ErrorReply):
            pending = self._pending
            if pending is not None and not pending.done():
                pending.set_result(event)


async def open_session(
    reader: asyncio.StreamReader,
    writer: ByteSink,
    *,
    env_timeout: float | None = 10.0,
    name: str = "agi",
) -> AgiSession:
    """Read the environment block and return the session. Raises ProtocolError (garbage, or
    the peer closed before the block ended) or TimeoutError."""
    connection = AgiConnection()
    async with asyncio.timeout(env_timeout):
        while connection.environment is None:
            data = await reader.read(65536)
            if not data:
                connection.receive_eof()
            connection.receive(data)
    return AgiSession(connection.environment, connection, reader, writer, name=name)


Handler = Callable[[AgiSession], Awaitable[None]]


class FastAgiServer:
    """Serves ``agi://host:port/<script>``: ``routes`` maps script names to handlers."""

    def __init__(
        self,
        routes: Mapping[str, Handler],
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        env_timeout: float = 10.0,
    ) -> None:
        self.routes = dict(routes)
        self.host = host
        self._port = port
        self._env_timeout = env_timeout
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._counter = 0

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self._port)
        log.info("FastAGI listening on %s:%d (scripts: %s)", self.host, self.port,
                 ", ".join(sorted(self.routes)) or "none")

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop listening; give running handlers ``grace_s`` to finish, then cancel them."""
        if self._server is not None:
            self._server.close()
        running = set(self._connections)
        if running:
            _, late = await asyncio.wait(running, timeout=grace_s)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FastAgiServer:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self.serve_connection(reader, writer)
        finally:
            self._connections.discard(task)

    async def serve_connection(self, reader: asyncio.StreamReader, writer: ByteSink) -> None:
        """One connection, start to end. Never raises (except on cancellation)."""
        self._counter += 1
        name = f"fastagi-{self._counter}"
        session: AgiSession | None = None
        try:
            session = await open_session(reader, writer, env_timeout=self._env_timeout,
                                         name=name)
            handler = self.routes.get(session.env.script)
            if handler is None:
                log.warning("%s: no AGI script %r (request %s)", name, session.env.script,
                            session.env.request)
                with contextlib.suppress(CallwrightError):
                    await session.verbose(f"Callwright: no AGI script {session.env.script}", 1)
                return
            log.debug("%s: %s for %s", name, session.env.script, session.env.channel)
            await handler(session)
        except ProtocolError as exc:
            log.warning("%s: protocol error: %s", name, exc)
        except TimeoutError:
            log.warning("%s: no AGI environment within %s s", name, self._env_timeout)
        except CallwrightError as exc:
            log.warning("%s: %s", name, exc)
        except Exception:  # the outermost boundary of a connection: log, close, carry on
            log.exception("%s: the AGI handler failed", name)
        finally:
            if session is not None:
                await session.close()
            else:
                writer.close()
                with contextlib.suppress(OSError, TimeoutError):
                    async with asyncio.timeout(2.0):
                        await writer.wait_closed()
