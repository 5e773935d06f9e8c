"""How one call's conversation loop is tuned: the :class:`PipelineSettings` of a
:class:`~callwright.call.pipeline.CallPipeline`."""

from __future__ import annotations

from dataclasses import dataclass

from callwright.call.listener import STT_TIMEOUT_S
from callwright.call.speaker import TTS_TIMEOUT_S
from callwright.speech.barge_in import BargeInConfig
from callwright.speech.endpointing import EndpointingConfig
from callwright.speech.turn_end import TurnEndConfig


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    language: str
    voice: str | None
    endpointing: EndpointingConfig
    barge_in: BargeInConfig
    vad_aggressiveness: int = 2
    #: The voice detector: "webrtc" or "silero" (its model loaded at start-up).
    vad: str = "webrtc"
    #: The end of turn that knows what it waits for (None: the fixed ``end_silence_ms``).
    turn_end: TurnEndConfig | None = TurnEndConfig()
    #: Eager end of turn (with ``turn_end``, for a dialog whose steps can be taken back): the
    #: reply is prepared on a likely end, played once the turn is confirmed, dropped unheard if
    #: the caller goes on (:mod:`callwright.call.eager`).
    eager: bool = True
    pre_roll_ms: int = 300
    max_call_s: float = 1800.0
    #: Hang up when the caller has not spoken for this long (0 = never); the dialog's own
    #: no-input re-prompts come first, this is the backstop.
    silence_hangup_s: float = 0.0
    apology_text: str = "Sorry, something went wrong on our side. Goodbye."
    #: Said when the recogniser failed on the caller's words; the call then listens again.
    repeat_text: str = "Sorry, I did not catch that. Could you say it again?"
    #: Recognitions failing in a row that end the call (with ``apology_text``).
    max_stt_failures: int = 3
    #: Longest wait for a turn's transcript after the caller stopped speaking.
    stt_timeout_s: float = STT_TIMEOUT_S
    #: Longest wait for a sentence's audio before the fallback TTS (espeak-ng) says it.
    tts_timeout_s: float = TTS_TIMEOUT_S
    #: The espeak-ng voice of the fallback TTS (None: espeak-ng's default).
    fallback_voice: str | None = None
