"""The ARI events websocket, kept connected.

:class:`AriEventStream` connects ``ws://host:port/ari/events?app=APP&subscribeAll=false`` with Basic
auth (``wss://`` for an ``https`` URL, with the TLS context of the session's connector) and hands
every event, parsed, to ``on_event``, strictly in order: a handler is awaited before the next
event is handed over, so a handler with slow work must spawn a task itself. A malformed message is
logged and skipped; a handler exception is logged; neither ends the stream.

Asterisk neither buffers nor replays events while the websocket is down, and it fails a call that
reaches ``Stasis()`` meanwhile. So ``start()`` returns only once the first connection is up, and on
any loss (close, 1006, refused, 503 "Asterisk not booted", text/html 404 while ARI restarts, a
TLS certificate we do not trust: that one is also logged as an error, once per reason) the stream
reconnects with exponential backoff and jitter, forever unless ``give_up_after_s`` is set,
calling ``on_disconnected(reason)`` and then ``on_connected(reconnect=True)``: the app reconciles
there with ``GET /channels`` before the next event is dispatched.

``ApplicationReplaced`` (another websocket took our app name; Asterisk then sends us nothing more
but keeps the socket open) is logged at error level and passed to the handler, which decides.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from yarl import URL

from callwright.errors import AriError, AriUnavailable, ProtocolError

from .events import ApplicationReplaced, AriEvent, UnknownEvent, parse_event
from .tls import tls_failure

log = logging.getLogger(__name__)

EventHandler = Callable[[AriEvent], Awaitable[None]]
DisconnectedHandler = Callable[[str], Awaitable[None]]
_EXCERPT = 120
# Handshake answers that retrying will not fix (fatal for start(); logged loudly later on).
_HANDSHAKE_MESSAGES = {400: "Bad Request", 401: "Authentication required", 403: "Forbidden"}


class ConnectedHandler(Protocol):
    def __call__(self, *, reconnect: bool) -> Awaitable[None]: ...


@dataclass(frozen=True, slots=True)
class Backoff:
    """Reconnect delays: ``initial_s * factor**attempt``, capped at ``max_s``, then spread by
    ``± jitter`` (a fraction) so that many clients do not reconnect in step."""

    initial_s: float = 0.5
    factor: float = 2.0
    max_s: float = 30.0
    jitter: float = 0.2

    def delay(self, attempt: int, rng: random.Random) -> float:
        base = min(self.max_s, self.initial_s * self.factor ** min(attempt, 64))
        spread = base * self.jitter * (2.0 * rng.random() - 1.0)
        return max(0.0, min(self.max_s, base + spread))


def events_url(base_url: str) -> URL:
    """``http://h:8088`` -> ``ws://h:8088/ari/events`` (https -> wss), without any userinfo."""
    url = URL(base_url).with_user(None)
    scheme = {"http": "ws", "https": "wss"}.get(url.scheme, url.scheme)
    return url.with_scheme(scheme).with_path(url.path.rstrip("/") + "/ari/events")


class AriEventStream:
    """One ARI application's events websocket, reconnecting. See the module docstring."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        username: str,
        password: str,
        app: str,
        *,
        on_event: EventHandler,
        on_connected: ConnectedHandler | None = None,
        on_disconnected: DisconnectedHandler | None = None,
        reconnect_initial_s: float = 0.5,
        reconnect_factor: float = 2.0,
        reconnect_max_s: float = 30.0,
        reconnect_jitter: float = 0.2,
        give_up_after_s: float | None = None,
        start_timeout_s: float = 30.0,
        connect_timeout_s: float = 5.0,
        heartbeat_s: float | None = 20.0,
        stable_after_s: float = 5.0,
        rng: random.Random | None = None,
    ) -> None:
        if not app:
            raise ValueError("the ARI application name must not be empty")
        self._session = session
        self._url = events_url(base_url)
        self._headers = {"Authorization": aiohttp.encode_basic_auth(username, password)}
        self._app = app
        self._on_event = on_event
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self.backoff = Backoff(reconnect_initial_s, reconnect_factor, reconnect_max_s,
                               reconnect_jitter)
        self._give_up_after_s = give_up_after_s
        self._start_timeout_s = start_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._heartbeat_s = heartbeat_s
        self._stable_after_s = stable_after_s
        self._rng = rng or random.Random()
        self._task: asyncio.Task[None] | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._wake = asyncio.Event()
        self._first: asyncio.Future[None] | None = None
        self._stopping = False
        self._connecting = False
        self._connected = False
        self._failure: AriError | AriUnavailable | None = None
        self.last_disconnect_reason: str | None = None
        #: Counters, for logs and the admin status page.
        self.connects = 0
        self.reconnects = 0
        self.connect_failures = 0
        self.events_received = 0
        self.malformed_events = 0
        self.handler_errors = 0

    def __repr__(self) -> str:
        return f"AriEventStream({str(self._url)!r}, app={self._app!r})"

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def failure(self) -> AriError | AriUnavailable | None:
        """Why the stream ended by itself (gave up, or credentials refused), else None."""
        return self._failure

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, run ``on_connected(reconnect=False)``, and return.

        Raises :class:`AriUnavailable` if no connection is up within ``start_timeout_s``, or
        :class:`AriError` at once if Asterisk refuses the credentials or the app name.
        """
        if self._task is not None:
            raise RuntimeError("AriEventStream.start() called twice")
        self._first = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(), name=f"ari-events-{self._app}")
        try:
            async with asyncio.timeout(self._start_timeout_s):
                await asyncio.shield(self._first)
        except TimeoutError:
            reason = self.last_disconnect_reason or "no answer"
            await self.stop()
            raise AriUnavailable(
                f"ARI events websocket for app {self._app!r} not connected within "
                f"{self._start_timeout_s:g} s (last: {reason})"
            ) from None
        if self._failure is not None:
            await self.stop()
            raise self._failure
        if self.connects == 0:
            raise AriUnavailable(f"ARI events stream for app {self._app!r} stopped before "
                                 "it connected")

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Close the websocket and end the stream. Safe to call twice, or from a handler."""
        self._stopping = True
        self._wake.set()
        ws = self._ws
        if ws is not None and not ws.closed:
            await ws.close()
        task = self._task
        if task is None or task is asyncio.current_task() or task.done():
            return
        if self._connecting:  # a handshake in flight: nothing of ours runs, cancel it
            task.cancel()
        await asyncio.wait({task}, timeout=timeout_s)
        if not task.done():
            log.warning("ARI event stream: a handler is still running after %g s; cancelling",
                        timeout_s)
            task.cancel()
            await asyncio.wait({task})

    async def wait_closed(self) -> None:
        """Wait until the stream ends; raise the failure if it ended by itself."""
        if self._task is not None:
            await asyncio.wait({self._task})
        if self._failure is not None:
            raise self._failure

    # -- the loop --------------------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        down_since = time.monotonic()
        try:
            while not self._stopping:
                self._connecting = True
                try:
                    ws = await self._connect()
                finally:
                    self._connecting = False
                if ws is not None and self._stopping:
                    await ws.close()
                    return
                if ws is not None:
                    up_at = time.monotonic()
                    await self._serve(ws)
                    if time.monotonic() - up_at >= self._stable_after_s:
                        attempt = 0
                    down_since = time.monotonic()
                elif self._failure is not None:
                    return
                if self._stopping:
                    return
                down_for = time.monotonic() - down_since
                if self._give_up_after_s is not None and down_for >= self._give_up_after_s:
                    self._failure = AriUnavailable(
                        f"ARI events websocket for app {self._app!r}: giving up after "
                        f"{down_for:.1f} s (last: {self.last_disconnect_reason})"
                    )
                    log.error("%s", self._failure)
                    return
                delay = self.backoff.delay(attempt, self._rng)
                attempt += 1
                log.info("ARI events: reconnecting in %.2f s (attempt %d, down %.1f s)",
                         delay, attempt, down_for)
                await self._sleep(delay)
        finally:
            self._connected = False
            self._ws = None
            if self._first is not None and not self._first.done():
                self._first.set_result(None)

    async def _sleep(self, delay: float) -> None:
        try:
            async with asyncio.timeout(delay):
                await self._wake.wait()
        except TimeoutError:
            pass

    async def _connect(self) -> aiohttp.ClientWebSocketResponse | None:
        """One connection attempt; None (with ``last_disconnect_reason`` set) on failure."""
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                ws = await self._session.ws_connect(
                    self._url,
                    params={"app": self._app, "subscribeAll": "false"},
                    headers=self._headers,
                    heartbeat=self._heartbeat_s,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=2.0),
                )
        except aiohttp.WSServerHandshakeError as exc:
            message = _HANDSHAKE_MESSAGES.get(exc.status, exc.message)
            reason = f"handshake refused: HTTP {exc.status} {message}"
            if exc.status in _HANDSHAKE_MESSAGES:
                log.error("ARI events websocket for app %r refused: HTTP %d %s "
                          "(check the ARI user, password and app name)",
                          self._app, exc.status, message)
                if self.connects == 0:
                    self._failure = AriError("GET", "/events", exc.status, message)
        except TimeoutError:
            reason = f"no answer within {self._connect_timeout_s:g} s"
        except aiohttp.ClientSSLError as exc:  # retried like any failure, but said loudly
            reason = tls_failure(exc)
            if reason != self.last_disconnect_reason:
                log.error("ARI events websocket for app %r: %s", self._app, reason)
        except (aiohttp.ClientError, OSError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
        else:
            return ws
        self.connect_failures += 1
        self.last_disconnect_reason = reason
        log.debug("ARI events: connect to %s failed: %s", self._url, reason)
        return None

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        reconnect = self.connects > 0
        self.connects += 1
        if reconnect:
            self.reconnects += 1
        self._ws = ws
        self._connected = True
        log.info("ARI events websocket %s for app %r (%s)",
                 "reconnected" if reconnect else "connected", self._app, self._url)
        if self._on_connected is not None:
            try:
                await self._on_connected(reconnect=reconnect)
            except Exception:
                log.exception("ARI events: on_connected handler failed")
        if self._first is not None and not self._first.done():
            self._first.set_result(None)
        try:
            reason = await self._read(ws)
        except Exception as exc:  # an aiohttp surprise must not end the stream for good
            log.exception("ARI events: reading the websocket failed")
            reason = f"read failed: {type(exc).__name__}: {exc}"
        finally:
            self._connected = False
            self._ws = None
            if not ws.closed:
                await ws.close()
        self.last_disconnect_reason = reason
        if self._stopping:
            log.info("ARI events websocket for app %r closed", self._app)
            return
        log.warning("ARI events websocket for app %r lost: %s", self._app, reason)
        if self._on_disconnected is not None:
            try:
                await self._on_disconnected(reason)
            except Exception:
                log.exception("ARI events: on_disconnected handler failed")

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> str:
        """Dispatch messages until the websocket ends; return why it ended."""
        while True:
            msg = await ws.receive()
            if msg.type is aiohttp.WSMsgType.TEXT:
                await self._dispatch(msg.data)
            elif msg.type is aiohttp.WSMsgType.BINARY:
                self.malformed_events += 1
                log.warning("ARI events: skipped a binary message of %d bytes", len(msg.data))
            elif msg.type is aiohttp.WSMsgType.ERROR:
                return f"error {ws.exception()!r} (close code {ws.close_code})"
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                              aiohttp.WSMsgType.CLOSED):
                return f"closed (close code {ws.close_code})"

    async def _dispatch(self, text: str) -> None:
        self.events_received += 1
        try:
            event = parse_event(text)
        except ProtocolError as exc:
            self.malformed_events += 1
            log.warning("ARI events: skipped a malformed event (%s): %r", exc, text[:_EXCERPT])
            return
        if isinstance(event, UnknownEvent):
            log.debug("ARI events: unhandled event type %s", event.type)
        elif isinstance(event, ApplicationReplaced):
            log.error("ARI app %r was REPLACED: another process connected with the same app "
                      "name, and this connection will receive no more events", self._app)
        try:
            await self._on_event(event)
        except Exception:
            self.handler_errors += 1
            log.exception("ARI events: handler failed on %s", event.type)
