"""One AMI connection through panoramisk (``[ami] host, port, username, secret``).

panoramisk's :class:`~panoramisk.Manager` logs in on connect and reconnects by itself
(``reconnect_timeout``) when the connection drops; :meth:`AmiClient.connect` waits for the first
login. Event handlers must be ``async def`` (:meth:`AmiClient.on_event` refuses anything else).
Measured with panoramisk 1.4 (tests/ari_app/ami): a plain function *is* called, but inline in
the protocol's ``data_received``, so a slow one holds up every message behind it and an
exception it raises reaches asyncio's transport, which closes the connection; the issue's
"silently dropped" is not what 1.4 does. A coroutine function's call is scheduled as a task
instead; ours are wrapped so that a failing handler is logged and never ends the connection.

Answers are panoramisk messages (case-insensitive dicts); list actions (``EventList: start``)
come back as the list of every message up to the ``…Complete`` event.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from panoramisk import Manager
from panoramisk.message import Message

from callwright.errors import CallwrightError

log = logging.getLogger(__name__)

EventHandler = Callable[[Message], Awaitable[None]]
#: How long an action may take before it is given up (seconds).
ACTION_TIMEOUT_S = 10.0


class AmiError(CallwrightError):
    """The AMI refused an action (``Response: Error``) or could not be reached."""


@dataclass(frozen=True, slots=True)
class AmiSettings:
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = ""
    secret: str = ""
    reconnect_s: float = 2.0
    ping_s: float = 10.0


class AmiClient:
    def __init__(self, settings: AmiSettings, *, events: bool = True) -> None:
        self.settings = settings
        self._logged_in = asyncio.Event()
        self._manager: Manager | None = None
        self._events = events
        self._connecting: asyncio.Future[Any] | None = None
        self.logins = 0
        self.disconnects = 0

    @property
    def manager(self) -> Manager | None:
        """The panoramisk Manager (None before :meth:`connect` and after :meth:`close`)."""
        return self._manager

    @property
    def connected(self) -> bool:
        return self._logged_in.is_set()

    async def connect(self, timeout_s: float = 5.0) -> None:
        """Connect and log in (panoramisk reconnects on its own afterwards); AmiUnavailable when
        the first login does not succeed within ``timeout_s``, saying why when the PBX did: the
        connection refused (or the host unknown), or the login refused with the AMI's message
        ("Authentication failed")."""
        s = self.settings
        refused: asyncio.Future[AmiUnavailable] = asyncio.get_running_loop().create_future()

        def refuse(error: AmiUnavailable) -> None:
            if not refused.done():
                refused.set_result(error)

        def on_login(_: Manager) -> None:
            self.logins += 1
            self._logged_in.set()

        def on_connect(manager: Manager) -> None:
            login = manager.authenticated_future
            if login is not None and self.logins == 0:
                login.add_done_callback(login_answered)

        def login_answered(login: asyncio.Future[Message]) -> None:
            if login.cancelled() or login.exception() is not None:
                return
            answer = login.result()
            if not answer.success:
                refuse(AmiLoginRefused(f"AMI at {s.host}:{s.port}: the login was refused: "
                                       f"{answer.get('Message') or 'no reason given'}"))

        def connection_tried(attempt: asyncio.Future[Any]) -> None:
            if not attempt.cancelled() and attempt.exception() is not None:
                refuse(AmiConnectFailed(f"AMI at {s.host}:{s.port}: cannot connect: "
                                        f"{attempt.exception()}"))

        def on_disconnect(_: Manager, exc: object) -> None:
            self.disconnects += 1
            self._logged_in.clear()
            log.warning("AMI connection to %s:%s lost (%s); reconnecting", s.host, s.port, exc)

        self._manager = Manager(
            loop=asyncio.get_running_loop(), host=s.host, port=s.port, username=s.username,
            secret=s.secret, events="on" if self._events else "off",
            reconnect_timeout=s.reconnect_s, ping_delay=s.ping_s, ping_interval=s.ping_s,
            on_login=on_login, on_disconnect=on_disconnect, on_connect=on_connect,
        )
        manager = self._manager

        def reconnect(*args: Any, **kwargs: Any) -> Any:
            # panoramisk's reconnect timer looks manager.connect up when it is set: once this
            # client is closed, a timer left running tries nothing.
            return Manager.connect(manager, *args, **kwargs) if self._manager is manager else None

        self._connecting = manager.connect()
        manager.connect = reconnect
        self._connecting.add_done_callback(connection_tried)
        logged_in: asyncio.Future[Any] = asyncio.ensure_future(self._logged_in.wait())
        waits: set[asyncio.Future[Any]] = {logged_in, refused}
        try:
            await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            logged_in.cancel()
        if self._logged_in.is_set():
            return
        self.close()
        if refused.done():
            raise refused.result()
        raise AmiUnavailable(f"no AMI login at {s.host}:{s.port} within {timeout_s} s")

    def close(self) -> None:
        if self._manager is not None:
            manager, self._manager = self._manager, None
            manager.callbacks.clear()
            manager.close()
            # panoramisk reconnects from connection_lost (and from a timer after a refused
            # connection: see connect); closing on purpose must not, nor keep an attempt made.
            manager.connection_lost = lambda exc: None
            if self._connecting is not None and not self._connecting.done():
                self._connecting.add_done_callback(drop_connection)
        self._connecting = None
        self._logged_in.clear()

    def on_event(self, pattern: str, handler: EventHandler) -> None:
        """Call ``handler`` (an ``async def``) for each event matching ``pattern`` (fnmatch)."""
        if not inspect.iscoroutinefunction(handler):
            raise TypeError(
                "AMI event handlers must be 'async def': panoramisk drops what a plain "
                f"function returns ({handler!r})")
        if self._manager is None:
            raise AmiError("not connected")

        async def call(_: Manager, event: Message) -> None:
            try:
                await handler(event)
            except Exception:  # a handler's failure must not end the connection's reading
                log.exception("AMI event handler for %s failed", pattern)

        self._manager.register_event(pattern, call)

    async def action(self, fields: Mapping[str, Any], *,
                     timeout_s: float = ACTION_TIMEOUT_S) -> list[Message]:
        """Send an action; its messages (one for a plain action, every one of a list). Raises
        AmiError on ``Response: Error`` or when not connected."""
        if self._manager is None or not self._logged_in.is_set():
            raise AmiError(f"AMI not connected ({self.settings.host}:{self.settings.port})")
        future = self._manager.send_action(dict(fields))
        try:
            answer = await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            raise AmiError(f"AMI action {fields.get('Action')} timed out") from None
        messages: list[Message] = answer if isinstance(answer, list) else [answer]
        first = messages[0]
        if str(first.get("Response", "")).lower() == "error":
            raise AmiError(f"AMI {fields.get('Action')}: {first.get('Message', 'error')}")
        return messages


def drop_connection(attempt: asyncio.Future[Any]) -> None:
    """A connection attempt's callback once the client is closed: a connection made is closed,
    and nothing is tried again."""
    if not attempt.cancelled() and attempt.exception() is None:
        transport, _ = attempt.result()
        transport.close()


class AmiUnavailable(AmiError):
    """The AMI could not be reached or refused the login."""


class AmiConnectFailed(AmiUnavailable):
    """No connection to the AMI's port (refused, unreachable, unknown host)."""


class AmiLoginRefused(AmiUnavailable):
    """The AMI answered the login with an error (a wrong user or secret)."""
