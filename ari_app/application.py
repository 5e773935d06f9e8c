"""The Stasis application: routes ARI events to one CallSession per caller channel.

Channels we create ourselves (ExternalMedia, originated legs) also get a StasisStart in our app
(DESIGN §2 step 2). We give them ids we chose (``channelId``) before asking Asterisk for them, so
their StasisStart is recognised even when it arrives before the HTTP response; a media-looking
channel we do not know is logged and ignored, never treated as a caller.
After an events WebSocket reconnect, Asterisk does not replay what we missed: we reconcile with
``GET /channels`` and end the sessions whose caller is gone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ari_app.ari.events import ApplicationReplaced, AriEvent, StasisStart
from ari_app.ari.models import Channel
from ari_app.ari.rest import AriRestClient
from ari_app.session import CallSession
from callwright.errors import CallwrightError

log = logging.getLogger(__name__)

MEDIA_CHANNEL_PREFIXES = ("UnicastRTP/", "AudioSocket/", "WebSocket/", "Snoop/", "Recorder/")

SessionFactory = Callable[[StasisStart], CallSession]


class AriApplication:
    def __init__(self, rest: AriRestClient, session_factory: SessionFactory | None = None) -> None:
        self._rest = rest
        self.session_factory = session_factory
        self.sessions: dict[str, CallSession] = {}          # caller channel id → session
        self._media: dict[str, CallSession] = {}            # our media channel id → session
        self._tasks: set[asyncio.Task[None]] = set()
        self.ignored_channels = 0

    # -- registry used by sessions ---------------------------------------------------------------

    def expect_media_channel(self, channel_id: str, session: CallSession) -> None:
        self._media[channel_id] = session

    def forget_media_channel(self, channel_id: str) -> None:
        self._media.pop(channel_id, None)

    # -- events ----------------------------------------------------------------------------------

    async def on_event(self, event: AriEvent) -> None:
        if isinstance(event, ApplicationReplaced):
            log.error("another process connected as our ARI application: events now go there")
            return
        channel = getattr(event, "channel", None)
        if not isinstance(channel, Channel):
            return
        media_session = self._media.get(channel.id)
        if media_session is not None:
            media_session.handle(event)
            return
        session = self.sessions.get(channel.id)
        if session is not None:
            session.handle(event)
            return
        if isinstance(event, StasisStart):
            self._new_caller(event)

    def _new_caller(self, event: StasisStart) -> None:
        channel = event.channel
        if channel.name.startswith(MEDIA_CHANNEL_PREFIXES) or channel.id.startswith("cw-"):
            self.ignored_channels += 1
            log.info("ignoring StasisStart of media channel %s (%s)", channel.id, channel.name)
            return
        if self.session_factory is None:
            log.error("no session factory: cannot take call on %s", channel.id)
            return
        session = self.session_factory(event)
        self.sessions[channel.id] = session
        task = asyncio.get_running_loop().create_task(self._run(session))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, session: CallSession) -> None:
        try:
            await session.run()
        finally:
            self.sessions.pop(session.channel.id, None)

    # -- connection lifecycle --------------------------------------------------------------------

    async def on_connected(self, reconnect: bool) -> None:
        if not reconnect or not self.sessions:
            return
        try:
            alive = {channel.id for channel in await self._rest.list_channels()}
        except CallwrightError as exc:
            log.warning("could not reconcile after reconnect: %s", exc)
            return
        for channel_id, session in list(self.sessions.items()):
            if channel_id not in alive:
                log.warning("channel %s vanished while ARI was disconnected", channel_id)
                session.caller_vanished()

    async def on_disconnected(self, reason: str) -> None:
        log.warning("ARI events connection lost (%s); calls in progress keep their media", reason)

    async def drain(self, grace_s: float = 10.0) -> None:
        """Wait for calls in progress to end (graceful shutdown), then cancel the rest."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
