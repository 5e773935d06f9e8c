"""The FreeSWITCH call service's composition root (``callwright serve-freeswitch``).

``FreeswitchService(settings).start()`` opens the store ``[store]`` names (SQLite, or PostgreSQL
shared with other call nodes), closes this node's calls a crash left in progress, imports the
speech engines' native modules and loads the default model before taking a call, starts what
every call node runs (:func:`callwright.cluster.node_jobs.start_node_jobs`, as the ARI call
service does: the node's heartbeat, and the retention, webhook-deliveries and lost-nodes jobs,
each on one node of those sharing the store at a time; its calls' post-call webhooks queued as
on Asterisk), starts the pacer clock and mod_audio_fork's WebSocket
server, then listens for the dialplan's ``socket`` application: each connection is one call
(:class:`FreeswitchCallSession`). With ``[freeswitch] esl_host`` it also keeps the inbound ESL
(recovery sweeps, bridged transfers) and places the queued outbound calls and campaigns through
it (fs_app.outbound_jobs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import aiohttp

from callwright.call.assistant_runtime import AssistantRuntime, voice_for
from callwright.call.live import LiveCalls
from callwright.cluster.node_jobs import NodeJobs, start_node_jobs
from callwright.config import Settings
from callwright.dialog.fixed_prompts import failure_prompts, fixed_prompts
from callwright.dialog.llm_client import LlmClientFactory
from callwright.errors import CallwrightError, ConfigError, MediaError, SpeechError
from callwright.media.pacer import PacerClock
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
from callwright.store.assistants import AssistantRepository
from callwright.store.calls import CallOrigin
from callwright.store.credentials import CredentialRepository
from callwright.store.db import Database, open_store
from callwright.store.numbers import NumberRepository
from callwright.store.orgs import OrgRepository
from callwright.store.queued_calls import QueuedCallRepository
from callwright.store.recovery import close_abandoned_calls
from callwright.store.write_queue import WriteQueue
from callwright.webhooks.lifecycle import NotifyingCallRepository
from callwright.webhooks.post_call import PostCallService, calls_left_open
from fs_app.call_session import FreeswitchCallSession
from fs_app.esl_client import EslClient, close_quietly
from fs_app.fork_media import ForkServer
from fs_app.outbound_handoff import OutboundHandoffs
from fs_app.outbound_jobs import FsOutboundJobs
from fs_app.recovery import Recovered, recover_channels
from fs_app.services import FsServices

log = logging.getLogger(__name__)

STOP_WRITES_S = 10.0


class FreeswitchService:
    def __init__(self, settings: Settings, *, vosk_models: VoskModelCache = SHARED_MODELS,
                 warm_streams: int = DEFAULT_WARM_STREAMS,
                 settle: Callable[[], float] | None = None) -> None:
        """``settle``: run once warm, before FreeSWITCH is served; the composition root passes
        :func:`~callwright.speech.warmup.settle_heap` (a test session settles its own heap)."""
        fs = settings.freeswitch
        if fs.sample_rate not in (8000, 16000):
            raise ConfigError("freeswitch.sample_rate", "8000 or 16000", fs.sample_rate)
        for key in ("outbound_extension", "outbound_context"):  # words of a uuid_transfer
            value = getattr(fs, key)
            if not value or any(ch.isspace() for ch in value):
                raise ConfigError(f"freeswitch.{key}", "a dialplan name without spaces", value)
        self.settings = settings
        self._settle = settle
        self.warm_streams = warm_streams
        self.live = LiveCalls()
        self.clock = PacerClock()
        self.speech = SpeechEngines(settings.speech, vosk_models=vosk_models)
        self.writes = WriteQueue()
        self.forks = ForkServer(fs.audio_host, fs.audio_port, fs.audio_url_host)
        self.db: Database | None = None
        #: The node's heartbeat and singleton jobs, and its post-call webhooks.
        self.node_jobs: NodeJobs | None = None
        self.post_call: PostCallService | None = None
        #: Set once FreeSWITCH was looked at for our callers (the first recovery sweep).
        self._looked = asyncio.Event()
        self.services: FsServices | None = None
        self._http: aiohttp.ClientSession | None = None
        self.llm_clients: LlmClientFactory | None = None
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        #: The inbound ESL client (``[freeswitch] esl_host`` set): recovery at each login.
        self.esl: EslClient | None = None
        self._esl_task: asyncio.Task[None] | None = None
        self._sweeps: set[asyncio.Task[None]] = set()
        self._sweeping = asyncio.Lock()  # one sweep at a time (logins can follow quickly)
        #: What each recovery sweep did, in order.
        self.recovered: list[Recovered] = []
        #: Outbound calls and campaigns (with the inbound ESL only).
        self.outbound: FsOutboundJobs | None = None

    @property
    def socket_port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        settings = self.settings
        self.db = await open_store(settings.store)
        left_open = await calls_left_open(self.db, settings.node_id)  # their call.ended below
        closed = await close_abandoned_calls(self.db, node_id=settings.node_id)  # not others
        if closed:
            log.warning("closed %d call(s) left in progress by a previous run", closed)
        await asyncio.to_thread(import_native_modules)
        await self.speech.stt_for(None)  # the default model now, not on the first call
        self.clock.start()
        self._http = aiohttp.ClientSession()
        master_key = await asyncio.to_thread(
            MasterKey.load_or_create, settings.server.master_key_file
        )
        credentials = CredentialRepository(self.db, master_key)
        self.post_call = PostCallService(self.db, master_key, self._http,
                                         settings.admin.public_url)
        self.node_jobs = await start_node_jobs(self.db, settings, [settings.freeswitch.name],
                                               self.post_call)
        self.post_call.after_restart(left_open, self._looked, self._picked_up)
        if settings.llm.enabled:
            self.llm_clients = LlmClientFactory(settings.llm, credentials)
            await self.llm_clients.start()
        assistants = AssistantRepository(self.db)
        runtime = AssistantRuntime(settings, assistants, db=self.db, llm_clients=self.llm_clients,
                                   http=self._http, credentials=credentials)
        await self._prewarm(assistants)
        if self._settle is not None:
            log.info("settled the start-up heap in %.0f ms", self._settle() * 1000)
        await self.forks.start()
        origin = CallOrigin(settings.node_id, settings.freeswitch.name)
        self.services = FsServices(
            settings=settings,
            calls=QueuedCallRepository(self.db, self.writes, inner=NotifyingCallRepository(
                self.db, self.post_call.events, origin=origin)),
            numbers=NumberRepository(self.db), dialogs=runtime, speech=self.speech,
            clock=self.clock, live=self.live, forks=self.forks, writes=self.writes,
            restrictions=CallerRestrictionRepository(self.db, master_key),
            orgs=OrgRepository(self.db), recordings_dir=Path(settings.recordings.dir),
            master_key=master_key, keyring=Keyring(self.db, master_key),
        )
        fs = settings.freeswitch
        try:
            self._server = await asyncio.start_server(self._accept, fs.socket_host,
                                                      fs.socket_port)
        except OSError as exc:
            raise MediaError(f"cannot listen for FreeSWITCH's socket app on "
                             f"{fs.socket_host}:{fs.socket_port}: {exc}") from exc
        log.info("waiting for FreeSWITCH on %s:%d (socket app), audio on %s:%d",
                 fs.socket_host, self.socket_port, fs.audio_host, self.forks.port)
        if fs.esl_host:
            self.esl = EslClient(fs.esl_host, fs.esl_port, fs.esl_password,
                                 on_connected=self._sweep)
            self.services.esl = self.esl
            self._esl_task = asyncio.get_running_loop().create_task(self.esl.run())
            # outbound calls and campaigns leave through that ESL (fs_app.outbound_jobs)
            self.services.outbound = OutboundHandoffs()
            self.outbound = FsOutboundJobs(self.services, self.db, node=settings.node_id)
            await self.outbound.start()
        else:
            self._looked.set()  # no inbound ESL: no caller of ours can be recovered

    def _picked_up(self) -> set[str] | None:
        """The channels of the calls closed at start-up that recovery picked up again (their
        call.ended goes out when they end); None when FreeSWITCH was not looked at."""
        if not self._looked.is_set():
            return None
        return {f"freeswitch/{r.uuid}" for r in self.recovered if r.action != "none"}

    def _sweep(self) -> None:
        """At each login to FreeSWITCH's inbound ESL: our callers still alive there
        (fs_app.recovery), those our sessions hold left alone."""
        async def sweep() -> None:
            assert self.esl is not None and self.services is not None
            try:
                async with self._sweeping:
                    done = await recover_channels(self.services, self.esl.api,
                                                  held=self.services.held)
            except CallwrightError as exc:
                log.error("FreeSWITCH recovery sweep failed: %s", exc)
                return
            self.recovered.extend(done)
            self._looked.set()
        task = asyncio.get_running_loop().create_task(sweep())
        self._sweeps.add(task)
        task.add_done_callback(self._sweeps.discard)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self.services is not None
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        try:
            await FreeswitchCallSession(self.services, reader, writer).run()
        except asyncio.CancelledError:
            # stop(): the session closed its row (server_shutdown). Not re-raised: asyncio's
            # stream server would log a cancelled connection task as an error.
            log.info("a FreeSWITCH call was ended by the service stopping")
        finally:
            self._sessions.discard(task)

    async def _prewarm(self, assistants: AssistantRepository) -> None:
        """Every assistant's engines warmed at the fork's rate, its prompts synthesised."""
        rate = self.settings.freeswitch.sample_rate
        listed = await assistants.list_all()
        uses = [EngineUse(None, None, rate, self.settings.calls.unknown_number_voice,
                          name="calls to unknown numbers")]
        uses += [EngineUse(a.stt, a.tts, rate, voice_for(a.language, a.tts), name=a.name)
                 for a in listed]
        await warm_engines(self.speech, uses, streams=self.warm_streams)
        for assistant in listed:
            texts = [assistant.greeting] if assistant.greeting else []
            flow = await assistants.latest_flow(assistant.id)
            if flow is not None:
                texts.extend(fixed_prompts(flow[1]))
            texts.extend(failure_prompts(assistant.language))
            try:
                tts = await self.speech.tts_for(assistant.tts)
                await tts.prewarm(texts, rate, voice_for(assistant.language, assistant.tts))
            except (SpeechError, ConfigError) as exc:
                log.warning("could not prepare the prompts of %s: %s", assistant.name, exc)

    async def stop(self) -> None:
        """Stop taking calls, end the calls in progress (their rows closed), release the rest."""
        if self._server is not None:
            self._server.close()
        if self.outbound is not None:
            await self.outbound.stop_placing()
        if self.esl is not None:
            await close_quietly(self.esl, self._esl_task)
        for task in list(self._sweeps):
            task.cancel()
        await asyncio.gather(*self._sweeps, return_exceptions=True)
        for task in list(self._sessions):
            task.cancel()
        await asyncio.gather(*self._sessions, return_exceptions=True)
        if self.outbound is not None:
            await self.outbound.wait()  # each ends its rows as its session or ESL ended
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        await self.forks.stop()
        await self.clock.stop()
        if self.node_jobs is not None:
            await self.node_jobs.stop_jobs()  # released: another node takes them over now
        if self.post_call is not None:
            await self.post_call.stop()
        await self.speech.close()
        if self.llm_clients is not None:
            await self.llm_clients.aclose()
        if self._http is not None:
            await self._http.close()
        lost = await self.writes.close(STOP_WRITES_S)
        if lost:
            log.error("%d store write(s) lost: the store stayed locked at shutdown", lost)
        if self.node_jobs is not None:
            await self.node_jobs.stopped()  # its calls are closed: the node is marked stopped
        if self.db is not None:
            await self.db.close()


def with_ports(settings: Settings, socket_port: int, audio_port: int) -> Settings:
    """``settings`` listening on other ports (0 = any free one: tests and the demo)."""
    return replace(settings, freeswitch=replace(settings.freeswitch, socket_port=socket_port,
                                                audio_port=audio_port))
