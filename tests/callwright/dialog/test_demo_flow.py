"""The demo assistant's flow."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime
from typing import Any

import pytest

from callwright.dialog.actions import (
    CallContext,
    CallerTurn,
    DialogAction,
    Hangup,
    Listen,
    Say,
    Transfer,
)
from callwright.dialog.demo_flow import BOOKING_FLOW_EN, DEMO_FLOW, DEMO_FLOW_EN, demo_flow
from callwright.dialog.flow import load_flow, validate_flow
from callwright.dialog.flow_engine import FlowEngine

EngineFactory = Callable[..., tuple[FlowEngine, CallContext]]


@pytest.fixture
def make_engine() -> EngineFactory:
    def make(
        doc: dict[str, Any] = DEMO_FLOW, language: str = "ko-KR"
    ) -> tuple[FlowEngine, CallContext]:
        ctx = CallContext(call_uid="demo", caller_number="1001", dialed="7000", language=language)
        return FlowEngine(load_flow(doc)), ctx

    return make


async def run(actions: AsyncIterator[DialogAction]) -> list[DialogAction]:
    return [a async for a in actions]


@pytest.mark.parametrize("doc", [DEMO_FLOW, DEMO_FLOW_EN])
def test_demo_flows_validate(doc: dict[str, Any]) -> None:
    assert validate_flow(doc) == []


def test_demo_flow_by_language() -> None:
    assert demo_flow("ko-KR") is DEMO_FLOW
    assert demo_flow("en-GB") is DEMO_FLOW_EN


def test_english_demo_has_the_same_structure() -> None:
    assert DEMO_FLOW_EN["start"] == DEMO_FLOW["start"]
    for node_id, node in DEMO_FLOW["nodes"].items():
        english = DEMO_FLOW_EN["nodes"][node_id]
        assert english["kind"] == node["kind"]
        assert english.get("routes") == node.get("routes")
        assert english.get("next") == node.get("next")


async def test_hello_then_yes_books(make_engine: EngineFactory) -> None:
    engine, ctx = make_engine()
    actions = await run(engine.begin(ctx))
    actions += await run(engine.on_caller_turn(CallerTurn("안녕하세요")))
    actions += await run(engine.on_caller_turn(CallerTurn("네")))

    assert len(actions) == 6
    greeting, listen_hello, offer, listen_yes_no, booked, hangup = actions
    assert greeting == Say("안녕하세요, 콜라이트 데모입니다. 안녕하세요 라고 말씀해 보세요.")
    assert isinstance(listen_hello, Listen) and listen_hello.grammar is not None
    assert "안녕하세요" in listen_hello.grammar
    assert isinstance(offer, Say) and offer.text.startswith("반갑습니다.")
    assert offer.text == "반갑습니다. 예약을 도와드릴까요? 네 또는 아니요로 답해 주세요."
    assert isinstance(listen_yes_no, Listen) and listen_yes_no.grammar is not None
    assert "네" in listen_yes_no.grammar and "아니요" in listen_yes_no.grammar
    assert booked == Say("예약을 접수했습니다. 감사합니다. 안녕히 계세요.")
    assert isinstance(hangup, Hangup)
    assert ctx.slots == {"greeted": "hello", "wants_booking": "yes"}


async def test_hello_then_no_declines(make_engine: EngineFactory) -> None:
    engine, ctx = make_engine()
    await run(engine.begin(ctx))
    await run(engine.on_caller_turn(CallerTurn("안녕하세요")))
    actions = await run(engine.on_caller_turn(CallerTurn("아니요")))
    assert actions == [Say("알겠습니다. 좋은 하루 되세요."), Hangup("demo_declined")]


async def test_unmatched_answer_reprompts(make_engine: EngineFactory) -> None:
    engine, ctx = make_engine()
    await run(engine.begin(ctx))
    actions = await run(engine.on_caller_turn(CallerTurn("여보세요")))
    assert actions[0] == Say("잘 듣지 못했습니다. 안녕하세요 라고 말씀해 주세요.")
    assert isinstance(actions[1], Listen) and actions[1].grammar == ("안녕하세요",)
    await run(engine.on_caller_turn(CallerTurn("안녕하세요")))
    actions = await run(engine.on_caller_turn(CallerTurn("글쎄요")))
    assert actions[0] == Say("죄송합니다. 네 또는 아니요로 답해 주세요.")
    actions = await run(engine.on_caller_turn(CallerTurn("예")))
    assert actions[-1] == Hangup("demo_booked")


async def test_english_demo(make_engine: EngineFactory) -> None:
    engine, ctx = make_engine(DEMO_FLOW_EN, "en-US")
    actions = await run(engine.begin(ctx))
    assert actions[0] == Say("Hello, this is the Callwright demo. Please say hello.")
    actions = await run(engine.on_caller_turn(CallerTurn("Hi there")))
    assert isinstance(actions[-1], Listen) and actions[-1].grammar is not None
    assert "yes" in actions[-1].grammar and "no" in actions[-1].grammar
    actions = await run(engine.on_caller_turn(CallerTurn("yes please")))
    assert actions == [Say("Your booking is made. Thank you. Goodbye."), Hangup("demo_booked")]


async def test_the_documented_booking_line() -> None:
    """The call told in docs/flows.md, with a webhook that books and a fixed clock."""

    class Bookings:
        def __init__(self) -> None:
            self.payloads: list[Mapping[str, Any]] = []

        async def call(
            self, name: str, payload: Mapping[str, Any], timeout_s: float
        ) -> Mapping[str, Any]:
            assert name == "bookings"
            self.payloads.append(payload)
            return {"booking": {"reference": "B-1042"}}

    bookings = Bookings()
    engine = FlowEngine(
        load_flow(BOOKING_FLOW_EN), webhooks=bookings, clock=lambda: datetime(2025, 3, 12, 10)
    )
    ctx = CallContext(call_uid="b1", caller_number="1001", dialed="7000", language="en-US")
    said = [a.text for a in await run(engine.begin(ctx)) if isinstance(a, Say)]
    assert said == ["Welcome to Luigi's. For which day and time would you like a table?"]
    await run(engine.on_caller_turn(CallerTurn("hmm")))  # not a date: asked again
    await run(engine.on_caller_turn(CallerTurn("tomorrow at 7 pm")))
    actions = await run(engine.on_caller_turn(CallerTurn("", dtmf="4")))
    assert actions[0] == Say("A table for 4 on 2025-03-13 19:00. Shall I book it?")
    actions = await run(engine.on_caller_turn(CallerTurn("yes")))
    assert actions == [
        Say("One moment please."),
        Say("You are booked. Your reference is B-1042."),
        Say("Thank you for calling. Goodbye."),
        Hangup("booked"),
    ]
    assert bookings.payloads == [
        {
            "call_uid": "b1",
            "caller_number": "1001",
            "dialed": "7000",
            "node": "book",
            "slots": {"when": "2025-03-13T19:00", "party_size": 4},
        }
    ]
    assert ctx.slots == {
        "when": "2025-03-13T19:00",
        "party_size": 4,
        "confirmed": "yes",
        "booking_ref": "B-1042",
    }


async def test_a_big_party_goes_to_a_colleague() -> None:
    engine = FlowEngine(load_flow(BOOKING_FLOW_EN), clock=lambda: datetime(2025, 3, 12, 10))
    ctx = CallContext(call_uid="b2", caller_number="1001", dialed="7000", language="en")
    await run(engine.begin(ctx))
    await run(engine.on_caller_turn(CallerTurn("friday at noon")))
    actions = await run(engine.on_caller_turn(CallerTurn("twelve")))
    assert actions == [
        Say("Let me put you through to a colleague."),
        Transfer("from-internal,200,1", "flow_transfer"),
    ]
    actions = await run(engine.on_transfer_failed())
    assert actions[-1] == Hangup("no_operator")
    assert ctx.slots == {"when": "2025-03-14T12:00", "party_size": 12}
