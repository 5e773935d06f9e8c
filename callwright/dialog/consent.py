"""The consent notice (issue 12, item 1): a recorded call opens with the assistant's
``consent_prompt``, whatever dialog (flow or LLM) follows.

:class:`ConsentDialog` wraps the call's dialog: its opening is the notice, said whole (no
barge-in), then the inner dialog's own opening; everything else is the inner dialog's. The call
session applies it when the call is recorded, so the recording, which starts with the pipeline,
holds the notice as its first audio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from callwright.dialog.actions import CallContext, CallerTurn, DialogAction, DialogEngine, Say


class ConsentDialog:
    def __init__(self, inner: DialogEngine, notice: str) -> None:
        self.inner = inner
        self.notice = notice

    async def begin(self, ctx: CallContext) -> AsyncIterator[DialogAction]:
        yield Say(self.notice, interruptible=False)
        source = self.inner.begin(ctx)
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
