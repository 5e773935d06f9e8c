"""What a :class:`~ari_app.session.CallSession` needs to run an answered outbound call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from callwright.dialog.actions import DialogEngine
from callwright.errors import LlmError
from callwright.store.assistants import Assistant
from callwright.store.calls import Call

DialogFactory = Callable[[Callable[[LlmError], None]], Awaitable[DialogEngine]]


@dataclass(frozen=True, slots=True)
class OutboundStart:
    """The calls row made when dialing began, the assistant (its greeting filled with the
    call's variables), the variables (the flow's first slots) and how to build the dialog
    (given the session's LLM error callback)."""

    call: Call
    assistant: Assistant
    variables: dict[str, str]
    dialog: DialogFactory
