"""FreeSWITCH's inbound Event Socket, as a long-lived client: log in, run ``api`` and ``bgapi``
commands, receive the events subscribed to, and reconnect with backoff when the connection ends.

What it relies on was observed on FreeSWITCH 1.10.12 (esl-inbound-auth-errors.jsonl): the switch
speaks first (``auth/request``); ``auth <password>`` is answered ``+OK accepted`` or ``-ERR
invalid`` (then a disconnect notice and the TCP close); ``bgapi X`` is answered at once with
``+OK Job-UUID: <uuid>`` (a ``Job-UUID`` header we send is honoured) and its result comes later as
a ``BACKGROUND_JOB`` event whose body is what ``api X`` would have answered. Only events asked for
with ``event plain <names>`` arrive, so ``BACKGROUND_JOB`` is always asked for (and ``myevents``
is never sent on this socket: after it, BACKGROUND_JOB stopped arriving).

A job whose connection ends before its result came fails with :class:`EslClosed`: whether the
command ran is unknown (FreeSWITCH keeps running it, but its result went to the closed socket).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid as uuidlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from fs_app.esl import commands
from fs_app.esl.events import EslEvent
from fs_app.esl.message import EslProtocolError
from fs_app.esl_socket import EslClosed, EslSocket

log = logging.getLogger(__name__)

#: Always subscribed: the results of ``bgapi``.
BACKGROUND_JOB = "BACKGROUND_JOB"


class EslLoginRefused(EslProtocolError):
    """FreeSWITCH refused the password (``-ERR invalid``) or did not greet as ESL does."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays between reconnection attempts: ``first_s``, doubled each failure, at most
    ``max_s``; back to ``first_s`` once a connection has logged in."""

    first_s: float = 0.5
    max_s: float = 30.0

    def delay(self, failures: int) -> float:
        return float(min(self.max_s, self.first_s * (2 ** max(0, failures - 1))))


@dataclass(frozen=True, slots=True)
class JobResult:
    """A ``BACKGROUND_JOB``: the job's uuid, its command, and the api output (``+OK ...``)."""

    job_uuid: str
    command: str
    text: str

    @property
    def ok(self) -> bool:
        return self.text.startswith("+OK")


class EslClient:
    """One inbound ESL connection kept up by :meth:`run` (or opened once by :meth:`connect`).

    ``on_event`` gets every event subscribed to (BACKGROUND_JOB included); ``on_connected`` is
    called after each successful login (first and after a reconnection), so a user can look again
    at what changed while it was away."""

    def __init__(
        self, host: str, port: int, password: str, *,
        on_event: Callable[[EslEvent], None] = lambda event: None,
        on_connected: Callable[[], None] = lambda: None,
        backoff: Backoff = Backoff(), timeout_s: float = 5.0,
    ) -> None:
        self.host, self.port = host, port
        self._password = password
        self._on_event = on_event
        self._on_connected = on_connected
        self._backoff = backoff
        self._timeout_s = timeout_s
        self._socket: EslSocket | None = None
        self._subscribed: list[str] = [BACKGROUND_JOB]
        self._jobs: dict[str, asyncio.Future[JobResult]] = {}
        self._up = asyncio.Event()
        self._closing = False
        #: How many logins succeeded (1 = never reconnected).
        self.logins = 0
        #: Why the last attempt or connection failed ("" while none has).
        self.last_error = ""

    @property
    def connected(self) -> bool:
        return self._socket is not None and self._socket.open and self._up.is_set()

    async def wait_connected(self, within_s: float) -> None:
        async with asyncio.timeout(within_s):
            await self._up.wait()

    # -- one connection ------------------------------------------------------------------------
    async def connect(self) -> None:
        """Open the connection, log in and subscribe; raises OSError, TimeoutError,
        EslLoginRefused or EslClosed."""
        async with asyncio.timeout(self._timeout_s):
            reader, writer = await asyncio.open_connection(self.host, self.port)
        sock = EslSocket(reader, writer, on_event=self._event,
                         on_closed=lambda reason: self._closed(sock, reason))
        sock.start(expect_greeting=True)
        try:
            assert sock.greeting is not None
            async with asyncio.timeout(self._timeout_s):
                greeting = await sock.greeting
            if greeting.content_type != "auth/request":
                raise EslLoginRefused(
                    f"FreeSWITCH greeted with {greeting.content_type or 'no type'!r}, "
                    "not auth/request")
            answer = await sock.command(commands.auth(self._password))
            if not answer.is_ok:
                raise EslLoginRefused(f"password refused: {answer.reply_text.strip()}")
            reply = await sock.command(commands.events(self._subscribed))
            if not reply.is_ok:
                raise EslProtocolError(f"event subscription refused: {reply.reply_text}")
        except BaseException:
            await sock.close()
            raise
        self._socket = sock
        self.logins += 1
        self.last_error = ""
        self._up.set()
        self._on_connected()

    async def run(self) -> None:
        """Keep a connection up until :meth:`close`: reconnect after each loss, waiting
        :class:`Backoff` delays between failed attempts."""
        failures = 0
        while not self._closing:
            try:
                await self.connect()
            except (OSError, TimeoutError, EslProtocolError) as exc:
                failures += 1
                self.last_error = str(exc) or type(exc).__name__
                delay = self._backoff.delay(failures)
                log.warning("FreeSWITCH ESL %s:%s: %s; next attempt in %.1f s",
                            self.host, self.port, self.last_error, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            sock = self._socket
            assert sock is not None
            await sock.wait_closed()
            if not self._closing:
                log.warning("FreeSWITCH ESL %s:%s lost: %s", self.host, self.port,
                            sock.closed_reason)

    async def close(self) -> None:
        self._closing = True
        if self._socket is not None:
            await self._socket.close()

    # -- commands ------------------------------------------------------------------------------
    def _live(self) -> EslSocket:
        sock = self._socket
        if sock is None or not sock.open:
            raise EslClosed(f"not connected to FreeSWITCH ESL {self.host}:{self.port}"
                            + (f" ({self.last_error})" if self.last_error else ""))
        return sock

    async def api(self, line: str) -> str:
        """``api <line>``: the answer text (``-ERR ...`` included: callers judge). A blocking
        api holds back this connection's events until it is answered (as observed)."""
        return await self._live().api(line)

    async def bgapi(self, line: str, *, within_s: float = 60.0) -> JobResult:
        """``bgapi <line>`` with our own Job-UUID; the BACKGROUND_JOB result (EslClosed when the
        connection ends first, TimeoutError after ``within_s``)."""
        sock = self._live()
        job = str(uuidlib.uuid4())
        future: asyncio.Future[JobResult] = asyncio.get_running_loop().create_future()
        self._jobs[job] = future
        try:
            reply = await sock.command(commands.bgapi(line, job))
            if not reply.is_ok:
                raise EslProtocolError(f"bgapi {line!r} refused: {reply.reply_text.strip()}")
            async with asyncio.timeout(within_s):
                return await future
        finally:
            self._jobs.pop(job, None)

    async def subscribe(self, names: Iterable[str]) -> None:
        """Add event names to the subscription (kept for reconnections)."""
        new = [name for name in names if name not in self._subscribed]
        if not new:
            return
        self._subscribed.extend(new)
        if self._socket is not None and self._socket.open:
            reply = await self._socket.command(commands.events(new))
            if not reply.is_ok:
                for name in new:
                    self._subscribed.remove(name)
                raise EslProtocolError(f"event subscription refused: {reply.reply_text}")

    # -- incoming ------------------------------------------------------------------------------
    def _event(self, event: EslEvent) -> None:
        if event.name == BACKGROUND_JOB:
            future = self._jobs.get(event.get("Job-UUID"))
            if future is not None and not future.done():
                future.set_result(JobResult(event.get("Job-UUID"), event.get("Job-Command"),
                                            event.body))
        try:
            self._on_event(event)
        except Exception:  # one bad handler must not end the connection for all
            log.exception("an ESL event handler failed on %s", event.name)

    def _closed(self, sock: EslSocket, reason: str) -> None:
        if sock is not self._socket:
            return
        self._up.clear()
        self.last_error = reason
        for future in self._jobs.values():
            if not future.done():
                future.set_exception(EslClosed(
                    f"ESL connection closed before the job's result: {reason}"))


async def close_quietly(client: EslClient, task: asyncio.Task[None] | None) -> None:
    """Stop ``client`` and its :meth:`EslClient.run` task."""
    await client.close()
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
