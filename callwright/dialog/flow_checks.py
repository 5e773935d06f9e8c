"""The checks behind :func:`~callwright.dialog.flow.validate_flow`.

Schema errors are translated so that each names the node and the field; then semantic checks:
every node reference points to an existing node; choices, keys and intent labels are distinct;
routes name real answers; fields fit the node's answer type; ranges are ordered; slots are set by
an earlier node before a branch, a knowledge node or a webhook reads them; every node is reachable
from ``start``; a hang-up, transfer or llm node is reachable; no node is without a way out; no loop
runs without waiting for the caller; and, when the assistant has no LLM, no node needs one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from callwright.dialog.flow import (
    AskNode,
    BranchNode,
    Flow,
    HangupNode,
    IntentNode,
    KnowledgeNode,
    LlmNode,
    Node,
    SayNode,
    TakeMessageNode,
    TransferNode,
    WebhookNode,
)
from callwright.dialog.matching import normalise
from callwright.errors import FlowError

__all__ = ["edges", "schema_errors", "semantic_errors"]

_TERMINAL = (HangupNode, TransferNode, LlmNode)


# --- schema errors -----------------------------------------------------------------------------


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
        expected = ", ".join(err.validator_value)
        message = f"unknown kind {err.instance!r} (expected one of {expected})"
    elif err.validator == "minItems" and err.validator_value == 1:
        message = "must not be empty"
    elif err.validator == "anyOf" and rest and "cases" in rest:
        message = "a case needs a test: equals, one_of, range or keywords"
    return [FlowError(message, node=node, field=base)]


def schema_errors(validator: Any, doc: Any) -> list[FlowError]:
    """The schema problems of ``doc``, sorted by node and field."""
    errors = [f for e in validator.iter_errors(doc) for f in _from_schema_error(e)]
    errors.sort(key=lambda e: (e.node or "", e.field or ""))
    return errors


# --- the graph ---------------------------------------------------------------------------------


def edges(node: Node) -> Iterator[tuple[str, str]]:
    """(field, target id) for every node reference of ``node``."""
    if isinstance(node, AskNode):
        for value, target in node.routes.items():
            yield f"routes.{value}", target
    elif isinstance(node, BranchNode):
        for i, case in enumerate(node.cases):
            yield f"cases[{i}].next", case.next
    elif isinstance(node, IntentNode):
        for i, option in enumerate(node.intents):
            yield f"intents[{i}].next", option.next
    for name in ("next", "default", "on_fail", "on_miss", "on_error", "on_max_turns"):
        reference = getattr(node, name, None)
        if isinstance(reference, str):
            yield name, reference


def _main_field(node: Node) -> str:
    if isinstance(node, BranchNode | IntentNode):
        return "default"
    return "on_fail" if isinstance(node, TransferNode) else "next"


def _waits(node: Node) -> bool:
    """Whether the engine waits for the caller (or the PBX) at this node."""
    if isinstance(node, KnowledgeNode):
        return node.listen
    return not isinstance(node, SayNode | BranchNode | IntentNode | WebhookNode)


def _can_end(node: Node) -> bool:
    """Whether the call may end at this node (explicitly, or by a polite goodbye)."""
    if isinstance(node, AskNode | TakeMessageNode) or (
        isinstance(node, KnowledgeNode) and node.listen
    ):
        return node.on_fail is None
    if isinstance(node, WebhookNode):
        return node.on_error is None
    return isinstance(node, _TERMINAL)


def _slots_set(node: Node) -> set[str]:
    if isinstance(node, AskNode | IntentNode | TakeMessageNode):
        return {node.slot}
    if isinstance(node, LlmNode):
        return {node.slot} if node.next is not None else set()
    if isinstance(node, KnowledgeNode):
        return ({node.slot} if node.listen else set()) | (
            {node.answer_slot} if node.answer_slot else set()
        )
    if isinstance(node, WebhookNode):
        return set(node.results)
    return set()


def _slots_read(node: Node) -> Iterator[tuple[str, str]]:
    """(field, slot) for every slot ``node`` reads."""
    if isinstance(node, BranchNode) and node.slot is not None:
        yield "slot", node.slot
    elif isinstance(node, IntentNode) and node.text_slot is not None:
        yield "text_slot", node.text_slot
    elif isinstance(node, KnowledgeNode) and not node.listen:
        yield "slot", node.slot
    elif isinstance(node, WebhookNode):
        for i, name in enumerate(node.send):
            yield f"send[{i}]", name


def _reach(start: set[str], graph: Mapping[str, set[str]]) -> set[str]:
    seen = set(start)
    todo = list(start)
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _graph_errors(flow: Flow) -> list[FlowError]:
    errors: list[FlowError] = []
    forward = {nid: {t for _, t in edges(n)} for nid, n in flow.nodes.items()}
    backward: dict[str, set[str]] = {nid: set() for nid in flow.nodes}
    for nid, targets in forward.items():
        for target in targets:
            backward[target].add(nid)
    reachable = _reach({flow.start}, forward)
    for nid in flow.nodes:
        if nid not in reachable:
            errors.append(FlowError(f"not reachable from start {flow.start!r}", nid, "id"))
    if not any(isinstance(flow.nodes[n], _TERMINAL) for n in reachable):
        message = "no hangup, transfer or llm node is reachable"
        errors.append(FlowError(message, flow.start, "start"))
    can_exit = _reach({nid for nid, n in flow.nodes.items() if _can_end(n)}, backward)
    for nid in sorted(reachable - can_exit):
        message = "no way out: every path from here loops forever"
        errors.append(FlowError(message, nid, _main_field(flow.nodes[nid])))
    errors.extend(_busy_loops(flow, forward, reachable))
    for nid in sorted(reachable):
        before = _reach({nid}, backward) - {nid}
        set_before = {s for b in before for s in _slots_set(flow.nodes[b])}
        for field_name, slot in _slots_read(flow.nodes[nid]):
            if slot not in set_before:
                message = f"slot {slot!r} is not set by any node before this one"
                errors.append(FlowError(message, nid, field_name))
    return errors


def _busy_loops(
    flow: Flow, forward: Mapping[str, set[str]], reachable: set[str]
) -> list[FlowError]:
    """Cycles of nodes that do not wait: the engine would loop without ever waiting."""
    busy = {n for n in reachable if not _waits(flow.nodes[n])}
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
                message = f"loops back to {child!r} without waiting for the caller"
                errors.append(FlowError(message, nid, _main_field(flow.nodes[nid])))
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(sorted(forward[child] & busy))))
    return errors


# --- node by node ------------------------------------------------------------------------------


def _check_choices(node: AskNode) -> Iterator[FlowError]:
    seen_values: set[str] = set()
    keys: list[str] = []
    for i, choice in enumerate(node.choices):
        if choice.value in seen_values:
            message = f"duplicate choice value {choice.value!r}"
            yield FlowError(message, node.id, f"choices[{i}].value")
        seen_values.add(choice.value)
        if choice.dtmf is not None:
            clash = [k for k in keys if k.startswith(choice.dtmf) or choice.dtmf.startswith(k)]
            if clash:
                message = f"dtmf key {choice.dtmf!r} clashes with {clash[0]!r}"
                yield FlowError(message, node.id, f"choices[{i}].dtmf")
            keys.append(choice.dtmf)
        for j, phrase in enumerate(choice.phrases):
            if not normalise(phrase):
                yield FlowError("phrase has no words", node.id, f"choices[{i}].phrases[{j}]")


_ANSWER_FIELDS = {
    "choices": ("choices", ("choice",)),
    "min_value": ("min", ("number",)),
    "max_value": ("max", ("number",)),
    "length": ("length", ("digits",)),
    "min_length": ("min_length", ("digits",)),
    "max_length": ("max_length", ("digits",)),
}


def _check_ask(node: AskNode) -> Iterator[FlowError]:
    nid = node.id
    for attr, (name, kinds) in _ANSWER_FIELDS.items():
        if getattr(node, attr) not in (None, ()) and node.answer not in kinds:
            yield FlowError(f"{name} is only for answer {kinds[0]!r}", nid, name)
    if node.min_value is not None and node.max_value is not None:
        if node.min_value > node.max_value:
            yield FlowError("max is smaller than min", nid, "max")
    if node.length is not None and (node.min_length or node.max_length):
        yield FlowError("use either length or min_length/max_length", nid, "length")
    if node.min_length and node.max_length and node.min_length > node.max_length:
        yield FlowError("max_length is smaller than min_length", nid, "max_length")
    answers: set[str] = set()
    if node.answer == "choice":
        yield from _check_choices(node)
        answers = {c.value for c in node.choices}
    elif node.answer == "yes_no":
        answers = {"yes", "no"}
    for value in node.routes:
        if value not in answers:
            expected = ", ".join(sorted(answers)) or "none: use next"
            message = f"route {value!r} is not an answer ({expected})"
            yield FlowError(message, nid, f"routes.{value}")
    if node.next is None and (not answers or not answers <= set(node.routes)):
        unrouted = sorted(answers - set(node.routes)) or ["any answer"]
        yield FlowError(f"no next node for {', '.join(unrouted)}", nid, "next")


def _check_node(node: Node, llm_available: bool | None) -> Iterator[FlowError]:
    nid = node.id
    if isinstance(node, AskNode):
        yield from _check_ask(node)
    elif isinstance(node, BranchNode):
        for i, case in enumerate(node.cases):
            if case.tests_slot and node.slot is None:
                yield FlowError("case tests a slot but the node has no slot", nid, f"cases[{i}]")
            low, high = case.low, case.high
            if low is not None and high is not None:
                if isinstance(low, str) != isinstance(high, str):
                    message = "min and max must both be numbers or both text"
                    yield FlowError(message, nid, f"cases[{i}].range")
                elif low > high:  # type: ignore[operator]
                    yield FlowError("max is smaller than min", nid, f"cases[{i}].range.max")
    elif isinstance(node, IntentNode):
        seen: set[str] = set()
        for i, option in enumerate(node.intents):
            if option.label.casefold() in seen:
                yield FlowError(f"duplicate label {option.label!r}", nid, f"intents[{i}].label")
            seen.add(option.label.casefold())
    elif isinstance(node, LlmNode) and node.next is None:
        for name in ("exit_when", "max_turns", "on_max_turns"):
            if getattr(node, name) is not None:
                yield FlowError(f"{name} is only for an llm node with next", nid, name)
    elif isinstance(node, LlmNode) and node.on_max_turns is not None and node.max_turns is None:
        yield FlowError("on_max_turns needs max_turns", nid, "on_max_turns")
    elif isinstance(node, KnowledgeNode) and not node.listen:
        for name in ("prompt", "reprompt", "no_input_prompt", "on_fail"):
            if getattr(node, name) is not None:
                yield FlowError(f"{name} is only for a knowledge node that listens", nid, name)
    if isinstance(node, LlmNode | IntentNode) and llm_available is False:
        kind = "llm" if isinstance(node, LlmNode) else "intent"
        yield FlowError(f"an {kind} node needs an LLM, and this assistant has none", nid, "kind")


def semantic_errors(
    flow: Flow, *, all_ids: set[str], complete: bool, llm_available: bool | None
) -> list[FlowError]:
    """The semantic problems of ``flow``; graph checks only when everything else is sound."""
    errors: list[FlowError] = []
    if flow.start not in all_ids:
        errors.append(FlowError(f"start node {flow.start!r} does not exist", flow.start, "start"))
    for node in flow.nodes.values():
        for field_name, target in edges(node):
            if target not in all_ids:
                message = f"{target!r} is not a node of this flow"
                errors.append(FlowError(message, node.id, field_name))
        errors.extend(_check_node(node, llm_available))
    if errors or not complete:
        return errors
    return _graph_errors(flow)
