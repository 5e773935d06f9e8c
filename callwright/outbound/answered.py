"""An answered outbound call, whatever the PBX: the assistant with the call's variables filled
in, the dialog it talks with (the machine message when an answering machine answered and the
assistant says ``leave_message``), and our own answering-machine screening noted on the rows.

Both adapters (``ari_app.outbound_call``, ``fs_app.outbound_call``) build their answered calls
from these, so a callee hears the same thing on Asterisk and on FreeSWITCH.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, Protocol

from callwright.dialog.actions import DialogEngine
from callwright.dialog.announcement import AnnouncementDialog
from callwright.dialog.flow_nodes import fill
from callwright.errors import LlmError
from callwright.outbound.amd import AmdDetector
from callwright.outbound.dial_result import DialTracker
from callwright.outbound.screening import ScreeningTransport
from callwright.store.assistants import Assistant
from callwright.store.outbound_calls import AssistantOutbound, OutboundCallRepository

#: Builds the dialog, given the session's LLM error callback and whether a machine answered.
DialogFactory = Callable[[Callable[[LlmError], None], bool], Awaitable[DialogEngine]]


class AssistantDialogs(Protocol):
    async def for_assistant(
        self, assistant: Assistant, on_llm_error: Callable[[LlmError], None] | None = None
    ) -> DialogEngine: ...


class CallEvents(Protocol):
    async def add_event(
        self, call_id: int, kind: str, detail: dict[str, Any] | None = None
    ) -> int: ...


def filled_assistant(assistant: Assistant, variables: dict[str, str]) -> Assistant:
    """The assistant with ``{name}`` in its greeting and system prompt filled in."""
    if not variables:
        return assistant
    return replace(assistant, greeting=fill(assistant.greeting, variables),
                   system_prompt=fill(assistant.system_prompt, variables))


def outbound_dialog(dialogs: AssistantDialogs, assistant: Assistant, variables: dict[str, str],
                    settings: AssistantOutbound, *, machine: bool = False) -> DialogFactory:
    """The dialog of an answered call: the assistant's (``assistant`` already filled), or, when
    a machine answered (``machine``: the PBX's AMD said so; or the factory's own argument: our
    screening heard one) and ``on_machine`` is ``leave_message``, the machine message said once."""

    async def dialog(on_llm_error: Callable[[LlmError], None], heard_machine: bool,
                     ) -> DialogEngine:
        if (machine or heard_machine) and settings.on_machine == "leave_message":
            text = fill(settings.machine_message or assistant.greeting, variables)
            return AnnouncementDialog(text, reason="machine_message")
        return await dialogs.for_assistant(assistant, on_llm_error=on_llm_error)

    return dialog


async def screen_for_machine(
    transport: ScreeningTransport, tracker: DialTracker, calls: CallEvents,
    repo: OutboundCallRepository, *, call_id: int, row_id: int,
) -> bool:
    """Our own answering-machine detection on the callee's first seconds (the PBX runs no
    AMD()): the result noted on the rows as AMD()'s would be; True for a machine."""
    result = await transport.screen(AmdDetector())
    tracker.on_amd(result.status, result.cause)
    await calls.add_event(call_id, "amd", {"status": result.status, "cause": result.cause,
                                           "by": "audio"})
    await repo.mark_answered(row_id, tracker.result())
    return result.machine
