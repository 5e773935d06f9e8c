"""The call service's composition root: every concrete class of the process is wired here.

``CallService(settings).start()`` opens the store (migrating it and closing calls a crash left
"in progress"), warms the process up, starts the process-wide pacer clock, and connects the ARI
events WebSocket. It returns only when that WebSocket is up, so no call can reach ``Stasis()``
while we are not listening (Asterisk would fail it).

Warming up (:mod:`callwright.speech.warmup`) comes before the connection, so no call is the first
user of anything slow: the native modules of every installed speech engine are imported, every
assistant's engines are built and warmed at its calls' sample rate (``warm_streams`` free-speech
recognizers each), the LLM client of every LLM assistant is built, and every greeting and fixed
flow prompt is synthesised, with the lines said when a dependency fails (so a TTS engine that
dies mid-call still has them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp

from ari_app.application import AriApplication
from ari_app.ari.connection import AriEventStream
from ari_app.ari.events import StasisStart
from ari_app.ari.rest import AriRestClient
from ari_app.audiosocket_session import DialplanAudioSocket
from ari_app.media_leg import MediaLeg, media_format_for
from ari_app.media_legs import MediaLegBuilder, build_media_leg_factory, media_choice
from ari_app.outbound_call import OutboundOptions
from ari_app.outbound_jobs import OutboundJobs
from ari_app.post_call_events import PostCallService, calls_left_open
from ari_app.recovery import dialplan_target
from ari_app.service_status import ServiceStatus
from ari_app.services import SessionServices
from ari_app.session import CallSession
from ari_app.transports.audiosocket_server import AudioSocketServer
from callwright.call.assistant_runtime import AssistantRuntime, voice_for
from callwright.call.live import LiveCalls
from callwright.config import Settings
from callwright.dialog.fixed_prompts import failure_prompts, fixed_prompts
from callwright.dialog.llm_client import LlmClientFactory
from callwright.errors import CallwrightError, ConfigError, MediaError, SpeechError
from callwright.media.codecs import check_rtp_send_format
from callwright.media.pacer import PacerClock
from callwright.media.recorder import repair_wav
from callwright.privacy.keyring import Keyring
from callwright.privacy.restrictions import CallerRestrictionRepository
from callwright.privacy.retention_job import RetentionJob
from callwright.privacy.secrets import MasterKey
from callwright.speech.registry import SpeechEngines
from callwright.speech.vosk_stt import SHARED_MODELS, VoskModelCache
from callwright.speech.warmup import (
    DEFAULT_WARM_STREAMS,
    EngineUse,
    import_native_modules,
    warm_engines,
)
from callwright.store.assistants import Assistant, AssistantRepository
from callwright.store.credentials import CredentialRepository
from callwright.store.db import Database
from callwright.store.numbers import NumberRepository
from callwright.store.numbers_audiosocket import AudioSocketNumbers
from callwright.store.orgs import OrgRepository
from callwright.store.queued_calls import QueuedCallRepository
from callwright.store.recovery import close_abandoned_calls
from callwright.store.write_queue import WriteQueue
from callwright.tls import ari_client_context, require_readable

log = logging.getLogger(__name__)

#: At stop, how long the call path's queued store writes get to go through a locked store.
STOP_WRITES_S = 10.0
#: How often the retention job sweeps the store (it also runs once at start-up).
RETENTION_INTERVAL_S = 3600.0


def _repair_if_present(path: Path) -> bool:
    return path.exists() and repair_wav(path)


class CallService:
    """The call service of one process. ``warm_streams``: free-speech streams made warm at
    start-up per STT engine and call rate (see :func:`callwright.speech.warmup.warm_stt`);
    ``ari_tls``: the TLS context for Asterisk, built by :meth:`start` when not given."""

    def __init__(
        self,
        settings: Settings,
        *,
        vosk_models: VoskModelCache = SHARED_MODELS,
        warm_streams: int = DEFAULT_WARM_STREAMS,
        ari_tls: ssl.SSLContext | None = None,
    ) -> None:
        if not settings.ari.enabled:
            raise ConfigError("ari.url", "the URL of Asterisk's HTTP server, e.g. http://127.0.0.1:8088")
        if settings.media.transport == "rtp":
            check_rtp_send_format(settings.media.format)
        if settings.ari.verify and settings.ari.ca_file is not None:
            # A missing or unreadable ari.ca_file stops us here, before anything starts; what
            # is in it is read at the start of start(), with the rest of the TLS context.
            require_readable("ari.ca_file", settings.ari.ca_file)
        #: One TLS context for everything to Asterisk (REST, events, media websockets): given,
        #: or built on a worker thread first thing in :meth:`start` (loading the system's or
        #: ari.ca_file's CA certificates takes 150 ms and more: never on the event loop).
        self._ari_tls = ari_tls
        self.settings = settings
        self.warm_streams = warm_streams
        self.live = LiveCalls()
        self.clock = PacerClock()
        self.speech = SpeechEngines(settings.speech, vosk_models=vosk_models)
        #: The call path's store writes, in order, retried while the store is locked.
        self.writes = WriteQueue()
        self.db: Database | None = None
        self.app: AriApplication | None = None
        self._http: aiohttp.ClientSession | None = None
        self._ari_http: aiohttp.ClientSession | None = None  # to Asterisk only (its TLS trust)
        self._stream: AriEventStream | None = None
        self.llm_clients: LlmClientFactory | None = None
        self._retention: asyncio.Task[None] | None = None
        #: Post-call webhooks: the queueing call repository and the delivery worker.
        self.post_call: PostCallService | None = None
        self.audiosocket: AudioSocketServer | None = None
        #: Calls from the AudioSocket() dialplan application (see ari_app.audiosocket_session).
        self.audiosocket_dialplan: DialplanAudioSocket | None = None
        self._legs: MediaLegBuilder | None = None
        #: Places the queued outbound calls and runs the campaign dialler (ari_app.outbound_jobs).
        self.outbound: OutboundJobs | None = None
        #: Health, readiness and metrics, served on [server] status_port (ari_app.service_status).
        self.status = ServiceStatus(
            settings.server, live=self.live, clock=self.clock, speech=self.speech,
            events=lambda: self._stream, db=lambda: self.db,
            draining=lambda: self.app is not None and self.app.draining,
        )

    @property
    def ari_tls(self) -> ssl.SSLContext | None:
        """The TLS context for Asterisk: given to the constructor, or built by :meth:`start`."""
        return self._ari_tls

    async def start(self) -> None:
        settings = self.settings
        if self._ari_tls is None:  # a bad ari.ca_file stops us here, before the store opens
            self._ari_tls = await asyncio.to_thread(ari_client_context, settings.ari)
        self.db = await Database.open(settings.store.path)
        left_open = await calls_left_open(self.db)  # their call.ended: PostCallService
        closed = await close_abandoned_calls(self.db)
        if closed:
            log.warning("closed %d call(s) left in progress by a previous run", closed)
        await self._repair_recordings(self.db)
        # Native imports hold the GIL even on a thread: all of them now, before any engine loads.
        took = await asyncio.to_thread(import_native_modules)
        log.info("imported the speech engines' modules in %.2f s", sum(took.values()))
        await self.speech.stt_for(None)  # load the default model now, not on the first call
        self.clock.start()
        self._http = aiohttp.ClientSession()
        self._ari_http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self._ari_tls))
        master_key = await asyncio.to_thread(
            MasterKey.load_or_create, settings.server.master_key_file
        )
        self._retention = asyncio.get_running_loop().create_task(
            RetentionJob(self.db).run_forever(RETENTION_INTERVAL_S), name="retention"
        )
        credentials = CredentialRepository(self.db, master_key)
        if settings.llm.enabled:
            self.llm_clients = LlmClientFactory(settings.llm, credentials)
            await self.llm_clients.start()
        assistants = AssistantRepository(self.db)
        runtime = AssistantRuntime(
            settings, assistants, db=self.db, llm_clients=self.llm_clients, http=self._http,
            credentials=credentials,
        )
        await self._prewarm(assistants)
        await self._start_media()
        ari = settings.ari
        rest = AriRestClient(self._ari_http, ari.url, ari.username, ari.password)
        self.post_call = PostCallService(self.db, master_key, self._http,
                                         settings.admin.public_url)
        # Its repository: a transfer kept over a restart, closed by the app, sends call.ended.
        self.app = AriApplication(rest, app_name=ari.app, calls=self.post_call.calls)
        self.post_call.start()
        app, reconciled = self.app, asyncio.Event()
        self.post_call.after_restart(left_open, reconciled, lambda: app.last_plan)

        async def on_connected(reconnect: bool) -> None:
            await app.on_connected(reconnect)
            reconciled.set()  # the first reconciliation ran: the restart's call.ended can go
        services = SessionServices(
            rest=rest,
            settings=settings,
            calls=QueuedCallRepository(self.db, self.writes, inner=self.post_call.calls),
            numbers=NumberRepository(self.db),
            dialogs=runtime,
            speech=self.speech,
            clock=self.clock,
            media_legs=self._media_leg,
            recordings_dir=Path(settings.recordings.dir),
            live=self.live,
            restrictions=CallerRestrictionRepository(self.db, master_key),
            orgs=OrgRepository(self.db),
            master_key=master_key,
            keyring=Keyring(self.db, master_key),
            expect_media_channel=self.app.expect_media_channel,
            forget_media_channel=self.app.forget_media_channel,
            count_recovery=self.status.metrics.recovery,
            writes=self.writes,
        )

        def new_session(event: StasisStart) -> CallSession:
            return CallSession(services, event)

        self.app.session_factory = new_session
        self._wire_recovery(services)
        # -- AudioSocket() dialplan calls: listening if a number has an AudioSocket UUID ---------
        assert self.audiosocket is not None
        self.audiosocket_dialplan = DialplanAudioSocket(
            self.audiosocket, services, AudioSocketNumbers(self.db)
        )
        await self.audiosocket_dialplan.refresh()
        # -- end of AudioSocket() dialplan calls ---------------------------------------------------
        await self.status.start()  # a taken status port fails here, before ARI sends us calls
        self._stream = AriEventStream(
            self._ari_http,
            settings.ari.url,
            settings.ari.username,
            settings.ari.password,
            settings.ari.app,
            on_event=self.app.on_event,
            on_connected=on_connected,
            on_disconnected=self.app.on_disconnected,
            reconnect_max_s=settings.ari.reconnect_max_s,
        )
        await self._stream.start()
        log.info("connected to ARI at %s as app %r", settings.ari.url, settings.ari.app)
        # Outbound calls and campaigns (ari_app.outbound_jobs), once ARI is connected.
        self.outbound = OutboundJobs(services, self.db, self.app, node=settings.node_id,
                                     options=OutboundOptions(app=settings.ari.app))
        await self.outbound.start()

    # -- media legs (RTP, AudioSocket, WebSocket; see ari_app.media_legs) -------------------------
    async def _start_media(self) -> None:
        media = self.settings.media
        self.audiosocket = AudioSocketServer(
            media.bind_host, media.audiosocket_port,
            advertise_host=media.advertise_host or media.bind_host,
        )
        if media.transport == "audiosocket":
            await self.audiosocket.start()  # fail at start-up, not on the first call
        self._legs = build_media_leg_factory(
            self.settings, self.audiosocket, http=self._ari_http, ticker=self.clock
        )

    async def _media_leg(self, overrides: Mapping[str, Any] | None = None) -> MediaLeg:
        """A new media leg: the server default, or the assistant's ``media`` overrides."""
        if self._legs is None:
            raise MediaError("the call service is not started")
        return self.status.track_leg(await self._legs(overrides))
    # -- end of media legs -------------------------------------------------------------------------

    async def _prewarm(self, assistants: AssistantRepository) -> None:
        """Warm every assistant's speech engines and LLM client, then synthesise its greeting and
        fixed flow prompts, so that no call is the first to use them and the first words (and
        every scripted reply) need no TTS during the call."""
        listed = await assistants.list_all()
        server_rate = media_format_for(self.settings.media.format).sample_rate
        uses = [EngineUse(None, None, server_rate, self.settings.calls.unknown_number_voice,
                          name="calls to unknown numbers")]
        for assistant in listed:
            rate = self._sample_rate(assistant)
            voice = voice_for(assistant.language, assistant.tts)
            uses.append(EngineUse(assistant.stt, assistant.tts, rate, voice, name=assistant.name))
        await warm_engines(self.speech, uses, streams=self.warm_streams)
        for assistant in listed:
            await self._prewarm_llm_client(assistant)
            rate = self._sample_rate(assistant)
            texts = [assistant.greeting] if assistant.greeting else []
            flow = await assistants.latest_flow(assistant.id)
            if flow is not None:
                texts.extend(fixed_prompts(flow[1]))
            texts.extend(failure_prompts(assistant.language))  # ready if the TTS engine fails
            voice = voice_for(assistant.language, assistant.tts)
            try:
                tts = await self.speech.tts_for(assistant.tts)
                await tts.prewarm(texts, rate, voice)
            except (SpeechError, ConfigError) as exc:
                log.warning("could not prepare the prompts of %s: %s", assistant.name, exc)

    def _sample_rate(self, assistant: Assistant) -> int:
        choice = media_choice(self.settings.media, assistant.media)
        return media_format_for(choice.format).sample_rate

    async def _prewarm_llm_client(self, assistant: Assistant) -> None:
        """Build the LLM client an LLM assistant's calls use (one per org key; built on first use
        otherwise, which the first call would wait for)."""
        if self.llm_clients is None or not assistant.llm.get("enabled", False):
            return
        credential = assistant.llm.get("credential")
        try:
            await self.llm_clients.client_for(
                assistant.org_id, credential if isinstance(credential, str) else None
            )
        except CallwrightError as exc:  # its calls say so; the others must still be served
            log.warning("the LLM of %s is unavailable: %s", assistant.name, exc)

    async def _repair_recordings(self, db: Database) -> None:
        rows = await db.fetch_all(
            "SELECT recording_path FROM calls WHERE recording_path IS NOT NULL"
            " AND end_reason = 'server_restart'"
        )
        for row in rows:
            path = Path(row[0])
            if await asyncio.to_thread(_repair_if_present, path):
                log.info("repaired recording %s", path)

    # -- recovery, drain and stop (ari_app.recovery, ari_app.application) -------------------------
    def _wire_recovery(self, services: SessionServices) -> None:
        """Callers found in our app with no session (after a crash, a restart or a reconnect)
        get a session in recovery mode; see ari_app.recovery."""
        assert self.app is not None

        def recovered_session(event: StasisStart) -> CallSession:
            return CallSession(services, event, recovering=True)

        self.app.recovery_factory = recovered_session

    async def drain(self, *, now: asyncio.Event | None = None) -> None:
        """Graceful drain (SIGTERM, ``callwright drain``): still connected, new callers go back
        to the dialplan, calls in progress get ``[calls] drain_s`` to end, then each remaining
        caller hears a line and is handed back (``[calls] fallback_target``). ``now``, once set
        (a second SIGTERM), hands everyone back at once. :meth:`stop` then closes the rest."""
        if self.app is None:
            return
        calls = self.settings.calls
        await self.app.drain(calls.drain_s, dialplan_target(calls.fallback_target), now=now)

    async def stop(self) -> None:
        """Hand every caller still here back to the dialplan at once (no line: see :meth:`drain`
        for the graceful way), close their rows, and only then the events WebSocket."""
        if self.outbound is not None:
            await self.outbound.stop()
        if self.app is not None:
            at_once = asyncio.Event()
            at_once.set()
            await self.app.drain(0.0, dialplan_target(self.settings.calls.fallback_target),
                                 now=at_once)
        if self._stream is not None:
            await self._stream.stop()
    # -- end of recovery, drain and stop -----------------------------------------------------------
        await self.clock.stop()
        if self._retention is not None:
            self._retention.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retention
        if self.post_call is not None:
            await self.post_call.stop()
        if self.audiosocket is not None:
            await self.audiosocket.stop()
        await self.speech.close()
        if self.llm_clients is not None:
            await self.llm_clients.aclose()
        if self._http is not None:
            await self._http.close()
        if self._ari_http is not None:
            await self._ari_http.close()
        await self.status.stop()
        lost = await self.writes.close(STOP_WRITES_S)
        if lost:
            log.error("%d store write(s) lost: the store stayed locked at shutdown", lost)
        if self.db is not None:
            await self.db.close()
