"""One Asterisk server a call node serves (issue 13): its ARI connection, its Stasis application,
its media legs and its sessions' services.

A node serves the PBXs of ``Settings.pbxes`` (the ``[[pbx]]`` list, or ``[ari]`` and ``[media]``
as one named ``default``). The composition root (:class:`~ari_app.service.CallService`) makes one
:class:`PbxLink` per PBX; everything else of the process (store, speech engines, dialogs, pacer
clock, write queue, post-call events) is shared. Each link has:

* ``settings``: the process's settings with ``ari`` and ``media`` replaced by the PBX's, so that
  everything reading ``svc.settings.ari`` or ``svc.settings.media`` in a call gets its own PBX's;
* its REST client and events WebSocket (each reconnecting and reconciling on its own), and its
  :class:`~ari_app.application.AriApplication` (sessions, media channels, kept transfers, drain);
* its AudioSocket server (on the PBX's ``audiosocket_port``) and media-leg factory (its RTP port
  range, its advertised address);
* its call repository, whose rows carry the node and the PBX
  (:class:`~callwright.store.calls.CallOrigin`), and which finds a restarted call's channel on
  this PBX only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import aiohttp

from ari_app.application import AriApplication
from ari_app.ari.connection import AriEventStream, ConnectedHandler
from ari_app.ari.events import StasisStart
from ari_app.ari.rest import AriRestClient
from ari_app.media_leg import MediaLeg
from ari_app.media_legs import MediaLegBuilder, build_media_leg_factory
from ari_app.services import SessionServices
from ari_app.session import CallSession
from ari_app.transports.audiosocket_server import AudioSocketServer
from callwright.config import PbxSettings, Settings
from callwright.media.pacer import PacerClock
from callwright.store.calls import CallOrigin, CallRepository
from callwright.store.db import Database
from callwright.store.queued_calls import QueuedCallRepository
from callwright.store.write_queue import WriteQueue
from callwright.webhooks.lifecycle import NotifyingCallRepository

log = logging.getLogger(__name__)

#: Wraps each new media leg (the service's RTP statistics: ServiceStatus.track_leg).
TrackLeg = Callable[[MediaLeg], MediaLeg]


def pbx_settings(settings: Settings, pbx: PbxSettings) -> Settings:
    """``settings`` as one PBX's calls see them: its ``ari`` and ``media``."""
    return replace(settings, ari=pbx.ari, media=pbx.media)


class PbxLink:
    def __init__(
        self,
        settings: Settings,
        pbx: PbxSettings,
        *,
        node_id: str,
        db: Database,
        writes: WriteQueue,
        http: aiohttp.ClientSession,
        clock: PacerClock,
        track_leg: TrackLeg,
        notifying: NotifyingCallRepository | None = None,
    ) -> None:
        self.name = pbx.name
        self.pbx = pbx
        self.settings = pbx_settings(settings, pbx)
        self.origin = CallOrigin(node_id, pbx.name)
        self._http = http
        self._track_leg = track_leg
        #: The rows this PBX's calls write, through the post-call events when there are any.
        self.calls: CallRepository = (
            CallRepository(db, origin=self.origin) if notifying is None else
            NotifyingCallRepository(db, notifying.post_call, origin=self.origin))
        #: The call path's repository: the same writes, in the process's write queue.
        self.queued_calls = QueuedCallRepository(db, writes, inner=self.calls)
        ari = pbx.ari
        self.rest = AriRestClient(http, ari.url, ari.username, ari.password)
        self.app = AriApplication(self.rest, app_name=ari.app, calls=self.calls)
        media = pbx.media
        self.audiosocket = AudioSocketServer(
            media.bind_host, media.audiosocket_port,
            advertise_host=media.advertise_host or media.bind_host,
        )
        self._legs: MediaLegBuilder = build_media_leg_factory(
            self.settings, self.audiosocket, http=http, ticker=clock
        )
        self.services: SessionServices | None = None
        self.stream: AriEventStream | None = None

    async def start_media(self) -> None:
        """Listen for AudioSocket media now when it is this PBX's transport (a taken port fails
        the start, not the first call)."""
        if self.pbx.media.transport == "audiosocket":
            await self.audiosocket.start()

    async def media_leg(self, overrides: Mapping[str, Any] | None = None) -> MediaLeg:
        """A new media leg toward this PBX: its default, or the assistant's overrides."""
        return self._track_leg(await self._legs(overrides))

    def wire(self, template: SessionServices) -> SessionServices:
        """This PBX's session services (``template``, the process-wide ones, with this PBX's
        REST client, settings, call repository, media legs and media channels), and its
        application's session factories."""
        services = replace(
            template, rest=self.rest, settings=self.settings, calls=self.queued_calls,
            media_legs=self.media_leg, expect_media_channel=self.app.expect_media_channel,
            forget_media_channel=self.app.forget_media_channel,
        )

        def new_session(event: StasisStart) -> CallSession:
            return CallSession(services, event)

        def recovered_session(event: StasisStart) -> CallSession:
            return CallSession(services, event, recovering=True)

        self.app.session_factory = new_session
        self.app.recovery_factory = recovered_session
        self.services = services
        return services

    async def connect(self, on_connected: ConnectedHandler | None = None) -> None:
        """Open the events WebSocket (returns once it is up: see AriEventStream.start).
        ``on_connected``: instead of the application's own (which it must call)."""
        ari = self.pbx.ari
        self.stream = AriEventStream(
            self._http, ari.url, ari.username, ari.password, ari.app,
            on_event=self.app.on_event,
            on_connected=on_connected or self.app.on_connected,
            on_disconnected=self.app.on_disconnected,
            reconnect_max_s=ari.reconnect_max_s,
        )
        await self.stream.start()
        log.info("PBX %s: connected to ARI at %s as app %r", self.name, ari.url, ari.app)

    async def disconnect(self) -> None:
        if self.stream is not None:
            await self.stream.stop()

    async def stop_media(self) -> None:
        await self.audiosocket.stop()
