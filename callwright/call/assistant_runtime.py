"""Turns an assistant's stored settings into what a call runs on: its dialog engine and the
pipeline settings (voice, VAD and barge-in thresholds), with the server defaults underneath.

Per-assistant overrides live in the assistant's ``media`` JSON (``end_silence_ms``,
``barge_in`` ...) and ``tts`` JSON (``voice``); everything else comes from ``[vad]`` in the config.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
from openai import AsyncOpenAI

from callwright.call.listener import STT_TIMEOUT_S
from callwright.call.pipeline_settings import PipelineSettings
from callwright.config import Settings
from callwright.dialog.actions import DialogEngine
from callwright.dialog.announcement import AnnouncementDialog
from callwright.dialog.factory import build_dialog_engine
from callwright.dialog.fixed_prompts import LLM_RETRY_LINES, REPEAT_LINES, line_for
from callwright.dialog.llm_client import LlmClientFactory
from callwright.dialog.llm_engine import LlmSettings as DialogLlmSettings
from callwright.dialog.webhook_tools import ToolDeclarationError, parse_tool_declarations
from callwright.dialog.webhooks import WebhookClient, webhook_url_resolver
from callwright.errors import ConfigError, LlmError, NotFound
from callwright.knowledge.retriever import KnowledgeRetriever
from callwright.speech.barge_in import BargeInConfig
from callwright.speech.endpointing import EndpointingConfig
from callwright.speech.registry import DEFAULT_OPENAI_STT_TIMEOUT_S
from callwright.speech.silero_vad import VAD_KINDS
from callwright.speech.turn_end import TurnEndConfig
from callwright.store.assistants import Assistant, AssistantRepository
from callwright.store.credentials import CredentialRepository
from callwright.store.db import Database

DEFAULT_SYSTEM_PROMPT = (
    "You are a friendly telephone assistant. Answer briefly, in the caller's language; your words "
    "are spoken aloud, so use no lists, markup or emojis."
)

#: The org credential (kind "password") whose value signs webhook requests, when it exists.
WEBHOOK_SIGNING_CREDENTIAL = "webhook-signing-secret"

log = logging.getLogger(__name__)

#: espeak-ng voice per language when the assistant names none.
DEFAULT_VOICES = {"en": "en-us", "ko": "ko", "de": "de", "fr": "fr-fr", "es": "es", "ja": "ja"}

APOLOGIES = {
    "en": "Sorry, something went wrong on our side. Goodbye.",
    "ko": "죄송합니다. 시스템 오류가 발생했습니다. 안녕히 계세요.",
}


def transfer_targets(raw: object) -> dict[str, str]:
    """An assistant's transfer targets as name → target, from ``[{"name", "target"}]`` or a dict."""
    if isinstance(raw, Mapping):
        return {str(k): str(v) for k, v in raw.items()}
    targets: dict[str, str] = {}
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, Mapping) and item.get("name") and item.get("target"):
                targets[str(item["name"])] = str(item["target"])
    return targets


def _count(value: object, default: int) -> int:
    """A whole number of at least 1 from an assistant's JSON settings, else ``default``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return default
    return value


def _seconds(value: object) -> float | None:
    """A positive duration from an assistant's JSON settings, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return float(value)


def stt_deadline(stt: Mapping[str, Any]) -> float:
    """How long a call waits for a turn's transcript before the recogniser counts as failed: the
    engine's own ``timeout_s`` when set, the OpenAI engine's default for it (a transcription
    over HTTP), else :data:`~callwright.call.listener.STT_TIMEOUT_S` (local engines)."""
    value = _seconds(stt.get("timeout_s"))
    if value is not None:
        return value
    return DEFAULT_OPENAI_STT_TIMEOUT_S if stt.get("engine") == "openai" else STT_TIMEOUT_S


def voice_for(language: str, tts: Mapping[str, Any]) -> str | None:
    """The voice to ask the TTS engine for: for espeak-ng the assistant's voice or its language's
    default; other engines (Piper, OpenAI) take their voice from their own settings (None)."""
    if tts.get("engine", "espeak-ng") != "espeak-ng":
        return None
    voice = tts.get("voice")
    if isinstance(voice, str) and voice:
        return voice
    return DEFAULT_VOICES.get(language.split("-")[0], language)



def turn_end_for(kind: object) -> TurnEndConfig | None:
    """The end of turn an assistant's ``media.turn_end`` asks for: "fixed", every turn ends after
    ``end_silence_ms`` (as before the smart end of turn); "words", the smart end of turn without
    the caller's intonation (free speech ends on its words and silence only); anything else, the
    smart end of turn."""
    if kind == "fixed":
        return None
    if kind == "words":
        return TurnEndConfig(intonation=False)
    return TurnEndConfig()

class AssistantRuntime:
    """Builds each call's dialog engine. ``llm_clients`` is None when no LLM server is set up;
    ``http``/``credentials`` serve webhook nodes and tools (None: no webhooks)."""

    def __init__(
        self,
        settings: Settings,
        assistants: AssistantRepository,
        *,
        db: Database | None = None,
        llm_clients: LlmClientFactory | None = None,
        http: aiohttp.ClientSession | None = None,
        credentials: CredentialRepository | None = None,
    ) -> None:
        self._settings = settings
        self._assistants = assistants
        self._db = db
        self._llm_clients = llm_clients
        self._http = http
        self._credentials = credentials

    async def for_assistant(
        self, assistant: Assistant, on_llm_error: Callable[[LlmError], None] | None = None
    ) -> DialogEngine:
        """The dialog engine for one call of ``assistant``. Raises FlowError (a broken stored
        flow), which the session turns into a polite end of the call."""
        flow = await self._assistants.latest_flow(assistant.id)
        definition = flow[1] if flow is not None else None
        llm_settings = self._llm_settings(assistant)
        client: AsyncOpenAI | None = None
        if llm_settings is not None and self._llm_clients is not None:
            credential = assistant.llm.get("credential")
            try:
                client = await self._llm_clients.client_for(
                    assistant.org_id, credential if isinstance(credential, str) else None
                )
            except ConfigError as exc:
                log.error("assistant %s: LLM unavailable (%s)", assistant.id, exc)
                if on_llm_error is not None:
                    on_llm_error(LlmError(f"LLM unavailable: {exc}"))
        knowledge = (
            KnowledgeRetriever(self._db, assistant.id, org_id=assistant.org_id)
            if self._db is not None
            else None
        )
        return build_dialog_engine(
            definition,
            llm_settings if client is not None else None,
            (lambda: client) if client is not None else None,
            assistant.greeting,
            language=assistant.language,
            on_llm_error=on_llm_error,
            faq=knowledge,
            webhooks=await self._webhooks(assistant.org_id),
            retriever=knowledge,
        )

    async def _webhooks(self, org_id: int) -> WebhookClient | None:
        if self._http is None or self._credentials is None:
            return None
        try:
            secret: bytes | None = (
                await self._credentials.reveal(org_id, WEBHOOK_SIGNING_CREDENTIAL)
            ).encode()
        except NotFound:
            secret = None
        return WebhookClient(self._http, webhook_url_resolver(self._credentials, org_id), secret)

    def announcement(self, text: str) -> DialogEngine:
        return AnnouncementDialog(text, reason="unknown_number")

    def _llm_settings(self, assistant: Assistant) -> DialogLlmSettings | None:
        llm = assistant.llm
        server = self._settings.llm
        if not llm.get("enabled", False) or not server.enabled:
            return None
        failure_target = str(llm.get("failure_target") or self._settings.calls.fallback_target)
        try:
            tools = parse_tool_declarations(assistant.tools)
        except ToolDeclarationError as exc:
            log.error("assistant %s: tools ignored: %s", assistant.id, exc)
            tools = ()
        return DialogLlmSettings(
            model=str(llm.get("model") or server.model),
            temperature=float(llm.get("temperature", server.temperature)),
            max_tokens=int(llm.get("max_tokens", server.max_tokens)),
            timeout_s=float(llm.get("timeout_s", server.timeout_s)),
            system_prompt=assistant.system_prompt or DEFAULT_SYSTEM_PROMPT,
            fallback_text=str(llm.get("fallback_text") or APOLOGIES.get(assistant.language, "")),
            transfer_targets=transfer_targets(assistant.transfer_targets),
            webhook_tools=tools,
            retry_text=str(llm.get("retry_text") or line_for(LLM_RETRY_LINES, assistant.language)),
            max_failures=_count(llm.get("max_failures"), 2),
            reply_budget_s=_seconds(llm.get("reply_budget_s")),
            # After its failures in a row: back to the dialplan (so the PBX routes the caller to
            # a person) when a target is set for the assistant or the server, else hang up.
            on_failure="transfer" if failure_target else "hangup",
            failure_target=failure_target or None,
        )

    def _eager(self, assistant: Assistant | None, media: Mapping[str, Any]) -> bool:
        """Whether the assistant's calls prepare replies on a likely end of turn.

        An assistant's ``media.eager`` decides when set. Otherwise ``[vad] eager`` applies to
        flow assistants only: an LLM assistant prepares eagerly only when its own ``media.eager``
        says so, because a prepared reply that the caller's final words do not confirm is a
        wasted LLM request (bench.turn_eager: two to three requests a turn on Vosk partials).
        """
        chosen = media.get("eager")
        if isinstance(chosen, bool):
            return chosen
        uses_llm = assistant is not None and self._llm_settings(assistant) is not None
        return self._settings.vad.eager and not uses_llm

    def pipeline_settings(self, assistant: Assistant | None) -> PipelineSettings:
        vad = self._settings.vad
        media: Mapping[str, Any] = assistant.media if assistant is not None else {}

        def pick(key: str, default: int) -> int:
            value = media.get(key, default)
            return int(value) if isinstance(value, int | float) else default

        language = assistant.language if assistant is not None else "en"
        fallback_voice = (  # espeak-ng says what the assistant's TTS engine fails on
            voice_for(language, {})
            if assistant is not None
            else self._settings.calls.unknown_number_voice
        )
        voice = (
            voice_for(language, assistant.tts)
            if assistant is not None
            else self._settings.calls.unknown_number_voice
        )
        return PipelineSettings(
            language=language,
            voice=voice,
            endpointing=EndpointingConfig(
                start_ms=pick("start_ms", vad.start_ms),
                end_silence_ms=pick("end_silence_ms", vad.end_silence_ms),
                min_speech_ms=pick("min_speech_ms", vad.min_speech_ms),
                max_turn_ms=pick("max_turn_ms", vad.max_turn_ms),
            ),
            barge_in=BargeInConfig(
                enabled=bool(media.get("barge_in", vad.barge_in)),
                min_speech_ms=pick("barge_in_min_ms", vad.barge_in_min_ms),
            ),
            vad_aggressiveness=pick("vad_aggressiveness", vad.aggressiveness),
            vad=str(media["vad"]) if media.get("vad") in VAD_KINDS else "webrtc",
            turn_end=turn_end_for(media.get("turn_end")),
            eager=self._eager(assistant, media),
            max_call_s=float(self._settings.calls.max_call_s),
            silence_hangup_s=float(self._settings.calls.no_input_hangup_s),
            apology_text=APOLOGIES.get(language.split("-")[0], APOLOGIES["en"]),
            repeat_text=line_for(REPEAT_LINES, language),
            stt_timeout_s=stt_deadline(assistant.stt if assistant is not None else {}),
            fallback_voice=fallback_voice,
        )
