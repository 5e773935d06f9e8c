"""A call's turns as the store keeps them: :class:`NewTurn` is one to record (what
:meth:`~callwright.store.calls.CallRepository.add_turn` and every store in front of it take),
:class:`Turn` one read back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from callwright.store.assistants import decode_json
from callwright.store.engine import Row

SPEAKERS = ("caller", "assistant")
TURN_COLUMNS = (
    "id, call_id, seq, speaker, text, started_at, ended_at, interrupted, stt_ms, dialog_ms,"
    " tts_ms, first_frame_ms, confidence, meta"
)


@dataclass(frozen=True, slots=True)
class NewTurn:
    """A turn to record. ``seq`` orders the turns of a call (unique per call); the ``*_ms``
    fields are the turn's latencies (speech recognition, dialog, synthesis, first frame);
    ``meta`` what the dialog noted (a tool call, an eager end)."""

    seq: int
    speaker: str
    text: str
    started_at: str
    ended_at: str | None = None
    interrupted: bool = False
    stt_ms: int | None = None
    dialog_ms: int | None = None
    tts_ms: int | None = None
    first_frame_ms: int | None = None
    confidence: float | None = None
    meta: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Turn:
    """A recorded turn."""

    id: int
    call_id: int
    seq: int
    speaker: str
    text: str
    started_at: str
    ended_at: str | None
    interrupted: bool
    stt_ms: int | None
    dialog_ms: int | None
    tts_ms: int | None
    first_frame_ms: int | None
    confidence: float | None
    meta: dict[str, Any]


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def turn_from_row(row: Row) -> Turn:
    """A :class:`Turn` from a row of :data:`TURN_COLUMNS`."""
    confidence = row["confidence"]
    return Turn(
        id=int(row["id"]), call_id=int(row["call_id"]), seq=int(row["seq"]),
        speaker=str(row["speaker"]), text=str(row["text"]), started_at=str(row["started_at"]),
        ended_at=row["ended_at"], interrupted=bool(row["interrupted"]),
        stt_ms=_opt_int(row["stt_ms"]), dialog_ms=_opt_int(row["dialog_ms"]),
        tts_ms=_opt_int(row["tts_ms"]), first_frame_ms=_opt_int(row["first_frame_ms"]),
        confidence=None if confidence is None else float(confidence),
        meta=decode_json(row["meta"], dict, "call_turns.meta"),
    )
