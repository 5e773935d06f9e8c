"""The events websocket (``/ari/events?app=NAME``) and the Stasis applications behind it.

Behaviour reproduced from Asterisk 22:
* An app exists once a websocket registered it. When that websocket goes away the app is kept,
  inactive, while it still has channels or bridges, and forgotten otherwise.
* Events for an app with no websocket are dropped, never buffered.
* A second websocket for the same app takes the events over; the first one receives
  ``ApplicationReplaced`` and stays open, receiving nothing more.
* Messages from the client are read and ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from ari_app.simulator.events import Event, EventFactory

log = logging.getLogger(__name__)

#: How long a REST handler waits for its events to be written before it answers.
DRAIN_TIMEOUT_S = 0.5


class EventConnection:
    """One events websocket: a queue and a writer task, so publishing never blocks."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, apps: list[str]) -> None:
        self.ws = ws
        self.request = request
        self.apps = apps
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.closed = False
        self._writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    def send(self, text: str) -> None:
        if not self.closed:
            self.queue.put_nowait(text)

    async def _write_loop(self) -> None:
        while True:
            text = await self.queue.get()
            try:
                if not self.closed:
                    await self.ws.send_str(text)
            except (ConnectionError, RuntimeError) as exc:
                log.debug("events websocket write failed: %s", exc)
                self.closed = True
            finally:
                self.queue.task_done()

    async def drained(self) -> None:
        await self.queue.join()

    def abort(self) -> None:
        """Drop the TCP connection with no close frame (the client sees 1006)."""
        self.closed = True
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    async def stop(self) -> None:
        self.closed = True
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer


@dataclass(slots=True)
class AppState:
    name: str
    connection: EventConnection | None = None
    subscribe_all: bool = False
    events_allowed: list[Any] = field(default_factory=list)
    events_disallowed: list[Any] = field(default_factory=list)


class EventHub:
    """Registered Stasis apps, their websockets, and event delivery.

    ``has_subscriptions(app)`` tells whether the app still has channels or bridges (the core
    knows); it decides whether an app survives the loss of its websocket.
    """

    def __init__(
        self,
        factory: EventFactory,
        asterisk_id: str,
        has_subscriptions: Callable[[str], bool],
    ) -> None:
        self._factory = factory
        self.asterisk_id = asterisk_id
        self._has_subscriptions = has_subscriptions
        self.apps: dict[str, AppState] = {}
        self._connections: set[EventConnection] = set()

    # -- queries -------------------------------------------------------------------------------
    def exists(self, app: str) -> bool:
        return app in self.apps

    def is_active(self, app: str) -> bool:
        state = self.apps.get(app)
        return state is not None and state.connection is not None

    # -- delivery ------------------------------------------------------------------------------
    def publish(self, apps: Iterable[str], event: Event) -> None:
        targets = set(apps)
        targets.update(name for name, st in self.apps.items() if st.subscribe_all)
        for app in sorted(targets):
            state = self.apps.get(app)
            if state is None or state.connection is None:
                continue  # not buffered: Asterisk logs "missed message" and drops it
            out = dict(event)
            out["asterisk_id"] = self.asterisk_id
            out["application"] = app
            state.connection.send(json.dumps(out, separators=(",", ":")))

    async def drain(self) -> None:
        """Wait (briefly) until every queued event has been written to its websocket."""
        waits = [c.drained() for c in self._connections if not c.closed]
        if waits:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*waits), DRAIN_TIMEOUT_S)

    def forget_if_idle(self, app: str) -> None:
        """Forget an inactive app once it has nothing left (called when channels go away)."""
        state = self.apps.get(app)
        if state is not None and state.connection is None and not self._has_subscriptions(app):
            del self.apps[app]

    # -- websocket lifecycle -------------------------------------------------------------------
    async def serve(
        self, request: web.Request, apps: list[str], subscribe_all: bool
    ) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = EventConnection(ws, request, apps)
        conn.start()
        self._attach(conn, subscribe_all)
        try:
            async for msg in ws:
                if msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            self._detach(conn)
            await conn.stop()
        return ws

    def _attach(self, conn: EventConnection, subscribe_all: bool) -> None:
        self._connections.add(conn)
        for app in conn.apps:
            state = self.apps.get(app)
            if state is None:
                state = self.apps[app] = AppState(app)
            old = state.connection
            if old is not None and old is not conn:
                event = self._factory.application_replaced(app, self.asterisk_id)
                old.send(json.dumps(event, separators=(",", ":")))
            state.connection = conn
            state.subscribe_all = subscribe_all

    def _detach(self, conn: EventConnection) -> None:
        self._connections.discard(conn)
        for app in conn.apps:
            state = self.apps.get(app)
            if state is None or state.connection is not conn:
                continue
            state.connection = None
            state.subscribe_all = False
            self.forget_if_idle(app)

    def abort_all(self) -> None:
        """Asterisk died: every events websocket drops without a close frame."""
        for conn in list(self._connections):
            conn.abort()

    def reset(self) -> None:
        """A restarted Asterisk knows no apps."""
        self.apps.clear()
