"""Dialog flow definitions: the node model, loading and validation.

A flow is a JSON document checked against ``flow_schema.json`` (JSON Schema 2020-12), then by the
semantic checks of :mod:`callwright.dialog.flow_checks` (targets exist, every node reachable and
with a way out, slots set before they are read, an LLM configured when a node needs one).
``docs/flows.md`` documents the format with examples.

``validate_flow`` returns every problem at once (for an editor); ``load_flow`` raises the first.
Each problem is a :class:`~callwright.errors.FlowError` naming the node id and the field (``field``
is ``"id"`` when the problem is the node as a whole, ``node`` is None for top-level fields).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

from jsonschema import Draft202012Validator

from callwright.dialog.matching import Choice
from callwright.errors import FlowError

__all__ = [
    "AskNode",
    "BranchCase",
    "BranchNode",
    "Flow",
    "HangupNode",
    "IntentNode",
    "IntentOption",
    "KnowledgeNode",
    "Listening",
    "LlmNode",
    "Node",
    "SayNode",
    "TakeMessageNode",
    "TransferNode",
    "WebhookNode",
    "flow_schema",
    "load_flow",
    "validate_flow",
]

AnswerType = Literal[
    "yes_no", "choice", "number", "digits", "date", "time", "datetime", "free_text"
]
SlotValue = str | int | float | bool

#: Answers whose words are few enough for the recogniser's grammar mode (numbers: small ranges).
CLOSED_ANSWERS = frozenset({"yes_no", "choice", "digits"})


@dataclass(frozen=True, slots=True)
class SayNode:
    id: str
    text: str
    next: str
    interruptible: bool = True


@dataclass(frozen=True, slots=True)
class AskNode:
    id: str
    slot: str
    answer: AnswerType
    prompt: str | None = None
    choices: tuple[Choice, ...] = ()
    reprompt: str | None = None
    no_input_prompt: str | None = None
    max_retries: int = 2
    no_input_s: float = 8.0
    routes: Mapping[str, str] = field(default_factory=dict)
    next: str | None = None
    on_fail: str | None = None
    interruptible: bool = True
    min_value: int | None = None
    max_value: int | None = None
    length: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    inter_digit_s: float = 5.0

    def target_for(self, value: object) -> str | None:
        """The node an answer leads to: its route, else ``next``."""
        return self.routes.get(value, self.next) if isinstance(value, str) else self.next

    @property
    def keyed_max(self) -> int | None:
        """The most keys a keyed answer may have (it ends by itself there), or None."""
        if self.answer == "digits":
            return self.length or self.max_length
        return None


@dataclass(frozen=True, slots=True)
class BranchCase:
    next: str
    values: tuple[SlotValue, ...] | None = None  # from `equals` or `one_of`
    keywords: tuple[str, ...] = ()
    low: float | str | None = None  # from `range`
    high: float | str | None = None
    has_range: bool = False

    @property
    def tests_slot(self) -> bool:
        return self.values is not None or self.has_range


@dataclass(frozen=True, slots=True)
class BranchNode:
    id: str
    cases: tuple[BranchCase, ...]
    default: str
    slot: str | None = None


@dataclass(frozen=True, slots=True)
class IntentOption:
    label: str
    next: str
    description: str | None = None


@dataclass(frozen=True, slots=True)
class IntentNode:
    id: str
    intents: tuple[IntentOption, ...]
    default: str
    slot: str = "intent"
    text_slot: str | None = None
    instructions: str | None = None


@dataclass(frozen=True, slots=True)
class HangupNode:
    id: str
    text: str | None = None
    reason: str = "flow_hangup"


@dataclass(frozen=True, slots=True)
class TransferNode:
    id: str
    target: str
    text: str | None = None
    reason: str = "flow_transfer"
    on_fail: str | None = None


@dataclass(frozen=True, slots=True)
class LlmNode:
    id: str
    goal: str
    text: str | None = None
    next: str | None = None
    slot: str = "result"
    exit_when: str | None = None
    max_turns: int | None = None
    on_max_turns: str | None = None


@dataclass(frozen=True, slots=True)
class KnowledgeNode:
    id: str
    next: str
    prompt: str | None = None
    listen: bool = True
    slot: str = "question"
    answer_slot: str | None = None
    min_score: float = 0.5
    fallback: str | None = None
    on_miss: str | None = None
    timeout_s: float = 3.0
    reprompt: str | None = None
    no_input_prompt: str | None = None
    max_retries: int = 2
    no_input_s: float = 8.0
    on_fail: str | None = None
    interruptible: bool = True


@dataclass(frozen=True, slots=True)
class WebhookNode:
    id: str
    webhook: str
    next: str
    send: tuple[str, ...] = ()
    results: Mapping[str, str] = field(default_factory=dict)
    text: str | None = None
    timeout_s: float = 5.0
    on_error: str | None = None


@dataclass(frozen=True, slots=True)
class TakeMessageNode:
    id: str
    prompt: str
    next: str
    slot: str = "message"
    notify: str | None = None
    text: str | None = None
    end_silence_s: float = 3.0
    max_parts: int = 10
    timeout_s: float = 5.0
    reprompt: str | None = None
    no_input_prompt: str | None = None
    max_retries: int = 1
    no_input_s: float = 10.0
    on_fail: str | None = None
    interruptible: bool = True


Node = (
    SayNode
    | AskNode
    | BranchNode
    | IntentNode
    | HangupNode
    | TransferNode
    | LlmNode
    | KnowledgeNode
    | WebhookNode
    | TakeMessageNode
)
#: Nodes that wait for the caller (and share prompt, reprompt, retries and ``on_fail``).
Listening = AskNode | KnowledgeNode | TakeMessageNode

_KINDS: dict[str, type[Node]] = {
    "say": SayNode,
    "ask": AskNode,
    "branch": BranchNode,
    "intent": IntentNode,
    "hangup": HangupNode,
    "transfer": TransferNode,
    "llm": LlmNode,
    "knowledge": KnowledgeNode,
    "webhook": WebhookNode,
    "take_message": TakeMessageNode,
}
_RENAMED = {"min": "min_value", "max": "max_value"}
_EDITOR_ONLY = ("kind", "label", "ui")


@dataclass(frozen=True, slots=True)
class Flow:
    """A validated flow. ``definition`` is the JSON document it was loaded from."""

    start: str
    nodes: Mapping[str, Node]
    version: int = 1
    name: str | None = None
    language: str | None = None
    definition: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]

    @property
    def needs_llm(self) -> bool:
        """Whether a node of this flow uses the LLM (``llm`` and ``intent`` nodes)."""
        return any(isinstance(n, LlmNode | IntentNode) for n in self.nodes.values())


@cache
def flow_schema() -> dict[str, Any]:
    """The flow JSON Schema (a fresh parse is cached; do not mutate it)."""
    text = resources.files("callwright.dialog").joinpath("flow_schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> Any:
    return Draft202012Validator(flow_schema())


def _parse_source(source: str | bytes | Mapping[str, Any]) -> Any:
    if isinstance(source, str | bytes):
        try:
            return json.loads(source)
        except (ValueError, UnicodeDecodeError) as exc:
            raise FlowError(f"the flow is not valid JSON: {exc}") from exc
    return source


def validate_flow(
    source: str | bytes | Mapping[str, Any], *, llm_available: bool | None = None
) -> list[FlowError]:
    """Every problem of a flow definition, schema and semantic; empty when the flow is valid.

    ``llm_available=False`` refuses ``llm`` and ``intent`` nodes (the assistant has no LLM);
    None skips that check.
    """
    try:
        doc = _parse_source(source)
    except FlowError as exc:
        return [exc]
    return _problems(doc, llm_available)[0]


def load_flow(
    source: str | bytes | Mapping[str, Any], *, llm_available: bool | None = None
) -> Flow:
    """Parse and validate a flow (a JSON string or an already-parsed object).

    Raises the first :class:`FlowError` found when the flow is invalid.
    """
    doc = _parse_source(source)
    errors, flow = _problems(doc, llm_available)
    if errors or flow is None:
        raise errors[0] if errors else FlowError("the flow could not be loaded")
    return flow


def _problems(doc: Any, llm_available: bool | None) -> tuple[list[FlowError], Flow | None]:
    from callwright.dialog.flow_checks import schema_errors, semantic_errors

    errors = schema_errors(_validator(), doc)
    if not isinstance(doc, Mapping) or not isinstance(doc.get("nodes"), Mapping):
        return errors, None
    bad_nodes = {e.node for e in errors if e.node is not None}
    nodes: dict[str, Node] = {}
    for node_id, raw in doc["nodes"].items():
        if node_id not in bad_nodes and isinstance(raw, Mapping):
            nodes[node_id] = _build_node(node_id, raw)
    start = doc.get("start")
    flow = Flow(
        start=start if isinstance(start, str) else "",
        nodes=nodes,
        version=1,
        name=doc.get("name"),
        language=doc.get("language"),
        definition=doc,
    )
    errors += semantic_errors(
        flow, all_ids=set(doc["nodes"]), complete=not errors, llm_available=llm_available
    )
    return errors, (None if errors else flow)


def _case(raw: Mapping[str, Any]) -> BranchCase:
    values: tuple[SlotValue, ...] | None = None
    if "equals" in raw:
        values = (raw["equals"],)
    if "one_of" in raw:
        values = (values or ()) + tuple(raw["one_of"])
    bounds: Mapping[str, Any] = raw.get("range", {})
    return BranchCase(
        raw["next"],
        values,
        tuple(raw.get("keywords", ())),
        bounds.get("min"),
        bounds.get("max"),
        "range" in raw,
    )


def _value(key: str, value: Any) -> Any:
    if key == "choices":
        return tuple(Choice(c["value"], tuple(c["phrases"]), c.get("dtmf")) for c in value)
    if key == "cases":
        return tuple(_case(c) for c in value)
    if key == "intents":
        return tuple(IntentOption(i["label"], i["next"], i.get("description")) for i in value)
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, Mapping):
        return dict(value)
    if key.endswith("_s") or key == "min_score":
        return float(value)
    return value


def _build_node(node_id: str, raw: Mapping[str, Any]) -> Node:
    cls = _KINDS[raw["kind"]]
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs = {
        _RENAMED.get(key, key): _value(key, value)
        for key, value in raw.items()
        if key not in _EDITOR_ONLY and _RENAMED.get(key, key) in known
    }
    return cls(id=node_id, **kwargs)
