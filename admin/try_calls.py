"""Test calls from the browser: what the admin process needs to run them, and their limits.

A test call runs the pipeline a phone call runs (VAD, barge-in, STT, the flow or the LLM, TTS,
the pacer), in the admin process, with the browser as the caller
(:mod:`admin.try_call_session`). :class:`TryCalls` holds what every test call shares: the speech
engines, the assistants' dialog runtime, the 20 ms pacer clock, the call store, and who is on a
test call now.

:meth:`TryCalls.start` must run before the admin takes requests (``python -m admin`` does): it
imports the engines' native modules on a worker thread and loads and warms every assistant's
engines, since a native import or a model load holds the GIL and would stall the process's
event loop (and the call in progress) if a call were the first to need them
(:mod:`callwright.speech.warmup`). An assistant whose engines change later gets them loaded on a
worker thread by :class:`~callwright.speech.registry.SpeechEngines`, as in the call service.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from callwright.call.assistant_runtime import AssistantRuntime, voice_for
from callwright.config import Settings
from callwright.dialog.llm_client import LlmClientFactory
from callwright.errors import CallwrightError
from callwright.media.pacer import PacerClock
from callwright.privacy.keyring import Keyring
from callwright.privacy.secrets import MasterKey
from callwright.speech.registry import SpeechEngines
from callwright.speech.vosk_stt import SHARED_MODELS, VoskModelCache
from callwright.speech.warmup import EngineUse, import_native_modules, warm_engines
from callwright.store.assistants import AssistantRepository
from callwright.store.calls import CallRepository
from callwright.store.credentials import CredentialRepository
from callwright.store.db import Database
from callwright.store.orgs import OrgRepository

log = logging.getLogger(__name__)

#: The rate test calls are warmed for (what the page asks for unless told otherwise).
WARM_RATE = 16000


@dataclass(frozen=True, slots=True)
class TryCallLimits:
    """``max_seconds``: a test call ends (``completed``/``max_duration``) after this long;
    ``per_user``: test calls one user may have at once; ``total``: in the whole process."""

    max_seconds: float = 300.0
    per_user: int = 1
    total: int = 4


class TooManyTryCalls(CallwrightError):
    """A new test call would pass a limit; the message says which."""


class NotReady(CallwrightError):
    """Test calls were asked for before :meth:`TryCalls.start` finished."""


class TryCalls:
    """The process-wide side of test calls (one per admin process, built by its composition
    root and handed to :func:`admin.app.build_admin_app`)."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        master_key: MasterKey,
        *,
        limits: TryCallLimits | None = None,
        vosk_models: VoskModelCache = SHARED_MODELS,
        warm_streams: int = 1,
        recordings_dir: Path | None = None,
    ) -> None:
        """``recordings_dir``: where recordings go (``[recordings] dir`` unless given)."""
        self.settings = settings
        self.limits = limits or TryCallLimits()
        self.speech = SpeechEngines(settings.speech, vosk_models=vosk_models)
        self.clock = PacerClock()
        self.calls = CallRepository(db)
        self.orgs = OrgRepository(db)
        self.keyring = Keyring(db, master_key)
        self.recordings_dir = recordings_dir or Path(settings.recordings.dir)
        self._db = db
        self._master_key = master_key
        self._assistants = AssistantRepository(db)
        self._warm_streams = warm_streams
        self._http: aiohttp.ClientSession | None = None
        self._llm: LlmClientFactory | None = None
        self._runtime: AssistantRuntime | None = None
        self._by_user: dict[int, int] = {}
        self.warm_failures: list[str] = []

    @property
    def ready(self) -> bool:
        return self._runtime is not None

    @property
    def runtime(self) -> AssistantRuntime:
        if self._runtime is None:
            raise NotReady("test calls are not started in this admin process")
        return self._runtime

    @property
    def active(self) -> int:
        return sum(self._by_user.values())

    async def start(self) -> None:
        """Import, load and warm what test calls use; then start the clock."""
        took = await asyncio.to_thread(import_native_modules)
        log.info("test calls: imported the speech engines' modules in %.2f s", sum(took.values()))
        uses = [EngineUse(None, None, WARM_RATE, None, name="the server's default engines")]
        for assistant in await self._assistants.list_all():
            voice = voice_for(assistant.language, assistant.tts)
            uses.append(EngineUse(assistant.stt, assistant.tts, WARM_RATE, voice,
                                  name=assistant.name))
        fallback = {"engine": "espeak-ng"}
        uses.append(EngineUse(None, fallback, WARM_RATE, None, name="the fallback voice"))
        self.warm_failures = await warm_engines(self.speech, uses, streams=self._warm_streams)
        self._http = aiohttp.ClientSession()
        credentials = CredentialRepository(self._db, self._master_key)
        if self.settings.llm.enabled:
            self._llm = LlmClientFactory(self.settings.llm, credentials)
            await self._llm.start()
        self._runtime = AssistantRuntime(
            self.settings, self._assistants, db=self._db, llm_clients=self._llm,
            http=self._http, credentials=credentials,
        )
        self.clock.start()

    async def close(self) -> None:
        await self.clock.stop()
        if self._http is not None:
            await self._http.close()
        await self.speech.close()
        self._runtime = None

    def reserve(self, user_id: int) -> Reservation:
        """One test call's place for ``user_id``, held until released; raises
        :class:`TooManyTryCalls` when a limit is reached."""
        mine = self._by_user.get(user_id, 0)
        if mine >= self.limits.per_user:
            raise TooManyTryCalls(
                f"You already have {mine} test call(s) open (the limit is "
                f"{self.limits.per_user}): end it first."
            )
        if self.active >= self.limits.total:
            raise TooManyTryCalls(
                f"{self.active} test calls are in progress on this admin (the limit is "
                f"{self.limits.total}): try again in a moment."
            )
        self._by_user[user_id] = mine + 1
        return Reservation(self._by_user, user_id)


class Reservation:
    """A test call's place under the limits; :meth:`release` (safe to call twice) frees it."""

    def __init__(self, by_user: dict[int, int], user_id: int) -> None:
        self._by_user = by_user
        self._user_id = user_id
        self._held = True

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        left = self._by_user.get(self._user_id, 1) - 1
        if left > 0:
            self._by_user[self._user_id] = left
        else:
            self._by_user.pop(self._user_id, None)


#: Where the app keeps its :class:`TryCalls` (absent: this admin process takes no test calls).
TRY_CALLS = web.AppKey("try_calls", TryCalls)
