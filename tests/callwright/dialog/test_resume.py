"""Resuming a conversation where the journal says it was (after a crash or a restart)."""

from __future__ import annotations

from collections.abc import Callable

from callwright.dialog.actions import (
    CallContext,
    CallerTurn,
    DialogAction,
    Hangup,
    Listen,
    Say,
    Transfer,
)
from callwright.dialog.announcement import AnnouncementDialog
from callwright.dialog.flow import load_flow
from callwright.dialog.flow_engine import FlowEngine
from callwright.dialog.resume import ResumedDialog, ResumePoint, recovery_line
from tests.callwright.dialog.test_flow_engine import CtxFactory, EngineFactory
from tests.callwright.dialog.test_flow_engine import make_engine as make_engine  # noqa: F401
from tests.callwright.dialog.test_llm_engine import LlmFactory, run
from tests.callwright.dialog.test_llm_engine import make_ctx as make_ctx  # noqa: F401
from tests.callwright.dialog.test_llm_engine import make_llm as make_llm  # noqa: F401
from tests.fakes.openai_server import Reply

LINE = "Sorry, I lost you for a moment."


def texts(actions: list[DialogAction]) -> list[str]:
    return [a.text for a in actions if isinstance(a, Say)]


async def test_a_flow_asks_its_pending_question_again_with_the_slots_it_had(
    make_engine: EngineFactory, make_ctx: CtxFactory
) -> None:
    engine = make_engine(greeting="Hello!")
    point = ResumePoint(
        node="urgent",
        slots={"dept": "support"},
        transcript=(("assistant", "Hello! Welcome to Acme. Sales or support?"),
                    ("user", "support"), ("assistant", "Is it urgent?")),
    )
    dialog = ResumedDialog(engine, LINE, point)
    ctx = make_ctx()
    actions = await run(dialog.begin(ctx))
    assert actions[0] == Say(LINE, interruptible=False)
    assert texts(actions) == [LINE, "Is it urgent?"], "no greeting, no welcome again"
    assert isinstance(actions[-1], Listen)
    assert ctx.slots == {"dept": "support"}
    assert dialog.node_id() == "urgent"
    # The conversation goes on from there: yes routes to the support transfer.
    actions = await run(dialog.on_caller_turn(CallerTurn("yes")))
    assert isinstance(actions[-1], Transfer) and actions[-1].target == "PJSIP/300"
    assert ctx.slots == {"dept": "support", "urgent": "yes"}


async def test_a_flow_with_no_turn_journalled_starts_over_after_the_line(
    make_engine: EngineFactory, make_ctx: CtxFactory
) -> None:
    dialog = ResumedDialog(make_engine(greeting="Hello!"), LINE, ResumePoint())
    actions = await run(dialog.begin(make_ctx()))
    assert texts(actions) == [LINE, "Hello!", "Welcome to Acme.", "Sales or support?"]


async def test_an_unknown_node_starts_the_flow_over(
    make_engine: EngineFactory, make_ctx: CtxFactory
) -> None:
    point = ResumePoint(node="gone-in-the-new-version", transcript=(("assistant", "Hi"),))
    actions = await run(ResumedDialog(make_engine(), LINE, point).begin(make_ctx()))
    assert texts(actions) == [LINE, "Welcome to Acme.", "Sales or support?"]


async def test_an_engine_that_cannot_resume_begins_again() -> None:
    dialog = ResumedDialog(AnnouncementDialog("We are closed."), LINE,
                           ResumePoint(transcript=(("assistant", "We are"),)))
    ctx = CallContext(call_uid="c", caller_number="1", dialed="2", language="en")
    actions = await run(dialog.begin(ctx))
    assert actions == [Say(LINE, False), Say("We are closed.", False), Hangup("announcement")]


async def test_the_llm_repeats_its_last_words_with_the_history_as_journalled(
    make_llm: LlmFactory, make_ctx: Callable[..., CallContext]
) -> None:
    engine, server = await make_llm(Reply.text("Your table for two is booked. Anything else?"))
    point = ResumePoint(transcript=(
        ("assistant", "Hello, Acme here."), ("user", "A table for two tonight."),
        ("assistant", "At what time?"),
    ))
    actions = await run(ResumedDialog(engine, LINE, point).begin(make_ctx()))
    assert actions == [Say(LINE, False), Say("At what time?"), Listen()]
    assert server.requests == [], "nothing to generate: the question is asked again"
    actions = await run(engine.on_caller_turn(CallerTurn("at eight")))
    assert texts(actions) == ["Your table for two is booked.", "Anything else?"]
    sent = server.requests[0].messages[1:]
    assert sent == [
        {"role": "assistant", "content": "Hello, Acme here."},
        {"role": "user", "content": "A table for two tonight."},
        {"role": "assistant", "content": "At what time?"},
        {"role": "user", "content": "at eight"},
    ]


async def test_the_llm_answers_when_the_caller_spoke_last(
    make_llm: LlmFactory, make_ctx: Callable[..., CallContext]
) -> None:
    engine, server = await make_llm(Reply.text("It opens at nine."))
    point = ResumePoint(transcript=(("assistant", "Hello."), ("user", "When do you open?")))
    actions = await run(ResumedDialog(engine, LINE, point).begin(make_ctx()))
    assert actions == [Say(LINE, False), Say("It opens at nine."), Listen()]
    assert server.requests[0].messages[-1] == {"role": "user", "content": "When do you open?"}


async def test_a_flow_resumed_in_its_llm_node_hands_the_transcript_to_the_llm(
    make_llm: LlmFactory, make_ctx: Callable[..., CallContext]
) -> None:
    flow = load_flow({
        "version": 1, "start": "ask",
        "nodes": {
            "ask": {"kind": "ask", "prompt": "Order question?", "slot": "order",
                    "answer": "yes_no", "routes": {"yes": "agent", "no": "bye"}},
            "agent": {"kind": "llm", "goal": "Tell the order's status."},
            "bye": {"kind": "hangup", "text": "Goodbye."},
        },
    })
    llm, server = await make_llm(Reply.text("Order 12 ships tomorrow."))
    engine = FlowEngine(flow, llm=llm)
    point = ResumePoint(node="agent", slots={"order": "yes"}, transcript=(
        ("assistant", "Order question?"), ("user", "yes"), ("assistant", "Your order number?"),
    ))
    ctx = make_ctx()
    actions = await run(ResumedDialog(engine, LINE, point).begin(ctx))
    assert actions == [Say(LINE, False), Say("Your order number?"), Listen()]
    assert engine.node_id() == "agent"
    await run(engine.on_caller_turn(CallerTurn("twelve")))
    messages = server.requests[0].messages
    assert "Tell the order's status" in messages[0]["content"]
    assert messages[1:] == [
        {"role": "assistant", "content": "Order question?"}, {"role": "user", "content": "yes"},
        {"role": "assistant", "content": "Your order number?"},
        {"role": "user", "content": "twelve"},
    ]


def test_recovery_line_by_language() -> None:
    assert recovery_line("en-US") == LINE
    assert recovery_line("ko") != LINE
    assert recovery_line("xx") == LINE
    assert recovery_line("ko", "  One moment please.  ") == "One moment please."
