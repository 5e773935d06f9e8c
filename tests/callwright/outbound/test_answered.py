"""An answered outbound call's assistant and dialog, the same on every PBX."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from callwright.dialog.actions import CallContext, DialogEngine, Say
from callwright.dialog.announcement import AnnouncementDialog
from callwright.errors import LlmError
from callwright.outbound.answered import filled_assistant, outbound_dialog
from callwright.store.assistants import Assistant
from callwright.store.outbound_calls import AssistantOutbound


def assistant() -> Assistant:
    return Assistant(id=1, org_id=1, name="Reminders", language="en",
                     greeting="Hi {first_name}", system_prompt="Call {first_name} about {what}",
                     stt={}, tts={}, llm={}, media={}, record_calls=False, consent_prompt="",
                     tools=[], transfer_targets=[], unknown_input_reply="", created_at="",
                     updated_at="")


async def said(dialog: DialogEngine) -> str:
    ctx = CallContext(call_uid="c1", caller_number="+15550100", dialed="100", language="en")
    async for action in dialog.begin(ctx):
        assert isinstance(action, Say)
        return action.text
    raise AssertionError("nothing said")


@dataclass
class Dialogs:
    asked: list[Assistant]

    async def for_assistant(self, assistant: Assistant,
                            on_llm_error: Callable[[LlmError], None] | None = None,
                            ) -> DialogEngine:
        self.asked.append(assistant)
        return AnnouncementDialog(assistant.greeting, reason="the assistant")


def test_variables_fill_the_greeting_and_the_prompt() -> None:
    filled = filled_assistant(assistant(), {"first_name": "Ana", "what": "Tuesday"})
    assert (filled.greeting, filled.system_prompt) == ("Hi Ana", "Call Ana about Tuesday")
    assert filled_assistant(assistant(), {}) == assistant()


async def test_a_machine_gets_the_message_only_when_the_assistant_leaves_one() -> None:
    dialogs = Dialogs([])
    person = filled_assistant(assistant(), {"first_name": "Ana"})
    leave = AssistantOutbound(1, "leave_message", "Please call {first_name} back")
    made = await outbound_dialog(dialogs, person, {"first_name": "Ana"}, leave)(
        lambda exc: None, True)
    assert isinstance(made, AnnouncementDialog) and dialogs.asked == []
    assert await said(made) == "Please call Ana back"
    # the PBX's AMD said machine: the same, whatever the screening says
    made = await outbound_dialog(dialogs, person, {}, leave, machine=True)(
        lambda exc: None, False)
    assert await said(made) == "Please call back"  # no such variable: left out
    # a person, or an assistant that talks to machines: its own dialog
    await outbound_dialog(dialogs, person, {}, leave)(lambda exc: None, False)
    talk = AssistantOutbound(1, "continue", "")
    await outbound_dialog(dialogs, person, {}, talk, machine=True)(lambda exc: None, True)
    assert dialogs.asked == [person, person]
