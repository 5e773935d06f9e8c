"""A dialog that says one message and hangs up (unknown numbers, closed lines)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from callwright.dialog.actions import CallContext, CallerTurn, DialogAction, Hangup, Say


class AnnouncementDialog:
    def __init__(self, text: str, reason: str = "announcement") -> None:
        self._text = text
        self._reason = reason

    async def begin(self, ctx: CallContext) -> AsyncIterator[DialogAction]:
        yield Say(self._text, interruptible=False)
        yield Hangup(self._reason)

    async def on_caller_turn(self, turn: CallerTurn) -> AsyncIterator[DialogAction]:
        yield Hangup(self._reason)

    async def on_no_input(self) -> AsyncIterator[DialogAction]:
        yield Hangup(self._reason)

    def on_interrupted(self, heard: str) -> None:
        return None

    def node_id(self) -> str | None:
        return None
