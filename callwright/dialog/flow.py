"""Dialog flow definitions: the model, loading and validation.

A flow is a JSON document checked against ``flow_schema.json`` (JSON Schema 2020-12), then by
semantic checks: ``start`` exists, every node reference points to an existing node, choices are
distinct, routes name real answers, branch slots are set by an ``ask`` before them, every node is
reachable from ``start``, a hang-up or transfer is reachable, and no node is without a way out.

``validate_flow`` returns every problem at once (for an editor); ``load_flow`` raises the first.
Each problem is a :class:`~callwright.errors.FlowError` naming the node id and the field (``field``
is ``"id"`` when the problem is the node as a whole, ``node`` is None for top-level fields).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any, Literal

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from callwright.dialog.matching import Choice, normalise
from callwright.errors import FlowError

__all__ = [
    "AskNode",
    "BranchCase",
    "BranchNode",
    "Flow",
    "HangupNode",
    "LlmNode",
    "Node",
    "SayNode",
    "TransferNode",
    "flow_schema",
    "load_flow",
    "validate_flow",
]

AnswerType = Literal["choice", "yes_no", "free_text"]
SlotValue = str | int | float | bool


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

    def target_for(self, value: str) -> str | None:
        """The node an answer leads to: its route, else ``next``."""
        return self.routes.get(value, self.next)


@dataclass(frozen=True, slots=True)
class BranchCase:
    next: str
    values: tuple[SlotValue, ...] | None = None  # from `equals` or `one_of`
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BranchNode:
    id: str
    cases: tuple[BranchCase, ...]
    default: str
    slot: str | None = None


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


@dataclass(frozen=True, slots=True)
class LlmNode:
    id: str
    goal: str
    text: str | None = None


Node = SayNode | AskNode | BranchNode | HangupNode | TransferNode | LlmNode


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


def validate_flow(source: str | bytes | Mapping[str, Any]) -> list[FlowError]:
    """Every problem of a flow definition, schema and semantic; empty when the flow is valid."""
    try:
        doc = _parse_source(source)
    except FlowError as exc:
        return [exc]
    return _problems(doc)[0]


def load_flow(source: str | bytes | Mapping[str, Any]) -> Flow:
    """Parse and validate a flow (a JSON string or an already-parsed object).

    Raises the first :class:`FlowError` found when the flow is invalid.
    """
    doc = _parse_source(source)
    errors, flow = _problems(doc)
    if errors or flow is None:
        raise errors[0] if errors else FlowError("the flow could not be loaded")
    return flow


def _problems(doc: Any) -> tuple[list[FlowError], Flow | None]:
    schema_errors = [f for e in _validator().iter_errors(doc) for f in _from_schema_error(e)]
    schema_errors.sort(key=lambda e: (e.node or "", e.field or ""))
    if not isinstance(doc, Mapping) or not isinstance(doc.get("nodes"), Mapping):
        return schema_errors, None
    bad_nodes = {e.node for e in schema_errors if e.node is not None}
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
    semantic = _semantic_errors(flow, all_ids=set(doc["nodes"]), complete=not schema_errors)
    errors = schema_errors + semantic
    return errors, (None if errors else flow)


def _field_path(parts: list[Any]) -> str | None:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or None


def _join(base: str | None, name: str) -> str:
    return f"{base}.{name}" if base else name


def _from_schema_error(err: Any) -> list[FlowError]:
    """One schema error as FlowErrors: one per missing or unknown field, else one."""
    path = list(err.absolute_path)
    node: str | None = None
    rest = path
    if len(path) >= 2 and path[0] == "nodes":
        node = str(path[1])
        rest = path[2:]
    base = _field_path(rest)
    if path == ["nodes"] and "propertyNames" in err.relative_schema_path:
        return [FlowError(f"invalid node id {err.instance!r}", str(err.instance), "id")]
    if err.validator == "required" and isinstance(err.instance, Mapping):
        missing = [p for p in err.validator_value if p not in err.instance]
        return [FlowError(f"missing required field {m!r}", node, _join(base, m)) for m in missing]
    if err.validator == "additionalProperties" and isinstance(err.instance, Mapping):
        allowed = set(err.schema.get("properties", {}))
        extra = sorted(str(k) for k in err.instance if k not in allowed)
        return [FlowError(f"unknown field {x!r}", node, _join(base, x)) for x in extra]
    message: str = err.message
    if err.validator == "enum" and rest == ["kind"]:
        message = (
            f"unknown kind {err.instance!r} (expected one of {', '.join(err.validator_value)})"
        )
    elif err.validator == "minItems" and err.validator_value == 1:
        message = "must not be empty"
    return [FlowError(message, node=node, field=base)]


def _opt_text(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return value if isinstance(value, str) else None


def _build_node(node_id: str, raw: Mapping[str, Any]) -> Node:
    kind = raw["kind"]
    if kind == "say":
        return SayNode(node_id, raw["text"], raw["next"], raw.get("interruptible", True))
    if kind == "ask":
        choices = tuple(
            Choice(c["value"], tuple(c["phrases"]), c.get("dtmf")) for c in raw.get("choices", ())
        )
        return AskNode(
            id=node_id,
            slot=raw["slot"],
            answer=raw["answer"],
            prompt=_opt_text(raw, "prompt"),
            choices=choices,
            reprompt=_opt_text(raw, "reprompt"),
            no_input_prompt=_opt_text(raw, "no_input_prompt"),
            max_retries=raw.get("max_retries", 2),
            no_input_s=float(raw.get("no_input_s", 8.0)),
            routes=dict(raw.get("routes", {})),
            next=_opt_text(raw, "next"),
            on_fail=_opt_text(raw, "on_fail"),
            interruptible=raw.get("interruptible", True),
        )
    if kind == "branch":
        cases = []
        for case in raw["cases"]:
            values: tuple[SlotValue, ...] | None = None
            if "equals" in case:
                values = (case["equals"],)
            if "one_of" in case:
                values = (values or ()) + tuple(case["one_of"])
            cases.append(BranchCase(case["next"], values, tuple(case.get("keywords", ()))))
        return BranchNode(node_id, tuple(cases), raw["default"], _opt_text(raw, "slot"))
    if kind == "hangup":
        return HangupNode(node_id, _opt_text(raw, "text"), raw.get("reason", "flow_hangup"))
    if kind == "transfer":
        return TransferNode(
            node_id, raw["target"], _opt_text(raw, "text"), raw.get("reason", "flow_transfer")
        )
    return LlmNode(node_id, raw["goal"], _opt_text(raw, "text"))


# --- semantic checks ---------------------------------------------------------------------------

_TERMINAL = (HangupNode, TransferNode, LlmNode)


def _edges(node: Node) -> Iterator[tuple[str, str]]:
    """(field, target id) for every node reference of ``node``."""
    if isinstance(node, SayNode):
        yield "next", node.next
    elif isinstance(node, AskNode):
        for value, target in node.routes.items():
            yield f"routes.{value}", target
        if node.next is not None:
            yield "next", node.next
        if node.on_fail is not None:
            yield "on_fail", node.on_fail
    elif isinstance(node, BranchNode):
        for i, case in enumerate(node.cases):
            yield f"cases[{i}].next", case.next
        yield "default", node.default


def _main_field(node: Node) -> str:
    return "default" if isinstance(node, BranchNode) else "next"


def _check_ask(node: AskNode) -> Iterator[FlowError]:
    nid = node.id
    if node.answer == "choice":
        seen_values: set[str] = set()
        seen_keys: set[str] = set()
        for i, choice in enumerate(node.choices):
            if choice.value in seen_values:
                yield FlowError(
                    f"duplicate choice value {choice.value!r}", nid, f"choices[{i}].value"
                )
            seen_values.add(choice.value)
            if choice.dtmf is not None:
                if choice.dtmf in seen_keys:
                    yield FlowError(
                        f"duplicate dtmf key {choice.dtmf!r}", nid, f"choices[{i}].dtmf"
                    )
                seen_keys.add(choice.dtmf)
            for j, phrase in enumerate(choice.phrases):
                if not normalise(phrase):
                    yield FlowError("phrase has no words", nid, f"choices[{i}].phrases[{j}]")
        answers = seen_values
    elif node.answer == "yes_no":
        answers = {"yes", "no"}
        if node.choices:
            yield FlowError("choices are only for answer 'choice'", nid, "choices")
    else:
        answers = set()
        if node.choices:
            yield FlowError("choices are only for answer 'choice'", nid, "choices")
    for value in node.routes:
        if value not in answers:
            expected = ", ".join(sorted(answers)) or "none: use next"
            yield FlowError(
                f"route {value!r} is not an answer ({expected})", nid, f"routes.{value}"
            )
    if node.next is None and (not answers or not answers <= set(node.routes)):
        unrouted = sorted(answers - set(node.routes)) or ["any answer"]
        yield FlowError(f"no next node for {', '.join(unrouted)}", nid, "next")


def _semantic_errors(flow: Flow, *, all_ids: set[str], complete: bool) -> list[FlowError]:
    errors: list[FlowError] = []
    if flow.start not in all_ids:
        errors.append(FlowError(f"start node {flow.start!r} does not exist", flow.start, "start"))
    for node in flow.nodes.values():
        for field_name, target in _edges(node):
            if target not in all_ids:
                errors.append(
                    FlowError(f"{target!r} is not a node of this flow", node.id, field_name)
                )
        if isinstance(node, AskNode):
            errors.extend(_check_ask(node))
        if isinstance(node, BranchNode) and node.slot is None:
            for i, case in enumerate(node.cases):
                if case.values is not None:
                    errors.append(
                        FlowError(
                            "case tests a slot but the node has no slot", node.id, f"cases[{i}]"
                        )
                    )
    if errors or not complete:
        return errors
    return _graph_errors(flow)


def _reach(start: set[str], edges: Mapping[str, set[str]]) -> set[str]:
    seen = set(start)
    todo = list(start)
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _graph_errors(flow: Flow) -> list[FlowError]:
    errors: list[FlowError] = []
    forward: dict[str, set[str]] = {nid: {t for _, t in _edges(n)} for nid, n in flow.nodes.items()}
    backward: dict[str, set[str]] = {nid: set() for nid in flow.nodes}
    for nid, targets in forward.items():
        for target in targets:
            backward[target].add(nid)
    reachable = _reach({flow.start}, forward)
    for nid in flow.nodes:
        if nid not in reachable:
            errors.append(FlowError(f"not reachable from start {flow.start!r}", nid, "id"))
    if not any(isinstance(flow.nodes[n], _TERMINAL) for n in reachable):
        errors.append(
            FlowError("no hangup, transfer or llm node is reachable", flow.start, "start")
        )
    exits = {
        nid
        for nid, node in flow.nodes.items()
        if isinstance(node, _TERMINAL) or (isinstance(node, AskNode) and node.on_fail is None)
    }
    can_exit = _reach(exits, backward)
    for nid in sorted(reachable - can_exit):
        node = flow.nodes[nid]
        errors.append(
            FlowError("no way out: every path from here loops forever", nid, _main_field(node))
        )
    errors.extend(_busy_loops(flow, forward, reachable))
    for nid in sorted(reachable):
        node = flow.nodes[nid]
        if isinstance(node, BranchNode) and node.slot is not None:
            before = _reach({nid}, backward) - {nid}
            setters = [flow.nodes[b] for b in before]
            if not any(isinstance(s, AskNode) and s.slot == node.slot for s in setters):
                errors.append(
                    FlowError(
                        f"slot {node.slot!r} is not set by any ask before this node", nid, "slot"
                    )
                )
    return errors


def _busy_loops(
    flow: Flow, forward: Mapping[str, set[str]], reachable: set[str]
) -> list[FlowError]:
    """Cycles of say/branch nodes only: the engine would loop without ever waiting."""
    busy = {n for n in reachable if isinstance(flow.nodes[n], SayNode | BranchNode)}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    errors: list[FlowError] = []
    for root in sorted(busy):
        if root in state:
            continue
        stack: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(forward[root] & busy)))]
        state[root] = 1
        while stack:
            nid, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[nid] = 2
                stack.pop()
            elif state.get(child) == 1:
                errors.append(
                    FlowError(
                        f"loops back to {child!r} without waiting for the caller",
                        nid,
                        _main_field(flow.nodes[nid]),
                    )
                )
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(sorted(forward[child] & busy))))
    return errors
