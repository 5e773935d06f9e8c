"""Flow definitions: schema, semantic checks, loading."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from callwright.dialog.demo_flow import BOOKING_FLOW_EN
from callwright.dialog.flow import (
    AskNode,
    BranchNode,
    HangupNode,
    IntentNode,
    KnowledgeNode,
    LlmNode,
    SayNode,
    TakeMessageNode,
    TransferNode,
    WebhookNode,
    flow_schema,
    load_flow,
    validate_flow,
)
from callwright.errors import FlowError

FlowFactory = Callable[..., dict[str, Any]]


@pytest.fixture
def make_flow() -> FlowFactory:
    """A valid flow document; keyword arguments replace (or, with None, remove) nodes."""

    def make(start: str = "menu", **nodes: dict[str, Any] | None) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "version": 1,
            "name": "test",
            "start": start,
            "nodes": {
                "menu": {
                    "kind": "ask",
                    "prompt": "Sales or support?",
                    "slot": "dept",
                    "answer": "choice",
                    "choices": [
                        {"value": "sales", "phrases": ["sales", "buy"]},
                        {"value": "support", "phrases": ["support", "help"]},
                    ],
                    "routes": {"sales": "to_sales"},
                    "next": "confirm",
                    "on_fail": "bye",
                },
                "confirm": {
                    "kind": "ask",
                    "prompt": "Is it urgent?",
                    "slot": "urgent",
                    "answer": "yes_no",
                    "next": "route",
                },
                "route": {
                    "kind": "branch",
                    "slot": "urgent",
                    "cases": [{"equals": "yes", "next": "to_support"}],
                    "default": "note",
                },
                "note": {"kind": "say", "text": "We will call you back.", "next": "bye"},
                "to_sales": {
                    "kind": "transfer",
                    "target": "from-internal,200,1",
                    "text": "One moment.",
                },
                "to_support": {"kind": "llm", "goal": "Help with the problem."},
                "bye": {"kind": "hangup", "text": "Goodbye."},
            },
        }
        for node_id, node in nodes.items():
            if node is None:
                del doc["nodes"][node_id]
            else:
                doc["nodes"][node_id] = node
        return copy.deepcopy(doc)

    return make


def _where(errors: list[FlowError]) -> set[tuple[str | None, str | None]]:
    return {(e.node, e.field) for e in errors}


def test_schema_is_valid_draft_2020_12() -> None:
    schema = flow_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["description"]
    for name, definition in schema["$defs"].items():
        assert definition.get("description"), f"$defs/{name} has no description"


def test_valid_flow_loads_into_the_model(make_flow: FlowFactory) -> None:
    doc = make_flow()
    assert validate_flow(doc) == []
    flow = load_flow(doc)
    assert flow.start == "menu"
    assert flow.name == "test"
    menu = flow.node("menu")
    assert isinstance(menu, AskNode)
    assert [c.value for c in menu.choices] == ["sales", "support"]
    assert menu.target_for("sales") == "to_sales"
    assert menu.target_for("support") == "confirm"
    assert menu.max_retries == 2 and menu.no_input_s == 8.0
    assert isinstance(flow.node("route"), BranchNode)
    assert isinstance(flow.node("note"), SayNode)
    assert isinstance(flow.node("to_sales"), TransferNode)
    assert isinstance(flow.node("to_support"), LlmNode)
    assert isinstance(flow.node("bye"), HangupNode)
    assert flow.definition == doc


def test_load_from_json_text(make_flow: FlowFactory) -> None:
    flow = load_flow(json.dumps(make_flow(), ensure_ascii=False))
    assert set(flow.nodes) == set(make_flow()["nodes"])


def test_invalid_json_text() -> None:
    with pytest.raises(FlowError, match="not valid JSON"):
        load_flow("{nope")
    assert len(validate_flow(b"\xff")) == 1


def test_missing_next_target_names_node_and_field(make_flow: FlowFactory) -> None:
    doc = make_flow(note={"kind": "say", "text": "Hi.", "next": "nowhere"})
    errors = validate_flow(doc)
    assert ("note", "next") in _where(errors)
    with pytest.raises(FlowError) as caught:
        load_flow(doc)
    assert (caught.value.node, caught.value.field) == ("note", "next")
    assert "nowhere" in str(caught.value)


def test_missing_route_target(make_flow: FlowFactory) -> None:
    doc = make_flow()
    doc["nodes"]["menu"]["routes"]["sales"] = "gone"
    assert ("menu", "routes.sales") in _where(validate_flow(doc))


def test_unknown_kind(make_flow: FlowFactory) -> None:
    errors = validate_flow(make_flow(note={"kind": "dance", "next": "bye"}))
    assert ("note", "kind") in _where(errors)
    assert any("unknown kind 'dance'" in str(e) for e in errors)


def test_empty_choices(make_flow: FlowFactory) -> None:
    doc = make_flow()
    doc["nodes"]["menu"]["choices"] = []
    errors = validate_flow(doc)
    assert ("menu", "choices") in _where(errors)


def test_choice_answer_requires_choices(make_flow: FlowFactory) -> None:
    doc = make_flow()
    del doc["nodes"]["menu"]["choices"]
    assert ("menu", "choices") in _where(validate_flow(doc))


def test_empty_phrases_and_unspeakable_phrase(make_flow: FlowFactory) -> None:
    doc = make_flow()
    doc["nodes"]["menu"]["choices"][0]["phrases"] = []
    assert ("menu", "choices[0].phrases") in _where(validate_flow(doc))
    doc = make_flow()
    doc["nodes"]["menu"]["choices"][1]["phrases"] = ["help", "?!"]
    assert ("menu", "choices[1].phrases[1]") in _where(validate_flow(doc))


def test_start_that_does_not_exist(make_flow: FlowFactory) -> None:
    errors = validate_flow(make_flow(start="nope"))
    assert ("nope", "start") in _where(errors)


def test_unreachable_node(make_flow: FlowFactory) -> None:
    errors = validate_flow(make_flow(orphan={"kind": "hangup"}))
    assert _where(errors) == {("orphan", "id")}


def test_unreachable_start_when_start_is_not_the_entry(make_flow: FlowFactory) -> None:
    # Starting at "bye" leaves every other node unreachable.
    errors = validate_flow(make_flow(start="bye"))
    assert ("menu", "id") in _where(errors)
    assert all(e.field == "id" for e in errors)


def test_missing_required_field(make_flow: FlowFactory) -> None:
    errors = validate_flow(make_flow(note={"kind": "say", "next": "bye"}))
    assert ("note", "text") in _where(errors)
    assert any("missing required field 'text'" in str(e) for e in errors)


def test_every_missing_field_is_reported(make_flow: FlowFactory) -> None:
    errors = validate_flow(make_flow(note={"kind": "ask"}))
    assert {("note", "slot"), ("note", "answer")} <= _where(errors)


def test_unknown_field(make_flow: FlowFactory) -> None:
    errors = validate_flow(make_flow(note={"kind": "say", "text": "x", "next": "bye", "colour": 1}))
    assert ("note", "colour") in _where(errors)


def test_wrong_type_names_the_field(make_flow: FlowFactory) -> None:
    doc = make_flow()
    doc["nodes"]["menu"]["max_retries"] = "two"
    assert ("menu", "max_retries") in _where(validate_flow(doc))


def test_bad_node_id(make_flow: FlowFactory) -> None:
    doc = make_flow()
    doc["nodes"]["has space"] = {"kind": "hangup"}
    assert ("has space", "id") in _where(validate_flow(doc))


def test_top_level_errors_have_no_node(make_flow: FlowFactory) -> None:
    doc = make_flow()
    doc["version"] = 2
    del doc["start"]
    where = _where(validate_flow(doc))
    assert (None, "version") in where
    assert (None, "start") in where


def test_all_problems_reported_at_once(make_flow: FlowFactory) -> None:
    doc = make_flow(note={"kind": "say", "text": "Hi.", "next": "nowhere"}, bye={"kind": "oops"})
    doc["nodes"]["menu"]["choices"] = []
    where = _where(validate_flow(doc))
    assert {("note", "next"), ("bye", "kind"), ("menu", "choices")} <= where


def test_route_for_an_answer_that_does_not_exist(make_flow: FlowFactory) -> None:
    doc = make_flow()
    doc["nodes"]["confirm"]["routes"] = {"maybe": "bye"}
    assert ("confirm", "routes.maybe") in _where(validate_flow(doc))


def test_ask_without_a_way_on(make_flow: FlowFactory) -> None:
    doc = make_flow()
    del doc["nodes"]["menu"]["next"]  # "support" is routed nowhere
    errors = validate_flow(doc)
    assert ("menu", "next") in _where(errors)
    assert any("support" in str(e) for e in errors if e.node == "menu")


def test_duplicate_choice_values_and_keys(make_flow: FlowFactory) -> None:
    doc = make_flow()
    doc["nodes"]["menu"]["choices"][1]["value"] = "sales"
    assert ("menu", "choices[1].value") in _where(validate_flow(doc))
    doc = make_flow()
    for choice in doc["nodes"]["menu"]["choices"]:
        choice["dtmf"] = "5"
    assert ("menu", "choices[1].dtmf") in _where(validate_flow(doc))


def test_no_reachable_hangup(make_flow: FlowFactory) -> None:
    doc = {
        "version": 1,
        "start": "q",
        "nodes": {"q": {"kind": "ask", "slot": "x", "answer": "free_text", "next": "q"}},
    }
    assert ("q", "start") in _where(validate_flow(doc))


def test_node_without_a_way_out(make_flow: FlowFactory) -> None:
    doc = make_flow(
        note={"kind": "say", "text": "Again.", "next": "loop"},
        loop={"kind": "say", "text": "And again.", "next": "note"},
    )
    errors = validate_flow(doc)
    assert ("note", "next") in _where(errors)
    assert ("loop", "next") in _where(errors)
    assert any("without waiting" in str(e) for e in errors)


def test_busy_loop_through_a_branch(make_flow: FlowFactory) -> None:
    doc = make_flow(
        note={"kind": "say", "text": "Hm.", "next": "again"},
        again={"kind": "branch", "cases": [{"keywords": ["x"], "next": "bye"}], "default": "note"},
    )
    errors = validate_flow(doc)
    assert any("without waiting" in str(e) for e in errors)


def test_branch_on_a_slot_nobody_sets(make_flow: FlowFactory) -> None:
    doc = make_flow()
    doc["nodes"]["route"]["slot"] = "colour"
    assert ("route", "slot") in _where(validate_flow(doc))


def test_slot_case_without_slot(make_flow: FlowFactory) -> None:
    doc = make_flow()
    del doc["nodes"]["route"]["slot"]
    assert ("route", "cases[0]") in _where(validate_flow(doc))


def test_branch_case_needs_a_test(make_flow: FlowFactory) -> None:
    doc = make_flow()
    doc["nodes"]["route"]["cases"] = [{"next": "bye"}]
    assert ("route", "cases[0]") in _where(validate_flow(doc))


def test_choices_on_a_yes_no_question(make_flow: FlowFactory) -> None:
    doc = make_flow()
    doc["nodes"]["confirm"]["choices"] = [{"value": "a", "phrases": ["a"]}]
    assert ("confirm", "choices") in _where(validate_flow(doc))


def test_keyword_and_one_of_cases_load(make_flow: FlowFactory) -> None:
    doc = make_flow()
    doc["nodes"]["route"]["cases"] = [
        {"one_of": ["yes", "y"], "keywords": ["now"], "next": "to_support"},
        {"equals": True, "next": "bye"},
    ]
    route = load_flow(doc).node("route")
    assert isinstance(route, BranchNode)
    assert route.cases[0].values == ("yes", "y")
    assert route.cases[0].keywords == ("now",)
    assert route.cases[1].values == (True,)


def test_every_error_is_a_flow_error_with_a_field(make_flow: FlowFactory) -> None:
    doc = make_flow(note={"kind": "say"}, bye={"kind": "transfer"})
    doc["nodes"]["menu"]["choices"] = [{"value": ""}]
    errors = validate_flow(doc)
    assert errors
    assert all(isinstance(e, FlowError) and e.field for e in errors)


# --- the new node kinds and their errors -------------------------------------------------------


def _node_errors(doc: dict[str, Any], node: str, **validate: Any) -> set[str | None]:
    return {e.field for e in validate_flow(doc, **validate) if e.node == node}


def test_every_node_kind_loads(make_flow: FlowFactory) -> None:
    doc = make_flow(
        note={
            "kind": "ask",
            "slot": "size",
            "answer": "number",
            "min": 1,
            "max": 8,
            "next": "pin",
            "on_fail": "bye",
        },
        pin={"kind": "ask", "slot": "pin", "answer": "digits", "length": 4, "next": "when"},
        when={"kind": "ask", "slot": "when", "answer": "datetime", "next": "triage"},
        triage={
            "kind": "intent",
            "intents": [
                {"label": "billing", "description": "invoices", "next": "faq"},
                {"label": "other", "next": "book"},
            ],
            "default": "msg",
        },
        faq={"kind": "knowledge", "prompt": "Your question?", "answer_slot": "a", "next": "book"},
        book={
            "kind": "webhook",
            "webhook": "bookings",
            "send": ["size", "when"],
            "results": {"ref": "booking.id"},
            "next": "msg",
            "on_error": "bye",
        },
        msg={
            "kind": "take_message",
            "prompt": "Leave a message.",
            "notify": "mail",
            "next": "agent",
        },
        agent={
            "kind": "llm",
            "goal": "Upsell.",
            "next": "bye",
            "max_turns": 3,
            "exit_when": "the caller is done",
            "slot": "upsell",
        },
    )
    doc["nodes"]["to_sales"]["on_fail"] = "bye"
    doc["nodes"]["route"]["cases"].append({"range": {"min": 2, "max": 6}, "next": "bye"})
    assert validate_flow(doc) == []
    flow = load_flow(doc)
    size = flow.node("note")
    assert isinstance(size, AskNode) and (size.min_value, size.max_value) == (1, 8)
    assert size.answer == "number" and size.on_fail == "bye"
    assert isinstance(flow.node("triage"), IntentNode)
    assert isinstance(flow.node("faq"), KnowledgeNode)
    book = flow.node("book")
    assert isinstance(book, WebhookNode) and book.results == {"ref": "booking.id"}
    assert book.send == ("size", "when") and book.timeout_s == 5.0
    assert isinstance(flow.node("msg"), TakeMessageNode)
    agent = flow.node("agent")
    assert isinstance(agent, LlmNode) and agent.max_turns == 3 and agent.slot == "upsell"
    route = flow.node("route")
    assert isinstance(route, BranchNode) and route.cases[-1].has_range
    assert (route.cases[-1].low, route.cases[-1].high) == (2, 6)
    assert flow.needs_llm


def test_fields_of_another_answer_type(make_flow: FlowFactory) -> None:
    doc = make_flow()
    doc["nodes"]["confirm"].update({"min": 1, "length": 3})
    assert {"min", "length"} <= _node_errors(doc, "confirm")
    doc = make_flow()
    doc["nodes"]["confirm"].update({"answer": "number", "min": 5, "max": 2})
    assert "max" in _node_errors(doc, "confirm")
    doc = make_flow()
    doc["nodes"]["confirm"].update({"answer": "digits", "length": 4, "max_length": 6})
    assert "length" in _node_errors(doc, "confirm")
    del doc["nodes"]["confirm"]["length"]
    doc["nodes"]["confirm"]["min_length"] = 8
    assert "max_length" in _node_errors(doc, "confirm")


def test_unknown_answer_type(make_flow: FlowFactory) -> None:
    doc = make_flow()
    doc["nodes"]["confirm"]["answer"] = "colour"
    assert "answer" in _node_errors(doc, "confirm")


def test_dtmf_keys_that_are_prefixes_clash(make_flow: FlowFactory) -> None:
    doc = make_flow()
    doc["nodes"]["menu"]["choices"][0]["dtmf"] = "1"
    doc["nodes"]["menu"]["choices"][1]["dtmf"] = "12"
    errors = [e for e in validate_flow(doc) if e.node == "menu"]
    assert [(e.field, "clashes" in str(e)) for e in errors] == [("choices[1].dtmf", True)]


def test_range_cases(make_flow: FlowFactory) -> None:
    doc = make_flow()
    doc["nodes"]["route"]["cases"] = [{"range": {"min": 9, "max": 2}, "next": "bye"}]
    assert "cases[0].range.max" in _node_errors(doc, "route")
    doc["nodes"]["route"]["cases"] = [{"range": {"min": 1, "max": "9"}, "next": "bye"}]
    assert "cases[0].range" in _node_errors(doc, "route")
    doc["nodes"]["route"]["cases"] = [{"range": {}, "next": "bye"}]
    assert "cases[0].range" in _node_errors(doc, "route")
    del doc["nodes"]["route"]["slot"]
    doc["nodes"]["route"]["cases"] = [{"range": {"min": 1}, "next": "bye"}]
    assert "cases[0]" in _node_errors(doc, "route")


def test_intent_errors(make_flow: FlowFactory) -> None:
    intent = {
        "kind": "intent",
        "intents": [{"label": "Sales", "next": "bye"}, {"label": "sales", "next": "nowhere"}],
        "default": "bye",
    }
    doc = make_flow(note=intent)
    assert {"intents[1].next"} <= _node_errors(doc, "note")
    doc["nodes"]["note"]["intents"][1]["next"] = "bye"
    assert _node_errors(doc, "note") == {"intents[1].label"}
    doc["nodes"]["note"]["intents"] = [{"label": "only", "next": "bye"}]
    assert "intents" in _node_errors(doc, "note")
    doc["nodes"]["note"] = {"kind": "intent", "intents": [{"label": "a"}], "default": "bye"}
    assert "intents[0].next" in _node_errors(doc, "note")


def test_a_node_that_needs_an_llm_is_refused_without_one(make_flow: FlowFactory) -> None:
    doc = make_flow()  # to_support is an llm node
    assert validate_flow(doc) == []
    assert validate_flow(doc, llm_available=True) == []
    errors = validate_flow(doc, llm_available=False)
    assert [(e.node, e.field) for e in errors] == [("to_support", "kind")]
    assert "needs an LLM" in str(errors[0])
    with pytest.raises(FlowError):
        load_flow(doc, llm_available=False)
    doc["nodes"]["to_support"] = {
        "kind": "intent",
        "intents": [{"label": "a", "next": "bye"}, {"label": "b", "next": "bye"}],
        "default": "bye",
    }
    assert _node_errors(doc, "to_support", llm_available=False) == {"kind"}


def test_llm_node_fields(make_flow: FlowFactory) -> None:
    doc = make_flow()
    doc["nodes"]["to_support"].update({"max_turns": 3, "exit_when": "done"})
    assert _node_errors(doc, "to_support") == {"max_turns", "exit_when"}
    doc["nodes"]["to_support"] = {"kind": "llm", "goal": "g", "next": "bye", "on_max_turns": "bye"}
    assert _node_errors(doc, "to_support") == {"on_max_turns"}
    doc["nodes"]["to_support"]["max_turns"] = 0
    assert "max_turns" in _node_errors(doc, "to_support")


def test_knowledge_errors(make_flow: FlowFactory) -> None:
    doc = make_flow(note={"kind": "knowledge", "listen": False, "prompt": "Ask.", "next": "bye"})
    assert _node_errors(doc, "note") == {"prompt"}
    doc = make_flow(note={"kind": "knowledge", "listen": False, "slot": "q", "next": "bye"})
    assert _node_errors(doc, "note") == {"slot"}  # nothing sets q before
    doc = make_flow(note={"kind": "knowledge", "min_score": 2, "next": "bye"})
    assert "min_score" in _node_errors(doc, "note")
    doc = make_flow(note={"kind": "knowledge", "next": "bye", "on_miss": "gone"})
    assert _node_errors(doc, "note") == {"on_miss"}


def test_webhook_errors(make_flow: FlowFactory) -> None:
    doc = make_flow(
        note={"kind": "webhook", "webhook": "book", "send": ["dept", "size"], "next": "bye"}
    )
    errors = [e for e in validate_flow(doc) if e.node == "note"]
    assert [e.field for e in errors] == ["send[1]"]
    assert "slot 'size' is not set by any node before this one" in str(errors[0])
    doc = make_flow(note={"kind": "webhook", "next": "bye", "results": {"1bad": "x"}})
    assert {"webhook", "results"} <= _node_errors(doc, "note")
    doc = make_flow(note={"kind": "webhook", "webhook": "w", "next": "bye", "on_error": "nope"})
    assert _node_errors(doc, "note") == {"on_error"}
    doc = make_flow(note={"kind": "webhook", "webhook": "w", "next": "bye", "timeout_s": 0})
    assert _node_errors(doc, "note") == {"timeout_s"}


def test_webhook_results_count_as_set_slots(make_flow: FlowFactory) -> None:
    doc = make_flow(
        note={"kind": "webhook", "webhook": "w", "results": {"tier": "t"}, "next": "check"},
        check={
            "kind": "branch",
            "slot": "tier",
            "cases": [{"equals": "gold", "next": "bye"}],
            "default": "bye",
        },
    )
    assert validate_flow(doc) == []


def test_take_message_and_transfer_errors(make_flow: FlowFactory) -> None:
    doc = make_flow(note={"kind": "take_message", "next": "bye", "max_parts": 0})
    assert {"prompt", "max_parts"} <= _node_errors(doc, "note")
    doc = make_flow()
    doc["nodes"]["to_sales"]["on_fail"] = "missing"
    assert _node_errors(doc, "to_sales") == {"on_fail"}


def test_busy_loop_through_a_webhook(make_flow: FlowFactory) -> None:
    doc = make_flow(
        note={"kind": "webhook", "webhook": "poll", "next": "again", "on_error": "bye"},
        again={"kind": "branch", "cases": [{"keywords": ["x"], "next": "bye"}], "default": "note"},
    )
    assert any("without waiting" in str(e) for e in validate_flow(doc))


def test_documented_example_is_the_booking_flow_and_valid() -> None:
    docs = Path(__file__).resolve().parents[3] / "docs" / "flows.md"
    blocks = re.findall(r"```json\n(.*?)```", docs.read_text("utf-8"), re.S)
    examples = [json.loads(b) for b in blocks]
    assert BOOKING_FLOW_EN in examples
    for example in examples:
        assert validate_flow(example) == [], example.get("name")
    assert validate_flow(BOOKING_FLOW_EN, llm_available=False) == []


def test_documented_node_kinds_match_the_schema() -> None:
    docs = (Path(__file__).resolve().parents[3] / "docs" / "flows.md").read_text("utf-8")
    kinds = flow_schema()["$defs"]["node"]["properties"]["kind"]["enum"]
    assert set(re.findall(r"^### `(\w+)`", docs, re.M)) == set(kinds)
