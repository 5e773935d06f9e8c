"""Picking a conversation up again after the service lost it (a crash, a restart, an upgrade).

The call's journal says where the conversation was: a :class:`ResumePoint` holds the flow node of
the last assistant turn, the slots collected so far and the transcript as the caller heard it
(:func:`callwright.call.resume.resume_point` reads it from the store). A dialog engine that can
resume (``FlowEngine``, ``LlmEngine``) implements :class:`ResumableDialog`; :class:`ResumedDialog`
wraps it so that the call's opening is a short line ("Sorry, I lost you for a moment.") followed by
the engine's :meth:`ResumableDialog.resume` instead of its greeting. An engine that cannot resume
starts over with its greeting after the line.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from callwright.dialog.actions import CallContext, CallerTurn, DialogAction, DialogEngine, Say
from callwright.dialog.fixed_prompts import line_for

__all__ = ["RECOVERY_LINES", "ResumableDialog", "ResumePoint", "ResumedDialog", "recovery_line"]

#: What a caller hears first when the call is picked up again, by language.
RECOVERY_LINES = {
    "en": "Sorry, I lost you for a moment.",
    "ko": "죄송합니다. 잠시 연결이 끊겼습니다.",
    "de": "Entschuldigung, die Verbindung war kurz unterbrochen.",
    "fr": "Désolé, je vous ai perdu un instant.",
    "es": "Perdone, le he perdido un momento.",
    "ja": "失礼しました。少しの間、接続が途切れました。",
}


def recovery_line(language: str, configured: str = "") -> str:
    """``configured`` when it is set, else the line for ``language`` (English by default)."""
    if configured.strip():
        return configured.strip()
    return line_for(RECOVERY_LINES, language)


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """Where a conversation was. ``transcript`` is ``(role, text)`` with role ``assistant`` or
    ``user``, oldest first, as heard (a reply cut by barge-in holds the heard part)."""

    node: str | None = None
    slots: Mapping[str, Any] = field(default_factory=dict)
    transcript: tuple[tuple[str, str], ...] = ()

    def last_said(self) -> str | None:
        """The assistant's last words, if the assistant spoke last."""
        if self.transcript and self.transcript[-1][0] == "assistant":
            return self.transcript[-1][1]
        return None

    @property
    def caller_spoke_last(self) -> bool:
        return bool(self.transcript) and self.transcript[-1][0] == "user"


@runtime_checkable
class ResumableDialog(Protocol):
    def resume(self, ctx: CallContext, point: ResumePoint) -> AsyncIterator[DialogAction]:
        """Instead of :meth:`DialogEngine.begin`: go on from ``point`` (typically by asking the
        pending question again), with ``ctx.slots`` holding the journalled slots."""


class ResumedDialog:
    """A :class:`DialogEngine` whose opening is ``line`` and then ``inner`` resumed at ``point``;
    everything after the opening is ``inner``'s."""

    def __init__(self, inner: DialogEngine, line: str, point: ResumePoint) -> None:
        self.inner = inner
        self.line = line
        self.point = point

    async def begin(self, ctx: CallContext) -> AsyncIterator[DialogAction]:
        ctx.slots.update(self.point.slots)
        if self.line:
            yield Say(self.line, interruptible=False)
        inner = self.inner
        source = (
            inner.resume(ctx, self.point)
            if isinstance(inner, ResumableDialog) and self.point.transcript
            else inner.begin(ctx)
        )
        try:
            async for action in source:
                yield action
        finally:
            close = getattr(source, "aclose", None)
            if callable(close):
                await close()

    def on_caller_turn(self, turn: CallerTurn) -> AsyncIterator[DialogAction]:
        return self.inner.on_caller_turn(turn)

    def on_no_input(self) -> AsyncIterator[DialogAction]:
        return self.inner.on_no_input()

    def on_interrupted(self, heard: str) -> None:
        self.inner.on_interrupted(heard)

    def node_id(self) -> str | None:
        return self.inner.node_id()

    def __getattr__(self, name: str) -> Any:
        """Optional hooks the pipeline looks up by name (``on_transfer_failed``) are inner's."""
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)
