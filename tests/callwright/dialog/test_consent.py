"""ConsentDialog: the notice first, the spoken opt-out, the privacy-notice key (pure, no I/O)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from callwright.dialog.actions import CallContext, CallerTurn, DialogAction, Listen, Say
from callwright.dialog.consent import ConsentDialog, declined_line, says_decline
from callwright.dialog.speculation import SideEffectGate, Speculative


class Inner:
    def __init__(self) -> None:
        self.heard: list[CallerTurn] = []

    async def begin(self, ctx: CallContext) -> AsyncIterator[DialogAction]:
        yield Say("Hello, yes or no?")
        yield Listen(grammar=("yes", "no"))

    async def on_caller_turn(self, turn: CallerTurn) -> AsyncIterator[DialogAction]:
        self.heard.append(turn)
        yield Say(f"You said {turn.text or turn.dtmf}.")
        yield Listen()

    async def on_no_input(self) -> AsyncIterator[DialogAction]:
        yield Listen(grammar=("yes",))

    def on_interrupted(self, heard: str) -> None:
        return None

    def node_id(self) -> str | None:
        return "ask"


async def actions(source: AsyncIterator[DialogAction]) -> list[DialogAction]:
    return [action async for action in source]


CTX = CallContext(call_uid="u", caller_number="1", dialed="2", language="en")


def test_decline_phrases_per_language() -> None:
    assert says_decline("Please, DON'T record this!", "en")
    assert says_decline("do not record", "en-GB")
    assert not says_decline("recording is fine", "en")
    assert not says_decline("don't recorder", "en")
    assert says_decline("녹음하지 마세요", "ko")
    assert says_decline("bitte nicht aufnehmen", "de")
    assert says_decline("don't record", "xx")  # no list of its own: English


async def test_the_notice_comes_first_and_closed_grammars_take_the_phrases() -> None:
    declined: list[bool] = []
    inner = Inner()
    dialog = ConsentDialog(inner, "This call is recorded.",
                           on_decline=lambda: declined.append(True))
    opening = await actions(dialog.begin(CTX))
    assert opening[0] == Say("This call is recorded.", interruptible=False)
    assert opening[1] == Say("Hello, yes or no?")
    listen = opening[2]
    assert isinstance(listen, Listen) and listen.grammar is not None
    assert listen.grammar[:2] == ("yes", "no") and "don't record" in listen.grammar
    assert dialog.node_id() == "ask"

    # An ordinary answer is the inner dialog's; free speech stays free.
    reply = await actions(dialog.on_caller_turn(CallerTurn("yes")))
    assert reply == [Say("You said yes."), Listen()]
    assert [t.text for t in inner.heard] == ["yes"] and declined == []

    # "Don't record": the session is told once, the caller hears it, the dialog does not.
    reply = await actions(dialog.on_caller_turn(CallerTurn("don't record")))
    assert reply == [Say(declined_line("en"))] and declined == [True]
    assert [t.text for t in inner.heard] == ["yes"]
    again = await actions(dialog.on_caller_turn(CallerTurn("don't record")))
    assert again == [Say("You said don't record."), Listen()] and declined == [True]
    # Declined: the phrases are no longer added.
    assert await actions(dialog.on_no_input()) == [Listen(grammar=("yes",))]


async def test_the_privacy_notice_key() -> None:
    inner = Inner()
    dialog = ConsentDialog(inner, "Recorded.", privacy_notice="We keep calls 90 days.",
                           notice_digit="0")
    assert await actions(dialog.on_caller_turn(CallerTurn("", dtmf="0"))) == [
        Say("We keep calls 90 days.")]
    assert inner.heard == []
    await actions(dialog.on_caller_turn(CallerTurn("", dtmf="1")))
    assert [t.dtmf for t in inner.heard] == ["1"]
    # Without a decline callback grammars are left as they are.
    opening = await actions(dialog.begin(CTX))
    assert opening[2] == Listen(grammar=("yes", "no"))


class UndoableInner(Inner):
    def __init__(self) -> None:
        super().__init__()
        self.side_effects = SideEffectGate()

    def snapshot(self) -> object:
        return list(self.heard)

    def restore(self, snapshot: object) -> None:
        assert isinstance(snapshot, list)
        self.heard = list(snapshot)


async def test_the_consent_dialog_can_be_taken_back_when_its_inner_dialog_can() -> None:
    assert not isinstance(ConsentDialog(Inner(), "Recorded."), Speculative)
    declined: list[bool] = []
    inner = UndoableInner()
    dialog = ConsentDialog(inner, "Recorded.", on_decline=lambda: declined.append(True))
    assert isinstance(dialog, Speculative)
    await actions(dialog.begin(CTX))
    snap = dialog.snapshot()
    dialog.side_effects.hold()
    # A decline heard on a likely end: the recording is not stopped before the confirmation...
    step = asyncio.get_running_loop().create_task(
        actions(dialog.on_caller_turn(CallerTurn("don't record"))))
    for _ in range(10):
        await asyncio.sleep(0)
    assert declined == [] and not step.done()
    # ... and never, when the caller went on: the step is cancelled and taken back.
    step.cancel()
    with pytest.raises(asyncio.CancelledError):
        await step
    dialog.restore(snap)
    dialog.side_effects.release()
    assert declined == []
    reply = await actions(dialog.on_caller_turn(CallerTurn("don't record")))
    assert reply == [Say(declined_line("en"))] and declined == [True]
