"""What a dialog engine asks the call pipeline to do, and what the pipeline tells it back.

A dialog engine is an async generator of :data:`DialogAction` values. The pipeline speaks each
``Say`` as soon as it arrives (sentence by sentence), opens the recognizer with the grammar of the
latest ``Listen``, and ends or transfers the call on ``Hangup``/``Transfer``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Say:
    """Speak ``text``. ``interruptible=False`` means barge-in does not cut it (legal notices)."""

    text: str
    interruptible: bool = True


@dataclass(frozen=True, slots=True)
class Listen:
    """Wait for the caller. ``grammar`` restricts recognition to these phrases (Vosk grammar mode);
    ``None`` means free speech. After ``no_input_s`` seconds of silence the engine's
    ``on_no_input`` is called. ``dtmf`` allows keypad answers. ``min_digits``/``max_digits``
    give the length of a digit-string answer when known (the turn ends sooner once it is all
    said, and holds through the pauses between groups before)."""

    grammar: tuple[str, ...] | None = None
    no_input_s: float = 8.0
    dtmf: bool = True
    min_digits: int | None = None
    max_digits: int | None = None


@dataclass(frozen=True, slots=True)
class Hangup:
    """End the call after everything already said has been played. Once yielded it holds: the
    caller talking over those words stops them, not the hang-up, which follows once their words
    are heard (:mod:`callwright.call.terminal_actions`)."""

    reason: str = "assistant_hangup"


@dataclass(frozen=True, slots=True)
class Transfer:
    """Hand the caller to a dialplan target: ``context,extension,priority`` or an endpoint.
    Once yielded it holds, as :class:`Hangup` does, whether the announcement is heard whole."""

    target: str
    reason: str = "transfer"


DialogAction = Say | Listen | Hangup | Transfer


@dataclass(frozen=True, slots=True)
class CallerTurn:
    """What the caller said (or keyed) in one turn."""

    text: str
    dtmf: str = ""
    confidence: float | None = None


@dataclass(slots=True)
class CallContext:
    """Facts about the call that a dialog engine may use. Never holds secrets."""

    call_uid: str
    caller_number: str
    dialed: str
    language: str
    slots: dict[str, Any] = field(default_factory=dict)
    variables: Mapping[str, str] = field(default_factory=dict)


class DialogEngine(Protocol):
    """One instance per call. Each method yields the actions for one assistant turn."""

    def begin(self, ctx: CallContext) -> AsyncIterator[DialogAction]:
        """The opening: greeting and the first Listen."""

    def on_caller_turn(self, turn: CallerTurn) -> AsyncIterator[DialogAction]:
        """The caller finished a turn."""

    def on_no_input(self) -> AsyncIterator[DialogAction]:
        """The caller said nothing within the last Listen's ``no_input_s``."""

    def on_interrupted(self, heard: str) -> None:
        """The last reply was cut by barge-in; ``heard`` is the part the caller actually heard."""

    def node_id(self) -> str | None:
        """The current flow node (for the turn log), or None."""
