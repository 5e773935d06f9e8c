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

Several PBXs and several nodes (issue 13): the node serves every PBX of ``Settings.pbxes``, each
through its own :class:`~ari_app.pbx_link.PbxLink` (ARI connection, application, media); the rest
of the process is shared. Its calls carry its ``node_id`` and their PBX; at start-up it closes
only its own calls left in progress; its heartbeat and the jobs that run on one node at a time
are :class:`~callwright.cluster.node_jobs.NodeJobs`, started as on every call node (see
docs/scale-out.md).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp

from ari_app.application import AriApplication
from ari_app.ari.connection import AriEventStream, ConnectedHandler
from ari_app.audiosocket_session import DialplanAudioSocket
from ari_app.media_leg import media_format_for
from ari_app.media_legs import media_choice
from ari_app.outbound_jobs import OutboundJobs
from ari_app.pbx_link import PbxLink
from ari_app.reconcile import ReconcilePlan
from ari_app.recovery import dialplan_target
from ari_app.service_status import ServiceStatus
from ari_app.services import SessionServices
from ari_app.transports.audiosocket_server import AudioSocketServer
from callwright.call.assistant_runtime import AssistantRuntime, voice_for
from callwright.call.live import LiveCalls
from callwright.cluster.node_jobs import NodeJobs, start_node_jobs
from callwright.config import PbxSettings, Settings
from callwright.dialog.fixed_prompts import failure_prompts, fixed_prompts
from callwright.dialog.llm_client import LlmClientFactory
from callwright.errors import CallwrightError, ConfigError, SpeechError
from callwright.media.codecs import check_rtp_send_format
from callwright.media.pacer import PacerClock
from callwright.media.recorder import repair_wav
from callwright.privacy.keyring import Keyring
from callwright.privacy.restrictions import CallerRestrictionRepository
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
from callwright.store.calls import CallRepository
from callwright.store.credentials import CredentialRepository
from callwright.store.db import Database, open_store
from callwright.store.numbers import NumberRepository
from callwright.store.numbers_audiosocket import AudioSocketNumbers
from callwright.store.orgs import OrgRepository
from callwright.store.prompts import PromptRepository
from callwright.store.recovery import close_abandoned_calls
from callwright.store.write_queue import WriteQueue
from callwright.tls import ari_client_context, require_readable
from callwright.webhooks.post_call import PostCallService, calls_left_open

log = logging.getLogger(__name__)

#: At stop, how long the call path's queued store writes get to go through a locked store.
STOP_WRITES_S = 10.0


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
        settle: Callable[[], float] | None = None,
    ) -> None:
        if not settings.pbxes:
            raise ConfigError("ari.url", "the URL of Asterisk's HTTP server, e.g. http://127.0.0.1:8088")
        for pbx in settings.pbxes:
            if pbx.media.transport == "rtp":
                check_rtp_send_format(pbx.media.format)
        self.node_id = settings.node_id
        #: One per PBX served, in the order of Settings.pbxes; ``app`` is the first one's.
        self.links: list[PbxLink] = []
        self._link_http: list[aiohttp.ClientSession] = []  # PBXs with a TLS trust of their own
        self.node_jobs: NodeJobs | None = None
        if settings.ari.verify and settings.ari.ca_file is not None:
            # A missing or unreadable ari.ca_file stops us here, before anything starts; what
            # is in it is read at the start of start(), with the rest of the TLS context.
            require_readable("ari.ca_file", settings.ari.ca_file)
        #: One TLS context for everything to Asterisk (REST, events, media websockets): given,
        #: or built on a worker thread first thing in :meth:`start` (loading the system's or
        #: ari.ca_file's CA certificates takes 150 ms and more: never on the event loop).
        self._ari_tls = ari_tls
        #: Run once warm, before the first PBX connection: the composition root passes
        #: :func:`~callwright.speech.warmup.settle_heap` (a test session settles its own heap).
        self._settle = settle
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
        #: Post-call webhooks: the queueing call repository and the delivery worker.
        self.post_call: PostCallService | None = None
        self.audiosocket: AudioSocketServer | None = None
        #: Calls from the AudioSocket() dialplan application (see ari_app.audiosocket_session).
        self.audiosocket_dialplan: DialplanAudioSocket | None = None
        #: Places the queued outbound calls and runs the campaign dialler (ari_app.outbound_jobs).
        self.outbound: OutboundJobs | None = None
        #: Health, readiness and metrics, served on [server] status_port (ari_app.service_status).
        self.status = ServiceStatus(
            settings.server, live=self.live, clock=self.clock, speech=self.speech,
            events=lambda: self._stream, db=lambda: self.db,
            draining=lambda: self.app is not None and self.app.draining,
            pbx_events={pbx.name: self._events_of(pbx.name) for pbx in settings.pbxes},
        )

    @property
    def ari_tls(self) -> ssl.SSLContext | None:
        """The TLS context for Asterisk: given to the constructor, or built by :meth:`start`."""
        return self._ari_tls

    async def start(self) -> None:
        settings = self.settings
        if self._ari_tls is None:  # a bad ari.ca_file stops us here, before the store opens
            self._ari_tls = await asyncio.to_thread(ari_client_context, settings.ari)
        self.db = await open_store(settings.store)
        left_open = await calls_left_open(self.db)  # their call.ended: PostCallService
        mine = {c.id for c in await CallRepository(self.db).list_in_progress()
                if c.node_id in (self.node_id, "")}  # the other nodes' calls are theirs
        closed = await close_abandoned_calls(self.db, node_id=self.node_id)
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
        if self._settle is not None:
            log.info("settled the start-up heap in %.0f ms", self._settle() * 1000)
        self.post_call = PostCallService(self.db, master_key, self._http,
                                         settings.admin.public_url)
        self.node_jobs = await start_node_jobs(self.db, settings,
                                               [pbx.name for pbx in settings.pbxes],
                                               self.post_call)
        for pbx in settings.pbxes:
            self.links.append(PbxLink(
                settings, pbx, node_id=self.node_id, db=self.db, writes=self.writes,
                http=await self._http_for(pbx), clock=self.clock,
                track_leg=self.status.track_leg, notifying=self.post_call.calls,
            ))
        first = self.links[0]
        self.app = first.app
        reconciled = asyncio.Event()
        self.post_call.after_restart(
            [c for c in left_open if c[0] in mine], reconciled, self._picked_up)
        template = SessionServices(
            rest=first.rest,
            settings=first.settings,
            calls=first.queued_calls,
            numbers=NumberRepository(self.db),
            dialogs=runtime,
            speech=self.speech,
            clock=self.clock,
            media_legs=first.media_leg,
            recordings_dir=Path(settings.recordings.dir),
            live=self.live,
            restrictions=CallerRestrictionRepository(self.db, master_key),
            orgs=OrgRepository(self.db),
            master_key=master_key,
            keyring=Keyring(self.db, master_key),
            expect_media_channel=first.app.expect_media_channel,
            forget_media_channel=first.app.forget_media_channel,
            count_recovery=self.status.metrics.recovery,
            writes=self.writes,
            prompts=PromptRepository(self.db),
        )
        for link in self.links:
            await link.start_media()  # fail at start-up, not on the first call
            link.wire(template)
        # -- AudioSocket() dialplan calls: listening if a number has an AudioSocket UUID ---------
        # (on the first PBX's AudioSocket server: the AudioSocket() application names no PBX)
        self.audiosocket = first.audiosocket
        assert first.services is not None
        self.audiosocket_dialplan = DialplanAudioSocket(
            self.audiosocket, first.services, AudioSocketNumbers(self.db)
        )
        await self.audiosocket_dialplan.refresh()
        # -- end of AudioSocket() dialplan calls ---------------------------------------------------
        await self.status.start()  # a taken status port fails here, before ARI sends us calls
        connected: set[str] = set()
        await asyncio.gather(*(link.connect(self._reconciling(link, reconciled, connected))
                               for link in self.links))
        self._stream = first.stream
        # Outbound calls and campaigns leave through the first PBX (ari_app.outbound_jobs).
        self.outbound = OutboundJobs(first.services, self.db, first.app, node=self.node_id,
                                     settings=first.settings)
        await self.outbound.start()
        if self.outbound.live is not None:  # transfers to a queue: a free agent first (AMI)
            for link in self.links:
                if link.services is not None:
                    link.services.queue_check = self.outbound.live.queue_availability

    # -- PBXs (ari_app.pbx_link) -----------------------------------------------------------------
    async def _http_for(self, pbx: PbxSettings) -> aiohttp.ClientSession:
        """The HTTP session to ``pbx``: the process's one to Asterisk when it trusts the same
        certificates as ``[ari]``, else one of its own (its TLS context made off the loop)."""
        assert self._ari_http is not None
        ari = self.settings.ari
        if (pbx.ari.ca_file, pbx.ari.verify) == (ari.ca_file, ari.verify):
            return self._ari_http
        context = await asyncio.to_thread(ari_client_context, pbx.ari)
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context))
        self._link_http.append(session)
        return session

    def _events_of(self, name: str) -> Callable[[], AriEventStream | None]:
        def events() -> AriEventStream | None:
            return next((link.stream for link in self.links if link.name == name), None)
        return events

    def _reconciling(self, link: PbxLink, reconciled: asyncio.Event,
                     done: set[str]) -> ConnectedHandler:
        """``link``'s reconciliation, setting ``reconciled`` once every PBX's first one ran."""
        async def on_connected(reconnect: bool) -> None:
            await link.app.on_connected(reconnect)
            done.add(link.name)
            if len(done) == len(self.links):
                reconciled.set()  # the restart's call.ended can go (PostCallService)
        return on_connected

    def _last_plans(self) -> ReconcilePlan | None:
        """What the PBXs' last reconciliations picked up, as one plan (None: none ran)."""
        plans = [link.app.last_plan for link in self.links if link.app.last_plan is not None]
        if not plans:
            return None
        return ReconcilePlan(recover=[o for p in plans for o in p.recover],
                             keep=[k for p in plans for k in p.keep])

    def _picked_up(self) -> set[str] | None:
        """The channels the last reconciliations picked up again (None: none ran)."""
        plan = self._last_plans()
        if plan is None:
            return None
        return {o.channel.id for o in plan.recover} | {k.caller.id for k in plan.keep}
    # -- end of PBXs -------------------------------------------------------------------------------

    async def _prewarm(self, assistants: AssistantRepository) -> None:
        """Warm every assistant's speech engines and LLM client, then synthesise its greeting and
        fixed flow prompts, so that no call is the first to use them and the first words (and
        every scripted reply) need no TTS during the call."""
        listed = await assistants.list_all()
        uses = [EngineUse(None, None, rate, self.settings.calls.unknown_number_voice,
                          name="calls to unknown numbers")
                for rate in self._sample_rates(None)]
        for assistant in listed:
            voice = voice_for(assistant.language, assistant.tts)
            uses.extend(EngineUse(assistant.stt, assistant.tts, rate, voice, name=assistant.name)
                        for rate in self._sample_rates(assistant.media))
        await warm_engines(self.speech, uses, streams=self.warm_streams)
        for assistant in listed:
            await self._prewarm_llm_client(assistant)
            texts = [assistant.greeting] if assistant.greeting else []
            flow = await assistants.latest_flow(assistant.id)
            if flow is not None:
                texts.extend(fixed_prompts(flow[1]))
            texts.extend(failure_prompts(assistant.language))  # ready if the TTS engine fails
            voice = voice_for(assistant.language, assistant.tts)
            try:
                tts = await self.speech.tts_for(assistant.tts)
                for rate in self._sample_rates(assistant.media):
                    await tts.prewarm(texts, rate, voice)
            except (SpeechError, ConfigError) as exc:
                log.warning("could not prepare the prompts of %s: %s", assistant.name, exc)

    def _sample_rates(self, overrides: Mapping[str, Any] | None) -> list[int]:
        """The sample rates of calls with these media overrides (an assistant's ``media``; None:
        the server's) on the PBXs served: one per distinct rate, each PBX having its own media
        settings."""
        rates = {media_format_for(media_choice(pbx.media, overrides).format).sample_rate
                 for pbx in self.settings.pbxes}
        return sorted(rates)

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
            " AND (recording_node IS NULL OR recording_node IN (?, ''))",
            (self.node_id,),
        )
        for row in rows:
            path = Path(row[0])
            if await asyncio.to_thread(_repair_if_present, path):
                log.info("repaired recording %s", path)

    # -- recovery, drain and stop (ari_app.recovery, ari_app.application) -------------------------
    async def drain(self, *, now: asyncio.Event | None = None) -> None:
        """Graceful drain (SIGTERM, ``callwright drain``): still connected, new callers go back
        to the dialplan, calls in progress get ``[calls] drain_s`` to end, then each remaining
        caller hears a line and is handed back (``[calls] fallback_target``). ``now``, once set
        (a second SIGTERM), hands everyone back at once. :meth:`stop` then closes the rest."""
        calls = self.settings.calls
        await asyncio.gather(*(link.app.drain(calls.drain_s, dialplan_target(
            calls.fallback_target), now=now) for link in self.links))

    async def stop(self) -> None:
        """Hand every caller still here back to the dialplan at once (no line: see :meth:`drain`
        for the graceful way), close their rows, and only then the events WebSocket."""
        if self.outbound is not None:
            await self.outbound.stop()
        at_once = asyncio.Event()
        at_once.set()
        target = dialplan_target(self.settings.calls.fallback_target)
        await asyncio.gather(*(link.app.drain(0.0, target, now=at_once) for link in self.links))
        for link in self.links:
            await link.disconnect()
    # -- end of recovery, drain and stop -----------------------------------------------------------
        await self.clock.stop()
        if self.node_jobs is not None:
            await self.node_jobs.stop_jobs()  # released: another node takes them over now
        if self.post_call is not None:
            await self.post_call.stop()
        for link in self.links:
            await link.stop_media()
        await self.speech.close()
        if self.llm_clients is not None:
            await self.llm_clients.aclose()
        if self._http is not None:
            await self._http.close()
        if self._ari_http is not None:
            await self._ari_http.close()
        for session in self._link_http:
            await session.close()
        await self.status.stop()
        lost = await self.writes.close(STOP_WRITES_S)
        if lost:
            log.error("%d store write(s) lost: the store stayed locked at shutdown", lost)
        if self.node_jobs is not None:
            await self.node_jobs.stopped()  # its calls are closed: stopped, not lost
        if self.db is not None:
            await self.db.close()
