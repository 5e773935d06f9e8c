"""The flow engine: walking a flow turn by turn."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable
from typing import Any

import openai
import pytest

from callwright.dialog.actions import (
    CallContext,
    CallerTurn,
    DialogAction,
    DialogEngine,
    Hangup,
    Listen,
    Say,
    Transfer,
)
from callwright.dialog.factory import build_dialog_engine
from callwright.dialog.flow import load_flow
from callwright.dialog.flow_engine import FlowEngine, default_texts
from callwright.dialog.llm_engine import LlmEngine, LlmSettings
from callwright.errors import FlowError

FLOW: dict[str, Any] = {
    "version": 1,
    "start": "welcome",
    "nodes": {
        "welcome": {"kind": "say", "text": "Welcome to Acme.", "next": "menu"},
        "menu": {
            "kind": "ask",
            "prompt": "Sales or support?",
            "slot": "dept",
            "answer": "choice",
            "choices": [
                {"value": "sales", "phrases": ["sales", "buy something"]},
                {"value": "support", "phrases": ["support", "help"]},
            ],
            "reprompt": "Please say sales or support.",
            "no_input_prompt": "Are you there? Say sales or support.",
            "max_retries": 2,
            "no_input_s": 5,
            "routes": {"sales": "to_sales"},
            "next": "urgent",
            "on_fail": "operator",
        },
        "urgent": {
            "kind": "ask",
            "prompt": "Is it urgent?",
            "slot": "urgent",
            "answer": "yes_no",
            "max_retries": 1,
            "next": "route",
        },
        "route": {
            "kind": "branch",
            "slot": "urgent",
            "cases": [
                {"equals": "yes", "next": "to_support"},
                {"keywords": ["later", "tomorrow"], "next": "callback"},
            ],
            "default": "describe",
        },
        "describe": {
            "kind": "ask",
            "prompt": "Describe the problem.",
            "slot": "problem",
            "answer": "free_text",
            "next": "bye",
        },
        "callback": {"kind": "hangup", "text": "We will call you tomorrow.", "reason": "callback"},
        "to_sales": {"kind": "transfer", "target": "from-internal,200,1", "text": "Connecting."},
        "to_support": {"kind": "transfer", "target": "PJSIP/300"},
        "operator": {"kind": "transfer", "target": "from-internal,0,1", "text": "An operator."},
        "bye": {"kind": "hangup", "text": "Thanks, goodbye."},
    },
}

EngineFactory = Callable[..., FlowEngine]
CtxFactory = Callable[..., CallContext]


@pytest.fixture
def make_ctx() -> CtxFactory:
    def make(language: str = "en-US") -> CallContext:
        return CallContext(
            call_uid="c1", caller_number="+15550100", dialed="100", language=language
        )

    return make


@pytest.fixture
def make_engine() -> EngineFactory:
    """A flow engine over FLOW; ``edit`` may change a deep copy of the document first."""

    def make(
        edit: Callable[[dict[str, Any]], None] | None = None, greeting: str | None = None
    ) -> FlowEngine:
        doc = copy.deepcopy(FLOW)
        if edit is not None:
            edit(doc)
        return FlowEngine(load_flow(doc), greeting=greeting)

    return make


async def run(actions: AsyncIterator[DialogAction]) -> list[DialogAction]:
    return [a async for a in actions]


def texts(actions: list[DialogAction]) -> list[str]:
    return [a.text for a in actions if isinstance(a, Say)]


async def test_begin_speaks_up_to_the_first_question(
    make_engine: EngineFactory, make_ctx: CtxFactory
) -> None:
    engine = make_engine(greeting="Hello!")
    actions = await run(engine.begin(make_ctx()))
    assert actions == [
        Say("Hello!"),
        Say("Welcome to Acme."),
        Say("Sales or support?"),
        Listen(grammar=("sales", "buy something", "support", "help"), no_input_s=5.0),
    ]
    assert engine.node_id() == "menu"
    assert engine.visited == ["welcome", "menu"]


async def test_choice_answer_routes_and_stores_the_slot(
    make_engine: EngineFactory, make_ctx: CtxFactory
) -> None:
    engine = make_engine()
    ctx = make_ctx()
    await run(engine.begin(ctx))
    actions = await run(engine.on_caller_turn(CallerTurn("I'd like to buy something")))
    assert actions == [Say("Connecting."), Transfer("from-internal,200,1", "flow_transfer")]
    assert ctx.slots == {"dept": "sales"}
    assert engine.node_id() == "to_sales"
    assert engine.ended


async def test_yes_no_grammar_depends_on_the_language(
    make_engine: EngineFactory, make_ctx: CtxFactory
) -> None:
    for language, yes, no in (("en-US", "yes", "no"), ("ko-KR", "네", "아니요")):
        engine = make_engine()
        await run(engine.begin(make_ctx(language)))
        actions = await run(engine.on_caller_turn(CallerTurn("support")))
        listen = actions[-1]
        assert isinstance(listen, Listen) and listen.grammar is not None
        assert yes in listen.grammar and no in listen.grammar
        other = "네" if language.startswith("en") else "yes"
        assert other not in listen.grammar


async def test_branch_on_slot_value(make_engine: EngineFactory, make_ctx: CtxFactory) -> None:
    engine = make_engine()
    ctx = make_ctx()
    await run(engine.begin(ctx))
    await run(engine.on_caller_turn(CallerTurn("help please")))
    actions = await run(engine.on_caller_turn(CallerTurn("yes")))
    assert actions == [Transfer("PJSIP/300", "flow_transfer")]
    assert ctx.slots == {"dept": "support", "urgent": "yes"}
    assert engine.visited[-2:] == ["route", "to_support"]


async def test_branch_on_keywords_then_default(
    make_engine: EngineFactory, make_ctx: CtxFactory
) -> None:
    engine = make_engine()
    await run(engine.begin(make_ctx()))
    await run(engine.on_caller_turn(CallerTurn("support")))
    actions = await run(engine.on_caller_turn(CallerTurn("no, tomorrow is fine")))
    assert actions == [Say("We will call you tomorrow."), Hangup("callback")]

    engine = make_engine()
    ctx = make_ctx()
    await run(engine.begin(ctx))
    await run(engine.on_caller_turn(CallerTurn("support")))
    actions = await run(engine.on_caller_turn(CallerTurn("nope")))
    assert actions == [Say("Describe the problem."), Listen(grammar=None, no_input_s=8.0)]
    actions = await run(engine.on_caller_turn(CallerTurn("  my   printer is on fire ")))
    assert actions == [Say("Thanks, goodbye."), Hangup("flow_hangup")]
    assert ctx.slots["problem"] == "my printer is on fire"


async def test_unmatched_answer_reprompts_then_takes_on_fail(
    make_engine: EngineFactory, make_ctx: CtxFactory
) -> None:
    engine = make_engine()
    await run(engine.begin(make_ctx()))
    for _ in range(2):
        actions = await run(engine.on_caller_turn(CallerTurn("the weather")))
        assert texts(actions) == ["Please say sales or support."]
        assert isinstance(actions[-1], Listen) and actions[-1].grammar is not None
    actions = await run(engine.on_caller_turn(CallerTurn("bananas")))
    assert actions == [Say("An operator."), Transfer("from-internal,0,1", "flow_transfer")]
    assert engine.node_id() == "operator"


async def test_retries_exhausted_without_on_fail_says_goodbye(
    make_engine: EngineFactory, make_ctx: CtxFactory
) -> None:
    engine = make_engine()
    await run(engine.begin(make_ctx()))
    await run(engine.on_caller_turn(CallerTurn("support")))
    actions = await run(engine.on_caller_turn(CallerTurn("maybe")))
    assert actions[0] == Say(f"{default_texts('en')['sorry']} Is it urgent?")
    actions = await run(engine.on_caller_turn(CallerTurn("perhaps")))
    assert actions == [Say(default_texts("en")["goodbye"]), Hangup("no_match")]
    assert engine.ended
    assert await run(engine.on_caller_turn(CallerTurn("yes"))) == []


async def test_a_matched_answer_resets_the_retries(
    make_engine: EngineFactory, make_ctx: CtxFactory
) -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc["nodes"]["urgent"]["max_retries"] = 1

    engine = make_engine(edit)
    await run(engine.begin(make_ctx()))
    await run(engine.on_caller_turn(CallerTurn("hmm")))  # one miss at the menu
    await run(engine.on_caller_turn(CallerTurn("support")))
    actions = await run(engine.on_caller_turn(CallerTurn("hmm")))  # first miss at "urgent"
    assert isinstance(actions[-1], Listen)


async def test_no_input_reprompts_then_gives_up(
    make_engine: EngineFactory, make_ctx: CtxFactory
) -> None:
    engine = make_engine()
    await run(engine.begin(make_ctx()))
    for _ in range(2):
        actions = await run(engine.on_no_input())
        assert actions == [
            Say("Are you there? Say sales or support."),
            Listen(grammar=("sales", "buy something", "support", "help"), no_input_s=5.0),
        ]
    actions = await run(engine.on_no_input())
    assert actions[-1] == Transfer("from-internal,0,1", "flow_transfer")


async def test_no_input_without_its_own_prompt_uses_an_apology_and_the_prompt(
    make_engine: EngineFactory, make_ctx: CtxFactory
) -> None:
    engine = make_engine()
    await run(engine.begin(make_ctx("ko")))
    await run(engine.on_caller_turn(CallerTurn("support")))
    actions = await run(engine.on_no_input())
    assert texts(actions) == [f"{default_texts('ko')['no_input']} Is it urgent?"]
    actions = await run(engine.on_no_input())
    assert actions == [Say(default_texts("ko")["goodbye"]), Hangup("no_input")]


async def test_dtmf_selects_choices_and_yes_no(
    make_engine: EngineFactory, make_ctx: CtxFactory
) -> None:
    engine = make_engine()
    ctx = make_ctx()
    await run(engine.begin(ctx))
    await run(engine.on_caller_turn(CallerTurn("", dtmf="2")))
    assert ctx.slots["dept"] == "support"
    actions = await run(engine.on_caller_turn(CallerTurn("", dtmf="1")))
    assert ctx.slots["urgent"] == "yes"
    assert actions == [Transfer("PJSIP/300", "flow_transfer")]

    engine = make_engine()
    ctx = make_ctx()
    await run(engine.begin(ctx))
    await run(engine.on_caller_turn(CallerTurn("", dtmf="2")))
    await run(engine.on_caller_turn(CallerTurn("", dtmf="2")))
    assert ctx.slots["urgent"] == "no"
    actions = await run(engine.on_caller_turn(CallerTurn("", dtmf="9")))
    assert ctx.slots["problem"] == "9"  # free text takes keyed digits as the answer
    assert actions == [Say("Thanks, goodbye."), Hangup("flow_hangup")]


async def test_unknown_dtmf_key_reprompts(make_engine: EngineFactory, make_ctx: CtxFactory) -> None:
    engine = make_engine()
    ctx = make_ctx()
    await run(engine.begin(ctx))
    actions = await run(engine.on_caller_turn(CallerTurn("", dtmf="7")))
    assert texts(actions) == ["Please say sales or support."]
    assert "dept" not in ctx.slots


async def test_declared_dtmf_keys(make_engine: EngineFactory, make_ctx: CtxFactory) -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc["nodes"]["menu"]["choices"][0]["dtmf"] = "5"
        doc["nodes"]["menu"]["choices"][1]["dtmf"] = "6"

    engine = make_engine(edit)
    ctx = make_ctx()
    await run(engine.begin(ctx))
    await run(engine.on_caller_turn(CallerTurn("", dtmf="6")))
    assert ctx.slots["dept"] == "support"


async def test_interrupted_text_is_cut_in_the_transcript(
    make_engine: EngineFactory, make_ctx: CtxFactory
) -> None:
    engine = make_engine()
    await run(engine.begin(make_ctx()))
    engine.on_interrupted("Sales or")
    assert engine.transcript[-1] == ("assistant", "Sales or")
    engine.on_interrupted("")
    assert engine.transcript[-1] == ("assistant", "Welcome to Acme.")


async def test_turns_before_begin_do_nothing(make_engine: EngineFactory) -> None:
    engine = make_engine()
    assert await run(engine.on_caller_turn(CallerTurn("sales"))) == []
    assert await run(engine.on_no_input()) == []
    assert engine.node_id() is None


async def test_llm_node_without_an_llm_says_goodbye(make_ctx: CtxFactory) -> None:
    flow = load_flow(
        {
            "version": 1,
            "start": "agent",
            "nodes": {"agent": {"kind": "llm", "goal": "Chat.", "text": "Let me think."}},
        }
    )
    engine = FlowEngine(flow)
    actions = await run(engine.begin(make_ctx()))
    assert actions == [Say("Let me think."), Say(default_texts("en")["goodbye"]), Hangup("no_llm")]


def test_factory_defaults_to_the_demo_flow() -> None:
    engine = build_dialog_engine(None, None, None, "ignored", language="ko-KR")
    assert isinstance(engine, FlowEngine)
    assert engine.flow.start == "greet"
    assert engine.greeting is None
    english = build_dialog_engine(None, None, None, "", language="en")
    assert isinstance(english, FlowEngine)
    assert english.flow.name == "Callwright demo"


def test_factory_uses_the_given_flow_and_greeting() -> None:
    def never() -> Any:
        raise AssertionError("no LLM client is needed for a flow without llm nodes")

    engine = build_dialog_engine(FLOW, LlmSettings(model="m"), never, "Hi!")
    assert isinstance(engine, FlowEngine)
    assert engine.greeting == "Hi!"
    assert engine.llm is None
    _: DialogEngine = engine


def test_factory_rejects_an_invalid_flow() -> None:
    bad = copy.deepcopy(FLOW)
    bad["nodes"]["welcome"]["next"] = "missing"
    with pytest.raises(FlowError) as caught:
        build_dialog_engine(bad, None, None, "")
    assert (caught.value.node, caught.value.field) == ("welcome", "next")


async def test_factory_builds_the_llm_engine_without_a_flow() -> None:
    async with openai.AsyncOpenAI(base_url="http://127.0.0.1:9/v1", api_key="k") as client:
        engine = build_dialog_engine(None, LlmSettings(model="m"), lambda: client, "Hello!")
        assert isinstance(engine, LlmEngine)
        assert engine.greeting == "Hello!"
        flow = copy.deepcopy(FLOW)
        flow["nodes"]["to_support"] = {"kind": "llm", "goal": "Solve it."}
        with_flow = build_dialog_engine(flow, LlmSettings(model="m"), lambda: client, "Hello!")
        assert isinstance(with_flow, FlowEngine)
        assert isinstance(with_flow.llm, LlmEngine)
        assert with_flow.llm.greeting is None
