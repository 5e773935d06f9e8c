"""What a :class:`~callwright.call.pipeline.CallPipeline`'s event loop reacts to: a caller turn, a
keypad digit, silence, the end of the call, a failure, a recognition that failed, something to
note on the call's timeline, another assistant turn to start, or a likely end of the caller's turn
(and its taking back).

Used by the pipeline's modules only: the listener, the clock hooks and the replies
(:mod:`callwright.call.reply_player`, :mod:`callwright.call.call_timers`) post these, and the loop
handles them one at a time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from callwright.call.listener import CallerSpeech
from callwright.call.outcome import CallOutcome
from callwright.dialog.actions import DialogAction
from callwright.errors import SpeechError


@dataclass(frozen=True, slots=True)
class Turn:
    speech: CallerSpeech


@dataclass(frozen=True, slots=True)
class Dtmf:
    digit: str


@dataclass(frozen=True, slots=True)
class NoInput:
    pass


@dataclass(frozen=True, slots=True)
class End:
    outcome: CallOutcome
    drain: bool = False  # let the queued audio finish first (assistant hang-up, transfer)


@dataclass(frozen=True, slots=True)
class Finish:
    """End the call from outside after saying ``text`` (the service hands the caller back)."""

    outcome: CallOutcome
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Failed:
    error: BaseException


@dataclass(frozen=True, slots=True)
class SttFailed:
    """The recogniser failed on the caller's last turn (crashed, or no result in time)."""

    error: SpeechError


@dataclass(frozen=True, slots=True)
class Note:
    """An event for the call's timeline, from a synchronous hook (recording stopped, TTS fell
    back)."""

    kind: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Likely:
    """The caller's turn is likely over with the words ``text`` (eager end of turn)."""

    text: str


@dataclass(frozen=True, slots=True)
class Resumed:
    """The caller went on after a likely end: drop what was prepared. ``new_turn``: a new turn
    began while a reply was prepared for one never confirmed (noise)."""

    new_turn: bool = False


@dataclass(frozen=True, slots=True)
class Next:
    """Start another assistant turn (after a failed transfer)."""

    actions: AsyncIterator[DialogAction]


Event = (Turn | Dtmf | NoInput | End | Finish | Failed | SttFailed | Note | Next
         | Likely | Resumed)
