"""How a call ended: the :class:`CallOutcome` a :class:`~callwright.call.pipeline.CallPipeline`
returns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CallOutcome:
    status: str                 # "completed", "transferred", "failed"
    reason: str                 # "assistant_hangup", "caller_hangup", "transfer", "error: ..."
    transfer_target: str | None = None
