"""The node rules (templates, keypad entries, branches, webhook payloads), the services wrapper,
and the LLM intent classifier against the scripted OpenAI-compatible server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from datetime import datetime
from typing import Any

import pytest

from callwright.dialog.actions import CallContext
from callwright.dialog.factory import ChatIntentClassifier, pick_label
from callwright.dialog.flow import (
    BranchNode,
    IntentNode,
    KnowledgeNode,
    WebhookNode,
    load_flow,
)
from callwright.dialog.flow_answers import interpret_keys, press
from callwright.dialog.flow_nodes import (
    NodeServices,
    branch_target,
    fill,
    reply_slots,
    webhook_payload,
)
from callwright.dialog.llm_engine import LlmSettings
from callwright.errors import LlmError
from tests.fakes.clients import make_openai_client
from tests.fakes.openai_server import Reply, ScriptedOpenAI

NOW = datetime(2025, 3, 12, 10, 0)
NodeFactory = Callable[..., Any]


@pytest.fixture
def make_node() -> NodeFactory:
    """A loaded node of ``kind`` with ``fields``, in a flow whose ``end`` node (and ``ends``) hang
    up; ``sets`` names slots that asks before it set (so that reading them is valid)."""

    def make(
        kind: str, *, sets: tuple[str, ...] = (), ends: tuple[str, ...] = (), **fields: Any
    ) -> Any:
        nodes: dict[str, Any] = {"n": {"kind": kind, **fields}, "end": {"kind": "hangup"}}
        nodes.update({name: {"kind": "hangup"} for name in ends})
        start = "n"
        for i, slot in enumerate(sets):
            nodes[f"set{i}"] = {"kind": "ask", "slot": slot, "answer": "free_text", "next": start}
            start = f"set{i}"
        return load_flow({"version": 1, "start": start, "nodes": nodes}).node("n")

    return make


def test_fill_templates() -> None:
    values = {"name": "Ana", "size": 4, "when": "2025-03-13T19:00", "vip": True, "avg": 2.0}
    assert fill("Hi {name}, a table for {size}.", values) == "Hi Ana, a table for 4."
    assert fill("On {when}.", values) == "On 2025-03-13 19:00."
    assert fill("VIP: {vip}, avg {avg}", values) == "VIP: yes, avg 2"
    assert fill("Hello {missing}, welcome.", values) == "Hello, welcome."
    assert fill("Thanks {missing}.", values) == "Thanks."
    assert fill("Braces {{size}} and {not a slot} and {0}", values) == (
        "Braces {size} and {not a slot} and {0}"
    )
    assert fill("{", values) == "{"
    assert fill("plain text", {}) == "plain text"


def test_press_choices(make_node: NodeFactory) -> None:
    menu = make_node(
        "ask",
        slot="s",
        answer="choice",
        next="end",
        choices=[{"value": f"v{i}", "phrases": [f"p{i}"]} for i in range(1, 12)],
    )
    assert press(menu, "", "2", "en") == ("2", True)
    assert press(menu, "", "1", "en") == ("1", False)  # 10 and 11 start with 1
    assert press(menu, "1", "1", "en") == ("11", True)
    assert press(menu, "1", "#", "en") == ("1", True)
    assert interpret_keys(menu, "1", "en", NOW) == "v1"
    assert interpret_keys(menu, "11", "en", NOW) == "v11"
    assert interpret_keys(menu, "12", "en", NOW) is None
    star = make_node(
        "ask",
        slot="s",
        answer="choice",
        next="end",
        choices=[
            {"value": "a", "phrases": ["a"], "dtmf": "*"},
            {"value": "b", "phrases": ["b"], "dtmf": "#"},
        ],
    )
    assert press(star, "", "*", "en") == ("*", True)
    assert press(star, "", "#", "en") == ("#", True)
    assert interpret_keys(star, "#", "en", NOW) == "b"


def test_press_numbers_and_digits(make_node: NodeFactory) -> None:
    size = make_node("ask", slot="s", answer="number", min=1, max=20, next="end")
    assert press(size, "", "4", "en") == ("4", True)  # 40 would pass max
    assert press(size, "", "1", "en") == ("1", False)
    assert press(size, "1", "2", "en") == ("12", True)
    assert press(size, "1", "#", "en") == ("1", True)
    assert press(size, "1", "*", "en") == ("", False)
    assert interpret_keys(size, "12", "en", NOW) == 12
    assert interpret_keys(size, "0", "en", NOW) is None  # below min
    unbounded = make_node("ask", slot="s", answer="number", next="end")
    assert press(unbounded, "12345", "6", "en") == ("123456", False)
    pin = make_node("ask", slot="s", answer="digits", length=4, next="end")
    assert press(pin, "012", "3", "en") == ("0123", True)
    assert interpret_keys(pin, "0123", "en", NOW) == "0123"
    assert interpret_keys(pin, "012", "en", NOW) is None
    free = make_node("ask", slot="s", answer="free_text", next="end")
    assert press(free, "", "7", "en") == ("7", True)
    assert interpret_keys(free, "7", "en", NOW) == "7"


def test_keyed_dates_and_times(make_node: NodeFactory) -> None:
    day = make_node("ask", slot="s", answer="date", next="end")
    assert press(day, "030", "5", "en") == ("0305", False)
    assert interpret_keys(day, "0405", "en", NOW) == "2025-04-05"
    assert interpret_keys(day, "0305", "en", NOW) == "2026-03-05"  # past: next year
    assert interpret_keys(day, "20250230", "en", NOW) is None
    at = make_node("ask", slot="s", answer="time", next="end")
    assert press(at, "143", "0", "en") == ("1430", True)
    assert interpret_keys(at, "1430", "en", NOW) == "14:30"
    assert interpret_keys(at, "930", "en", NOW) == "09:30"
    assert interpret_keys(at, "2575", "en", NOW) is None
    when = make_node("ask", slot="s", answer="datetime", next="end")
    assert interpret_keys(when, "04051900", "en", NOW) == "2025-04-05T19:00"
    assert interpret_keys(when, "12a4", "en", NOW) is None


def test_branch_cases(make_node: NodeFactory) -> None:
    node = make_node(
        "branch",
        sets=("size",),
        ends=("big", "window", "four", "party"),
        slot="size",
        cases=[
            {"range": {"min": 9}, "next": "big"},
            {"range": {"min": 1, "max": 2}, "keywords": ["window"], "next": "window"},
            {"equals": 4, "next": "four"},
            {"one_of": ["Party", True], "next": "party"},
        ],
        default="end",
    )
    assert isinstance(node, BranchNode)
    for value, said, target in [
        (12, "", "big"),
        ("9", "", "big"),
        (2, "a window table please", "window"),
        (2, "anywhere", "end"),
        (4, "", "four"),
        ("4", "", "four"),
        (4.0, "", "four"),
        ("party!", "", "party"),
        (True, "", "party"),
        (1, "", "end"),
        (None, "", "end"),
        ("many", "", "end"),
    ]:
        assert branch_target(node, {"size": value}, said) == target, (value, said)
    assert branch_target(node, {}, "") == "end"


def test_branch_text_ranges(make_node: NodeFactory) -> None:
    node = make_node(
        "branch",
        sets=("at",),
        ends=("am",),
        slot="at",
        cases=[{"range": {"min": "09:00", "max": "12:00"}, "next": "am"}],
        default="end",
    )
    assert branch_target(node, {"at": "10:30"}, "") == "am"
    assert branch_target(node, {"at": "14:00"}, "") == "end"
    assert branch_target(node, {"at": 10}, "") == "end"


def test_webhook_payload_and_reply(make_node: NodeFactory) -> None:
    ctx = CallContext("c9", "+15550100", "100", "en", slots={"a": 1, "secret": "x"})
    payload = webhook_payload("book", ctx, {"a": 1})
    assert payload == {
        "call_uid": "c9",
        "caller_number": "+15550100",
        "dialed": "100",
        "node": "book",
        "slots": {"a": 1},
    }
    node = make_node(
        "webhook",
        webhook="w",
        results={"ref": "booking.id", "ok": "ok", "gone": "x.y"},
        next="end",
    )
    assert isinstance(node, WebhookNode)
    reply = {"booking": {"id": "B-1"}, "ok": False, "x": "not an object"}
    assert reply_slots(node, reply) == {"ref": "B-1", "ok": False}


# --- the services ------------------------------------------------------------------------------


class Faq:
    def __init__(
        self, answer: tuple[str, float] | None = None, *, fail: bool = False, delay_s: float = 0.0
    ) -> None:
        self.answer, self.fail, self.delay_s = answer, fail, delay_s
        self.asked: list[tuple[str, float]] = []

    async def best_faq_answer(self, query: str, min_score: float) -> tuple[str, float] | None:
        self.asked.append((query, min_score))
        await asyncio.sleep(self.delay_s)
        if self.fail:
            raise RuntimeError("index gone")
        return self.answer


class Hooks:
    def __init__(self, reply: Any = None, *, fail: bool = False, gate: asyncio.Event | None = None):
        self.reply, self.fail, self.gate = reply if reply is not None else {}, fail, gate
        self.calls: list[tuple[str, Mapping[str, Any], float]] = []

    async def call(self, name: str, payload: Mapping[str, Any], timeout_s: float) -> Any:
        self.calls.append((name, payload, timeout_s))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise ConnectionError("refused")
        return self.reply


async def test_faq_answers_above_the_threshold_only(make_node: NodeFactory) -> None:
    node = make_node("knowledge", min_score=0.6, timeout_s=0.2, next="end")
    assert isinstance(node, KnowledgeNode)
    faq = Faq(("We open at nine.", 0.8))
    services = NodeServices(faq=faq)
    assert await services.answer(node, "when do you open") == "We open at nine."
    assert faq.asked == [("when do you open", 0.6)]
    assert await NodeServices(faq=Faq(("Maybe.", 0.3))).answer(node, "q") is None
    assert await NodeServices(faq=Faq(None)).answer(node, "q") is None
    assert await NodeServices(faq=Faq(fail=True)).answer(node, "q") is None
    assert await NodeServices(faq=Faq(("late", 0.9), delay_s=1.0)).answer(node, "q") is None
    assert await NodeServices().answer(node, "q") is None
    assert await services.answer(node, "  ") is None and len(faq.asked) == 1


async def test_classification_is_checked_against_the_labels(make_node: NodeFactory) -> None:
    node = make_node(
        "intent",
        intents=[{"label": "billing", "next": "end"}, {"label": "Tech support", "next": "end"}],
        default="end",
    )
    assert isinstance(node, IntentNode)

    class Classifier:
        def __init__(self, answer: str | None, fail: bool = False) -> None:
            self.answer, self.fail = answer, fail
            self.seen: list[tuple[str, Mapping[str, str | None], str | None]] = []

        async def classify(
            self, text: str, labels: Mapping[str, str | None], *, instructions: str | None = None
        ) -> str | None:
            self.seen.append((text, labels, instructions))
            if self.fail:
                raise LlmError("down")
            return self.answer

    one = Classifier(" tech SUPPORT ")
    assert await NodeServices(classifier=one).classify(node, "my wifi") == "Tech support"
    assert one.seen == [("my wifi", {"billing": None, "Tech support": None}, None)]
    assert await NodeServices(classifier=Classifier("refunds")).classify(node, "x") is None
    assert await NodeServices(classifier=Classifier(None, fail=True)).classify(node, "x") is None
    assert await NodeServices().classify(node, "x") is None
    unused = Classifier("billing")
    assert await NodeServices(classifier=unused).classify(node, " ") is None
    assert unused.seen == []


async def test_webhook_failures_give_none() -> None:
    assert await NodeServices().call("k", "w", {}, 1.0) is None
    assert await NodeServices(webhooks=Hooks(fail=True)).call("k", "w", {}, 1.0) is None
    hooks = Hooks(["not", "an", "object"])
    assert await NodeServices(webhooks=hooks).call("k", "w", {"a": 1}, 2.5) == {}
    assert hooks.calls == [("w", {"a": 1}, 2.5)]


async def test_a_webhook_call_cut_short_is_awaited_not_repeated() -> None:
    gate = asyncio.Event()
    hooks = Hooks({"id": 7}, gate=gate)
    services = NodeServices(webhooks=hooks)
    first = asyncio.ensure_future(services.call("book", "w", {}, 5.0))
    await asyncio.sleep(0.01)
    first.cancel()  # barge-in cancels the reply that waited
    with pytest.raises(asyncio.CancelledError):
        await first
    assert services.calling("book")
    gate.set()
    assert await services.call("book", "w", {}, 5.0) == {"id": 7}
    assert len(hooks.calls) == 1
    assert not services.calling("book")


# --- the LLM classifier ------------------------------------------------------------------------

ClassifierFactory = Callable[..., Awaitable[tuple[ChatIntentClassifier, ScriptedOpenAI]]]


@pytest.fixture
async def make_classifier() -> AsyncIterator[ClassifierFactory]:
    async with AsyncExitStack() as stack:

        async def make(*replies: Reply, **settings: Any) -> tuple[ChatIntentClassifier, Any]:
            server = await stack.enter_async_context(ScriptedOpenAI(replies))
            client = await stack.enter_async_context(
                await make_openai_client(base_url=server.base_url, api_key="sk-test")
            )
            options: dict[str, Any] = {"model": "m", "timeout_s": 1.0, **settings}
            return ChatIntentClassifier(client, LlmSettings(**options)), server

        yield make


async def test_classifier_sends_one_strict_request(make_classifier: ClassifierFactory) -> None:
    classifier, server = await make_classifier(Reply(chunks=["Billing"]))
    labels = {"billing": "invoices and payments", "technical": None}
    label = await classifier.classify("I was charged twice", labels, instructions="An ISP.")
    assert label == "billing"
    [request] = server.requests
    assert request.body["stream"] is False and request.body["temperature"] == 0
    system, user = request.messages
    assert "exactly one of the labels" in system["content"]
    assert "- billing: invoices and payments" in system["content"]
    assert "- technical" in system["content"] and "About this line: An ISP." in system["content"]
    assert user == {"role": "user", "content": "I was charged twice"}
    assert "tools" not in request.body


async def test_classifier_answers_outside_the_labels(make_classifier: ClassifierFactory) -> None:
    classifier, _ = await make_classifier(
        Reply(chunks=["none"]), Reply(chunks=["I think it is about refunds."])
    )
    assert await classifier.classify("hm", {"billing": None, "technical": None}) is None
    assert await classifier.classify("hm", {"billing": None, "refunds": None}) == "refunds"


async def test_classifier_failure_is_an_llm_error(make_classifier: ClassifierFactory) -> None:
    classifier, _ = await make_classifier(Reply(status=500), Reply(hang=True), timeout_s=0.2)
    with pytest.raises(LlmError, match="intent classification failed"):
        await classifier.classify("x", {"a": None})
    with pytest.raises(LlmError):
        await classifier.classify("x", {"a": None})


def test_pick_label() -> None:
    labels = {"billing": None, "tech support": None, "sales": None}
    assert pick_label("Billing.", labels) == "billing"
    assert pick_label("tech support", labels) == "tech support"
    assert pick_label("The label is: sales", labels) == "sales"
    assert pick_label("sales or billing", labels) is None
    assert pick_label("", labels) is None
    assert pick_label("technical", labels) is None
