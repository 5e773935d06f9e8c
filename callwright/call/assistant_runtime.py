"""Turns an assistant's stored settings into what a call runs on: its dialog engine and the
pipeline settings (voice, VAD and barge-in thresholds), with the server defaults underneath.

Per-assistant overrides live in the assistant's ``media`` JSON (``end_silence_ms``,
``barge_in`` ...) and ``tts`` JSON (``voice``); everything else comes from ``[vad]`` in the config.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from openai import AsyncOpenAI

from callwright.call.pipeline import PipelineSettings
from callwright.config import Settings
from callwright.dialog.actions import DialogEngine
from callwright.dialog.announcement import AnnouncementDialog
from callwright.dialog.factory import build_dialog_engine
from callwright.dialog.llm_engine import LlmSettings as DialogLlmSettings
from callwright.speech.barge_in import BargeInConfig
from callwright.speech.endpointing import EndpointingConfig
from callwright.store.assistants import Assistant, AssistantRepository

log = logging.getLogger(__name__)

#: espeak-ng voice per language when the assistant names none.
DEFAULT_VOICES = {"en": "en-us", "ko": "ko", "de": "de", "fr": "fr-fr", "es": "es", "ja": "ja"}

APOLOGIES = {
    "en": "Sorry, something went wrong on our side. Goodbye.",
    "ko": "죄송합니다. 시스템 오류가 발생했습니다. 안녕히 계세요.",
}


def voice_for(language: str, tts: Mapping[str, Any]) -> str | None:
    """The voice to ask the TTS engine for: for espeak-ng the assistant's voice or its language's
    default; other engines (Piper, OpenAI) take their voice from their own settings (None)."""
    if tts.get("engine", "espeak-ng") != "espeak-ng":
        return None
    voice = tts.get("voice")
    if isinstance(voice, str) and voice:
        return voice
    return DEFAULT_VOICES.get(language.split("-")[0], language)


class AssistantRuntime:
    def __init__(
        self,
        settings: Settings,
        assistants: AssistantRepository,
        llm_client_factory: Callable[[Assistant], AsyncOpenAI] | None = None,
    ) -> None:
        self._settings = settings
        self._assistants = assistants
        self._llm_client_factory = llm_client_factory

    async def for_assistant(self, assistant: Assistant) -> DialogEngine:
        flow = await self._assistants.latest_flow(assistant.id)
        definition = flow[1] if flow is not None else None
        llm_settings = self._llm_settings(assistant)
        factory = None
        if llm_settings is not None and self._llm_client_factory is not None:
            make = self._llm_client_factory

            def factory() -> AsyncOpenAI:
                return make(assistant)

        return build_dialog_engine(definition, llm_settings, factory, assistant.greeting)

    def announcement(self, text: str) -> DialogEngine:
        return AnnouncementDialog(text, reason="unknown_number")

    def _llm_settings(self, assistant: Assistant) -> DialogLlmSettings | None:
        llm = assistant.llm
        server = self._settings.llm
        if not llm.get("enabled", False) or not server.enabled:
            return None
        return DialogLlmSettings(
            model=str(llm.get("model") or server.model),
            temperature=float(llm.get("temperature", server.temperature)),
            max_tokens=int(llm.get("max_tokens", server.max_tokens)),
            timeout_s=float(llm.get("timeout_s", server.timeout_s)),
            system_prompt=assistant.system_prompt,
            fallback_text=str(llm.get("fallback_text") or APOLOGIES.get(assistant.language, "")),
        )

    def pipeline_settings(self, assistant: Assistant | None) -> PipelineSettings:
        vad = self._settings.vad
        media: Mapping[str, Any] = assistant.media if assistant is not None else {}

        def pick(key: str, default: int) -> int:
            value = media.get(key, default)
            return int(value) if isinstance(value, int | float) else default

        language = assistant.language if assistant is not None else "en"
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
            max_call_s=float(self._settings.calls.max_call_s),
            silence_hangup_s=float(self._settings.calls.no_input_hangup_s),
            apology_text=APOLOGIES.get(language.split("-")[0], APOLOGIES["en"]),
        )
