"""The flow engine: walking a flow turn by turn."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

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
from callwright.dialog.factory import ChatIntentClassifier, build_dialog_engine
from callwright.dialog.flow import load_flow
from callwright.dialog.flow_engine import FlowEngine
from callwright.dialog.flow_texts import default_texts
from callwright.dialog.llm_engine import LlmEngine, LlmSettings
from callwright.errors import FlowError
from tests.callwright.dialog.test_flow_nodes import Faq, Hooks
from tests.fakes.clients import make_openai_client

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
    async with await make_openai_client(base_url="http://127.0.0.1:9/v1", api_key="k") as client:
        engine = build_dialog_engine(None, LlmSettings(model="m"), lambda: client, "Hello!")
        assert isinstance(engine, LlmEngine)
        assert engine.greeting == "Hello!"
        flow = copy.deepcopy(FLOW)
        flow["nodes"]["to_support"] = {"kind": "llm", "goal": "Solve it."}
        with_flow = build_dialog_engine(flow, LlmSettings(model="m"), lambda: client, "Hello!")
        assert isinstance(with_flow, FlowEngine)
        assert isinstance(with_flow.llm, LlmEngine)
        assert with_flow.llm.greeting is None


# --- slot types, services and the new node kinds -----------------------------------------------

NOW = datetime(2025, 3, 12, 10, 0)  # a Wednesday
NodesFactory = Callable[..., FlowEngine]


@pytest.fixture
def make_nodes() -> NodesFactory:
    """A flow engine over ``nodes`` (started at ``start``) with ``end`` and ``bye`` hang-ups,
    the clock at NOW, and any services given as keyword arguments."""

    def make(start: str, nodes: dict[str, Any], **services: Any) -> FlowEngine:
        ends = {
            "end": {"kind": "hangup", "text": "Done.", "reason": "done"},
            "bye": {"kind": "hangup", "text": "Bye.", "reason": "bye"},
        }
        used = json.dumps(nodes)
        doc = {
            "version": 1,
            "start": start,
            "nodes": {**{k: v for k, v in ends.items() if f'"{k}"' in used}, **nodes},
        }
        return FlowEngine(load_flow(doc), clock=lambda: NOW, **services)

    return make


class FakeLlm:
    """A scripted LLM engine: each turn yields its actions; ``finish`` scripts a finish call."""

    def __init__(self, *turns: tuple[list[DialogAction], str | None]) -> None:
        self.turns = list(turns)
        self.entered: list[dict[str, Any]] = []
        self.heard: list[CallerTurn] = []
        self.offers: list[str | None] = []
        self.finished: str | None = None
        self.ended = False

    async def _turn(self) -> AsyncIterator[DialogAction]:
        actions, self.finished = self.turns.pop(0)
        for action in actions:
            if isinstance(action, Hangup | Transfer):
                self.ended = True
            yield action

    async def enter(
        self, ctx: CallContext, *, goal: str | None, transcript: Any = (), respond: bool = True
    ) -> AsyncIterator[DialogAction]:
        self.entered.append({"goal": goal, "transcript": list(transcript), "respond": respond})
        async for action in self._turn():
            yield action

    async def on_caller_turn(self, turn: CallerTurn) -> AsyncIterator[DialogAction]:
        self.heard.append(turn)
        async for action in self._turn():
            yield action

    async def on_no_input(self) -> AsyncIterator[DialogAction]:
        async for action in self._turn():
            yield action

    def on_interrupted(self, heard: str) -> None:
        pass

    def offer_finish(self, when: str | None) -> None:
        self.offers.append(when)

    def take_finish(self) -> str | None:
        result, self.finished = self.finished, None
        return result


async def test_number_answer_spoken_in_range(
    make_nodes: NodesFactory, make_ctx: CtxFactory
) -> None:
    engine = make_nodes(
        "size",
        {
            "size": {
                "kind": "ask",
                "prompt": "How many?",
                "slot": "size",
                "answer": "number",
                "min": 1,
                "max": 12,
                "reprompt": "From one to twelve?",
                "next": "end",
            }
        },
    )
    ctx = make_ctx()
    actions = await run(engine.begin(ctx))
    listen = actions[-1]
    assert isinstance(listen, Listen) and listen.grammar is not None
    assert {"one", "four", "twelve"} <= set(listen.grammar) and "thirteen" not in listen.grammar
    assert texts(await run(engine.on_caller_turn(CallerTurn("twenty")))) == ["From one to twelve?"]
    actions = await run(engine.on_caller_turn(CallerTurn("we are four people")))
    assert actions == [Say("Done."), Hangup("done")]
    assert ctx.slots == {"size": 4}


async def test_number_in_korean_with_its_grammar(
    make_nodes: NodesFactory, make_ctx: CtxFactory
) -> None:
    engine = make_nodes(
        "size",
        {
            "size": {
                "kind": "ask",
                "slot": "size",
                "answer": "number",
                "min": 1,
                "max": 30,
                "next": "end",
            }
        },
    )
    ctx = make_ctx("ko-KR")
    listen = (await run(engine.begin(ctx)))[-1]
    assert isinstance(listen, Listen) and listen.grammar is not None
    assert {"스물셋", "이십삼", "세"} <= set(listen.grammar)
    await run(engine.on_caller_turn(CallerTurn("스물 세 명이요")))
    assert ctx.slots == {"size": 23}


async def test_a_wide_number_range_is_free_speech(
    make_nodes: NodesFactory, make_ctx: CtxFactory
) -> None:
    engine = make_nodes(
        "n",
        {
            "n": {
                "kind": "ask",
                "slot": "n",
                "answer": "number",
                "min": 0,
                "max": 5000,
                "next": "end",
            }
        },
    )
    assert (await run(engine.begin(make_ctx())))[-1] == Listen(grammar=None, no_input_s=8.0)


async def test_keyed_number_gathers_digits(make_nodes: NodesFactory, make_ctx: CtxFactory) -> None:
    engine = make_nodes(
        "n",
        {
            "n": {
                "kind": "ask",
                "slot": "n",
                "answer": "number",
                "max": 500,
                "inter_digit_s": 3,
                "next": "end",
            }
        },
    )
    ctx = make_ctx()
    await run(engine.begin(ctx))
    first = await run(engine.on_caller_turn(CallerTurn("", dtmf="1")))
    assert first == [Listen(grammar=None, no_input_s=3.0)]
    assert await run(engine.on_caller_turn(CallerTurn("", dtmf="2"))) == []
    assert "n" not in ctx.slots
    actions = await run(engine.on_caller_turn(CallerTurn("", dtmf="#")))
    assert actions == [Say("Done."), Hangup("done")]
    assert ctx.slots == {"n": 12}
    assert ("user", "[keypad: 12]") in engine.transcript


async def test_silence_ends_a_keyed_entry(make_nodes: NodesFactory, make_ctx: CtxFactory) -> None:
    engine = make_nodes(
        "pin",
        {
            "pin": {
                "kind": "ask",
                "prompt": "Your PIN?",
                "slot": "pin",
                "answer": "digits",
                "min_length": 4,
                "max_length": 6,
                "next": "end",
                "reprompt": "Four to six digits please.",
            }
        },
    )
    ctx = make_ctx()
    await run(engine.begin(ctx))
    for key in "123":
        await run(engine.on_caller_turn(CallerTurn("", dtmf=key)))
    assert texts(await run(engine.on_no_input())) == ["Four to six digits please."]  # too short
    for key in "0042":
        await run(engine.on_caller_turn(CallerTurn("", dtmf=key)))
    assert await run(engine.on_no_input()) == [Say("Done."), Hangup("done")]
    assert ctx.slots == {"pin": "0042"}


async def test_digits_end_by_themselves_and_can_be_spoken(
    make_nodes: NodesFactory, make_ctx: CtxFactory
) -> None:
    node = {"kind": "ask", "slot": "code", "answer": "digits", "length": 3, "next": "end"}
    engine = make_nodes("code", {"code": node})
    ctx = make_ctx()
    listen = (await run(engine.begin(ctx)))[-1]
    assert isinstance(listen, Listen) and listen.grammar is not None
    assert {"zero", "oh", "nine"} <= set(listen.grammar)
    await run(engine.on_caller_turn(CallerTurn("", dtmf="*")))  # * clears: nothing yet
    for key in "40":
        assert not (await run(engine.on_caller_turn(CallerTurn("", dtmf=key))))[1:]
    assert (await run(engine.on_caller_turn(CallerTurn("", dtmf="7"))))[-1] == Hangup("done")
    assert ctx.slots == {"code": "407"}

    engine = make_nodes("code", {"code": node})
    ctx = make_ctx("ko")
    await run(engine.begin(ctx))
    await run(engine.on_caller_turn(CallerTurn("일 이 삼")))
    assert ctx.slots == {"code": "123"}


async def test_speech_after_some_keys_replaces_them(
    make_nodes: NodesFactory, make_ctx: CtxFactory
) -> None:
    engine = make_nodes("n", {"n": {"kind": "ask", "slot": "n", "answer": "number", "next": "end"}})
    ctx = make_ctx()
    await run(engine.begin(ctx))
    await run(engine.on_caller_turn(CallerTurn("", dtmf="9")))
    await run(engine.on_caller_turn(CallerTurn("seven")))
    assert ctx.slots == {"n": 7}


async def test_date_and_time_answers_use_the_clock(
    make_nodes: NodesFactory, make_ctx: CtxFactory
) -> None:
    engine = make_nodes(
        "when",
        {
            "when": {"kind": "ask", "slot": "when", "answer": "datetime", "next": "day"},
            "day": {"kind": "ask", "slot": "day", "answer": "date", "next": "at"},
            "at": {"kind": "ask", "slot": "at", "answer": "time", "next": "end"},
        },
    )
    ctx = make_ctx()
    assert (await run(engine.begin(ctx)))[-1] == Listen(grammar=None, no_input_s=8.0)
    await run(engine.on_caller_turn(CallerTurn("tomorrow at 3 pm")))
    await run(engine.on_caller_turn(CallerTurn("next monday")))
    await run(engine.on_caller_turn(CallerTurn("", dtmf="0")))
    for key in "930#":
        await run(engine.on_caller_turn(CallerTurn("", dtmf=key)))
    assert ctx.slots == {"when": "2025-03-13T15:00", "day": "2025-03-17", "at": "09:30"}


async def test_templates_fill_slots_and_call_facts(
    make_nodes: NodesFactory, make_ctx: CtxFactory
) -> None:
    engine = make_nodes(
        "name",
        {
            "name": {
                "kind": "ask",
                "prompt": "Hello {caller_number}, your name?",
                "slot": "name",
                "answer": "free_text",
                "next": "hi",
            },
            "hi": {"kind": "say", "text": "Thanks {name}{missing}, see you {when}.", "next": "end"},
        },
    )
    ctx = make_ctx()
    assert texts(await run(engine.begin(ctx))) == ["Hello +15550100, your name?"]
    actions = await run(engine.on_caller_turn(CallerTurn("Ana")))
    assert texts(actions)[0] == "Thanks Ana, see you."


async def test_knowledge_node_answers_or_falls_back(
    make_nodes: NodesFactory, make_ctx: CtxFactory
) -> None:
    nodes = {
        "faq": {
            "kind": "knowledge",
            "prompt": "Your question?",
            "answer_slot": "answer",
            "reprompt": "Please ask your question.",
            "next": "end",
        }
    }
    faq = Faq(("We open at nine.", 0.9))
    engine = make_nodes("faq", nodes, faq=faq)
    ctx = make_ctx()
    assert await run(engine.begin(ctx)) == [
        Say("Your question?"),
        Listen(grammar=None, no_input_s=8.0),
    ]
    assert await run(engine.on_caller_turn(CallerTurn("", dtmf="5"))) == []  # keys: ignored
    actions = await run(engine.on_caller_turn(CallerTurn("When do you open?")))
    assert actions == [Say("We open at nine."), Say("Done."), Hangup("done")]
    assert ctx.slots == {"question": "When do you open?", "answer": "We open at nine."}
    assert faq.asked == [("When do you open?", 0.5)]

    engine = make_nodes("faq", nodes, faq=Faq(None))
    await run(engine.begin(make_ctx()))
    actions = await run(engine.on_caller_turn(CallerTurn("Do you sell bikes?")))
    assert texts(actions)[0] == default_texts("en")["no_answer"]
    assert texts(await run(make_nodes("faq", nodes).on_caller_turn(CallerTurn("x")))) == []


async def test_knowledge_node_reading_a_slot_routes_a_miss(
    make_nodes: NodesFactory, make_ctx: CtxFactory
) -> None:
    nodes = {
        "q": {
            "kind": "ask",
            "prompt": "How can I help?",
            "slot": "q",
            "answer": "free_text",
            "next": "faq",
        },
        "faq": {
            "kind": "knowledge",
            "listen": False,
            "slot": "q",
            "next": "end",
            "on_miss": "human",
            "fallback": "unused",
        },
        "human": {"kind": "transfer", "target": "PJSIP/9"},
    }
    engine = make_nodes("q", nodes, faq=Faq(("Low score.", 0.2)))
    await run(engine.begin(make_ctx()))
    actions = await run(engine.on_caller_turn(CallerTurn("refund please")))
    assert actions == [Transfer("PJSIP/9", "flow_transfer")]
    engine = make_nodes("q", nodes, faq=Faq(("Refunds take a week.", 0.7)))
    await run(engine.begin(make_ctx()))
    assert texts(await run(engine.on_caller_turn(CallerTurn("refund please")))) == [
        "Refunds take a week.",
        "Done.",
    ]


def _booking_nodes(**book: Any) -> dict[str, Any]:
    return {
        "size": {"kind": "ask", "slot": "size", "answer": "number", "next": "book"},
        "book": {
            "kind": "webhook",
            "webhook": "bookings",
            "text": "One moment.",
            "send": ["size"],
            "results": {"ref": "booking.id"},
            "next": "done",
            **book,
        },
        "done": {"kind": "say", "text": "Booked: {ref}.", "next": "end"},
        "oops": {"kind": "say", "text": "Booking failed.", "next": "end"},
    }


async def test_webhook_node_maps_the_reply_into_slots(
    make_nodes: NodesFactory, make_ctx: CtxFactory
) -> None:
    hooks = Hooks({"booking": {"id": "B-7"}})
    engine = make_nodes("size", _booking_nodes(on_error="oops"), webhooks=hooks)
    ctx = make_ctx()
    await run(engine.begin(ctx))
    actions = await run(engine.on_caller_turn(CallerTurn("four")))
    assert texts(actions) == ["One moment.", "Booked: B-7.", "Done."]
    assert ctx.slots == {"size": 4, "ref": "B-7"}
    [(name, payload, timeout_s)] = hooks.calls
    assert (name, timeout_s) == ("bookings", 5.0)
    assert payload == {
        "call_uid": "c1",
        "caller_number": "+15550100",
        "dialed": "100",
        "node": "book",
        "slots": {"size": 4},
    }


async def test_webhook_failure_takes_on_error_or_ends(
    make_nodes: NodesFactory, make_ctx: CtxFactory
) -> None:
    engine = make_nodes("size", _booking_nodes(on_error="oops"), webhooks=Hooks(fail=True))
    await run(engine.begin(make_ctx()))
    assert texts(await run(engine.on_caller_turn(CallerTurn("2")))) == [
        "One moment.",
        "Booking failed.",
        "Done.",
    ]
    nodes = _booking_nodes()  # no webhooks configured, no on_error
    del nodes["oops"]
    engine = make_nodes("size", nodes)
    await run(engine.begin(make_ctx()))
    actions = await run(engine.on_caller_turn(CallerTurn("2")))
    assert actions[-2:] == [Say(default_texts("en")["error"]), Hangup("webhook_error")]


async def test_a_webhook_cut_by_barge_in_is_not_called_twice(
    make_nodes: NodesFactory, make_ctx: CtxFactory
) -> None:
    gate = asyncio.Event()
    hooks = Hooks({"booking": {"id": "B-9"}}, gate=gate)
    engine = make_nodes("size", _booking_nodes(on_error="oops"), webhooks=hooks)
    ctx = make_ctx()
    await run(engine.begin(ctx))
    reply = engine.on_caller_turn(CallerTurn("three"))
    assert await anext(reply) == Say("One moment.")
    waiting = asyncio.ensure_future(anext(reply))
    await asyncio.sleep(0.01)
    waiting.cancel()  # the caller speaks: the pipeline cancels the reply
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await reply.aclose()
    gate.set()
    actions = await run(engine.on_caller_turn(CallerTurn("hello?")))
    assert texts(actions) == ["Booked: B-9.", "Done."]
    assert len(hooks.calls) == 1 and ctx.slots["ref"] == "B-9"


async def test_a_turn_during_a_cut_walk_answers_the_next_question(
    make_engine: EngineFactory, make_ctx: CtxFactory
) -> None:
    engine = make_engine()
    ctx = make_ctx()
    begin = engine.begin(ctx)
    assert await anext(begin) == Say("Welcome to Acme.")
    await begin.aclose()  # barge-in while the welcome plays
    actions = await run(engine.on_caller_turn(CallerTurn("sales please")))
    assert actions == [Say("Connecting."), Transfer("from-internal,200,1", "flow_transfer")]
    assert ctx.slots == {"dept": "sales"}


async def test_intent_node_routes_by_label(make_nodes: NodesFactory, make_ctx: CtxFactory) -> None:
    class Classifier:
        def __init__(self, label: str | None) -> None:
            self.label = label
            self.texts: list[str] = []

        async def classify(self, text: str, labels: Any, *, instructions: Any = None) -> Any:
            self.texts.append(text)
            return self.label

    nodes = {
        "ask": {
            "kind": "ask",
            "prompt": "How can I help?",
            "slot": "why",
            "answer": "free_text",
            "next": "triage",
        },
        "triage": {
            "kind": "intent",
            "intents": [{"label": "billing", "next": "bye"}, {"label": "tech", "next": "end"}],
            "default": "end",
        },
    }
    classifier = Classifier("billing")
    engine = make_nodes("ask", nodes, classifier=classifier)
    ctx = make_ctx()
    await run(engine.begin(ctx))
    assert texts(await run(engine.on_caller_turn(CallerTurn("my invoice is wrong")))) == ["Bye."]
    assert ctx.slots == {"why": "my invoice is wrong", "intent": "billing"}
    assert classifier.texts == ["my invoice is wrong"]
    for services in ({"classifier": Classifier(None)}, {}):
        engine = make_nodes("ask", nodes, **services)
        ctx = make_ctx()
        await run(engine.begin(ctx))
        assert texts(await run(engine.on_caller_turn(CallerTurn("hm")))) == ["Done."]
        assert "intent" not in ctx.slots


def _agent(**fields: Any) -> dict[str, Any]:
    return {
        "hi": {
            "kind": "ask",
            "prompt": "Ready?",
            "slot": "ready",
            "answer": "yes_no",
            "next": "agent",
        },
        "agent": {
            "kind": "llm",
            "goal": "Sell {ready} things.",
            "next": "end",
            "slot": "deal",
            **fields,
        },
    }


async def test_a_bounded_llm_node_finishes_into_the_flow(
    make_nodes: NodesFactory, make_ctx: CtxFactory
) -> None:
    llm = FakeLlm(
        ([Say("What do you need?"), Listen()], None),
        ([Say("Noted, two boxes."), Listen()], "two boxes"),
    )
    engine = make_nodes("hi", _agent(exit_when="the order is clear"), llm=llm)
    ctx = make_ctx()
    await run(engine.begin(ctx))
    actions = await run(engine.on_caller_turn(CallerTurn("yes")))
    assert actions == [Say("What do you need?"), Listen()]
    assert llm.entered == [
        {
            "goal": "Sell yes things.",
            "respond": True,
            "transcript": [("assistant", "Ready?"), ("user", "yes")],
        }
    ]
    assert llm.offers == ["the order is clear"]
    actions = await run(engine.on_caller_turn(CallerTurn("two boxes")))
    assert actions == [Say("Noted, two boxes."), Say("Done."), Hangup("done")]
    assert ctx.slots == {"ready": "yes", "deal": "two boxes"}
    assert llm.offers == ["the order is clear", None]


async def test_an_llm_node_moves_on_after_max_turns(
    make_nodes: NodesFactory, make_ctx: CtxFactory
) -> None:
    llm = FakeLlm(
        ([Listen()], None), ([Say("Hm."), Listen()], None), ([Say("Ok."), Listen()], None)
    )
    nodes = _agent(max_turns=2, on_max_turns="bye")
    nodes["agent"]["text"] = "Tell me more."
    engine = make_nodes("hi", nodes, llm=llm)
    ctx = make_ctx()
    await run(engine.begin(ctx))
    assert await run(engine.on_caller_turn(CallerTurn("yes"))) == [Say("Tell me more."), Listen()]
    assert llm.entered[0]["respond"] is False
    assert await run(engine.on_caller_turn(CallerTurn("a"))) == [Say("Hm."), Listen()]
    assert await run(engine.on_caller_turn(CallerTurn("b"))) == [
        Say("Ok."),
        Say("Bye."),
        Hangup("bye"),
    ]
    assert "deal" not in ctx.slots and engine.ended


async def test_the_llm_can_still_end_a_bounded_node(
    make_nodes: NodesFactory, make_ctx: CtxFactory
) -> None:
    llm = FakeLlm(([Say("Hi."), Listen()], None), ([Transfer("PJSIP/5", "llm_transfer")], None))
    engine = make_nodes("hi", _agent(), llm=llm)
    await run(engine.begin(make_ctx()))
    await run(engine.on_caller_turn(CallerTurn("yes")))
    assert await run(engine.on_caller_turn(CallerTurn("a human"))) == [
        Transfer("PJSIP/5", "llm_transfer")
    ]
    assert engine.ended
    actions = await run(engine.on_transfer_failed())
    assert actions == [Say(default_texts("en")["transfer_failed"]), Hangup("transfer_failed")]


async def test_take_message_gathers_parts_and_notifies(
    make_nodes: NodesFactory, make_ctx: CtxFactory
) -> None:
    hooks = Hooks()
    nodes = {
        "msg": {
            "kind": "take_message",
            "prompt": "Leave a message.",
            "notify": "mail",
            "text": "Thanks, we will call you back.",
            "next": "end",
            "end_silence_s": 2,
        }
    }
    engine = make_nodes("msg", nodes, webhooks=hooks)
    ctx = make_ctx()
    assert await run(engine.begin(ctx)) == [
        Say("Leave a message."),
        Listen(grammar=None, no_input_s=10.0),
    ]
    assert await run(engine.on_caller_turn(CallerTurn("Hi, it's Ana."))) == [
        Listen(grammar=None, no_input_s=2.0)
    ]
    await run(engine.on_caller_turn(CallerTurn("Call me back  about the order.")))
    actions = await run(engine.on_no_input())
    assert texts(actions) == ["Thanks, we will call you back.", "Done."]
    message = "Hi, it's Ana. Call me back about the order."
    assert ctx.slots == {"message": message}
    [(name, payload, _)] = hooks.calls
    assert name == "mail" and payload["message"] == message
    assert payload["caller_number"] == "+15550100" and payload["slots"] == {"message": message}


async def test_take_message_ends_with_hash_or_gives_up(
    make_nodes: NodesFactory, make_ctx: CtxFactory
) -> None:
    nodes = {"msg": {"kind": "take_message", "prompt": "Speak.", "next": "end"}}
    engine = make_nodes("msg", nodes, webhooks=Hooks(fail=True))
    ctx = make_ctx()
    await run(engine.begin(ctx))
    assert await run(engine.on_caller_turn(CallerTurn("", dtmf="#"))) == []  # nothing said yet
    await run(engine.on_caller_turn(CallerTurn("Short one.")))
    assert texts(await run(engine.on_caller_turn(CallerTurn("", dtmf="#")))) == ["Done."]
    assert ctx.slots == {"message": "Short one."}

    engine = make_nodes("msg", nodes)
    await run(engine.begin(make_ctx()))
    assert texts(await run(engine.on_no_input())) == [f"{default_texts('en')['no_input']} Speak."]
    assert (await run(engine.on_no_input()))[-1] == Hangup("no_input")


async def test_transfer_failure_takes_on_fail(
    make_nodes: NodesFactory, make_ctx: CtxFactory
) -> None:
    nodes = {
        "desk": {
            "kind": "transfer",
            "target": "PJSIP/200",
            "text": "Connecting.",
            "on_fail": "busy",
        },
        "busy": {"kind": "say", "text": "The desk is busy.", "next": "bye"},
    }
    engine = make_nodes("desk", nodes)
    assert await run(engine.on_transfer_failed()) == []  # nothing was transferred
    actions = await run(engine.begin(make_ctx()))
    assert actions[-1] == Transfer("PJSIP/200", "flow_transfer") and engine.ended
    assert texts(await run(engine.on_transfer_failed())) == ["The desk is busy.", "Bye."]
    assert await run(engine.on_transfer_failed()) == []


async def test_transfer_failure_without_on_fail_apologises(
    make_engine: EngineFactory, make_ctx: CtxFactory
) -> None:
    engine = make_engine()
    await run(engine.begin(make_ctx()))
    await run(engine.on_caller_turn(CallerTurn("sales")))
    actions = await run(engine.on_transfer_failed())
    assert actions == [Say(default_texts("en")["transfer_failed"]), Hangup("transfer_failed")]


async def test_factory_wires_the_classifier_and_services() -> None:
    flow = {
        "version": 1,
        "start": "q",
        "nodes": {
            "q": {"kind": "ask", "slot": "q", "answer": "free_text", "next": "t"},
            "t": {
                "kind": "intent",
                "intents": [{"label": "a", "next": "e"}, {"label": "b", "next": "e"}],
                "default": "e",
            },
            "e": {"kind": "hangup"},
        },
    }
    async with await make_openai_client(base_url="http://127.0.0.1:9/v1", api_key="k") as client:
        made: list[Any] = []

        def factory() -> Any:
            made.append(client)
            return client

        faq, hooks = Faq(None), Hooks()
        engine = build_dialog_engine(
            flow, LlmSettings(model="m"), factory, "", faq=faq, webhooks=hooks, clock=lambda: NOW
        )
        assert isinstance(engine, FlowEngine) and len(made) == 1
        assert isinstance(engine.services.classifier, ChatIntentClassifier)
        assert engine.services.faq is faq and engine.services.webhooks is hooks
        assert engine.clock() == NOW
        bare = build_dialog_engine(flow, None, None, "")
        assert isinstance(bare, FlowEngine) and bare.services.classifier is None
