"""How one call's conversation loop is tuned: the :class:`PipelineSettings` of a
:class:`~callwright.call.pipeline.CallPipeline`."""

from __future__ import annotations

from dataclasses import dataclass

from callwright.speech.barge_in import BargeInConfig
from callwright.speech.endpointing import EndpointingConfig


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    language: str
    voice: str | None
    endpointing: EndpointingConfig
    barge_in: BargeInConfig
    vad_aggressiveness: int = 2
    pre_roll_ms: int = 300
    max_call_s: float = 1800.0
    #: Hang up when the caller has not spoken for this long (0 = never); the dialog's own
    #: no-input re-prompts come first, this is the backstop.
    silence_hangup_s: float = 0.0
    apology_text: str = "Sorry, something went wrong on our side. Goodbye."
