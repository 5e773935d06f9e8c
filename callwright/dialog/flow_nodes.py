"""What the flow engine's nodes need beyond the graph: the services they call, and the pure rules
for branches, templates and webhook payloads (keypad entries are
:mod:`callwright.dialog.flow_answers`).

The services are small protocols so that the call wiring can plug in the real ones:

* :class:`FaqAnswerer` for ``knowledge`` nodes (the knowledge search);
* :class:`WebhookCaller` for ``webhook`` nodes and ``take_message`` notifications;
* :class:`IntentClassifier` for ``intent`` nodes (one short LLM request);
* :class:`FlowLlm` for ``llm`` nodes (the :class:`~callwright.dialog.llm_engine.LlmEngine`), and
  :class:`FinishingLlm`, the hook that lets a bounded ``llm`` node end with ``finish(result)``.

:class:`NodeServices` calls them with time limits and turns their failures into None, which the
engine routes (``on_miss``, ``on_error``, ``default``). Everything else here is pure.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from callwright.dialog.actions import CallContext, CallerTurn, DialogAction
from callwright.dialog.flow import (
    BranchCase,
    BranchNode,
    IntentNode,
    KnowledgeNode,
    SlotValue,
    WebhookNode,
)
from callwright.dialog.matching import contains_keywords, normalise

__all__ = [
    "FaqAnswerer",
    "FinishingLlm",
    "FlowLlm",
    "IntentClassifier",
    "NodeServices",
    "WebhookCaller",
    "branch_target",
    "fill",
    "reply_slots",
    "webhook_payload",
]

log = logging.getLogger(__name__)

#: Guard on an intent classification, on top of the classifier's own timeout.
INTENT_TIMEOUT_S = 10.0


class FaqAnswerer(Protocol):
    """Finds the best FAQ answer to a question (the knowledge search plugs in here)."""

    async def best_faq_answer(self, query: str, min_score: float) -> tuple[str, float] | None:
        """``(answer, score)`` of the best answer scoring at least ``min_score``, or None."""
        ...


class WebhookCaller(Protocol):
    """Calls one of the assistant's named webhooks and returns its JSON reply."""

    async def call(
        self, name: str, payload: Mapping[str, Any], timeout_s: float
    ) -> Mapping[str, Any]:
        """Raise any ``Exception`` (``CallwrightError`` preferred) when the call fails."""
        ...


class IntentClassifier(Protocol):
    """Classifies an utterance into one of a few labels (one short, non-streamed LLM request)."""

    async def classify(
        self, text: str, labels: Mapping[str, str | None], *, instructions: str | None = None
    ) -> str | None:
        """One of ``labels`` (label → description), or None when none fits."""
        ...


class FlowLlm(Protocol):
    """The LLM engine as a flow's ``llm`` node uses it (``LlmEngine`` satisfies this)."""

    def enter(
        self,
        ctx: CallContext,
        *,
        goal: str | None,
        transcript: Sequence[tuple[str, str]] = (),
        respond: bool = True,
    ) -> AsyncGenerator[DialogAction, None]: ...

    def on_caller_turn(self, turn: CallerTurn) -> AsyncGenerator[DialogAction, None]: ...

    def on_no_input(self) -> AsyncGenerator[DialogAction, None]: ...

    def on_interrupted(self, heard: str) -> None: ...

    @property
    def ended(self) -> bool: ...


@runtime_checkable
class FinishingLlm(Protocol):
    """The hook for bounded ``llm`` nodes: a ``finish(result)`` tool the model calls when done.

    ``offer_finish(when)`` adds the tool (described by ``when``) to the next requests, or removes
    it with None. When the model calls it, the engine answers the tool call, ends its reply
    without a ``Listen`` and keeps the result for ``take_finish()``, which returns it once.
    """

    def offer_finish(self, when: str | None) -> None: ...

    def take_finish(self) -> str | None: ...


# --- templates ---------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _spoken(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d", value):
        return value.replace("T", " ")  # a date-time slot, spoken as date and time
    return "" if value is None else str(value)


def fill(text: str, values: Mapping[str, object]) -> str:
    """``text`` with ``{name}`` replaced by ``values[name]``; an unknown name leaves nothing
    (the spaces around it are tidied); ``{{`` and ``}}`` are literal braces. Never raises."""

    def one(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return match.group()[0]
        return _spoken(values.get(match.group(1)))

    filled = _PLACEHOLDER.sub(one, text)
    if filled == text:
        return text
    return re.sub(r" +([,.!?])", r"\1", re.sub(r"  +", " ", filled)).strip()


# --- branches ----------------------------------------------------------------------------------


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _same(value: object, candidate: SlotValue) -> bool:
    if isinstance(value, bool) or isinstance(candidate, bool):
        return value is candidate
    if isinstance(value, str) and isinstance(candidate, str):
        return normalise(value) == normalise(candidate)
    a, b = _number(value), _number(candidate)
    return a is not None and a == b


def _in_range(value: object, case: BranchCase) -> bool:
    for bound, below in ((case.low, True), (case.high, False)):
        if bound is None:
            continue
        if isinstance(bound, str):
            if not isinstance(value, str) or (value < bound if below else value > bound):
                return False
        else:
            number = _number(value)
            if number is None or (number < bound if below else number > bound):
                return False
    return True


def _holds(case: BranchCase, value: object, utterance: str) -> bool:
    if case.values is not None and not any(_same(value, c) for c in case.values):
        return False
    if case.has_range and not _in_range(value, case):
        return False
    return not case.keywords or contains_keywords(utterance, case.keywords)


def branch_target(node: BranchNode, slots: Mapping[str, object], utterance: str) -> str:
    """The ``next`` of the first case of ``node`` that holds, else its ``default``."""
    value = slots.get(node.slot) if node.slot is not None else None
    return next((c.next for c in node.cases if _holds(c, value, utterance)), node.default)


# --- webhooks ----------------------------------------------------------------------------------


def webhook_payload(node_id: str, ctx: CallContext, slots: Mapping[str, Any]) -> dict[str, Any]:
    """What a flow sends to a webhook: the call's facts and the chosen ``slots``."""
    return {
        "call_uid": ctx.call_uid,
        "caller_number": ctx.caller_number,
        "dialed": ctx.dialed,
        "node": node_id,
        "slots": dict(slots),
    }


def reply_slots(node: WebhookNode, reply: Mapping[str, Any]) -> dict[str, Any]:
    """The slots a webhook reply fills, per ``node.results`` (dotted paths; a missing field is
    left out)."""
    out: dict[str, Any] = {}
    for slot, path in node.results.items():
        value: Any = reply
        for part in path.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if value is not None:
            out[slot] = value
    return out


# --- calling the services ----------------------------------------------------------------------


class NodeServices:
    """The outside services of a flow's nodes, called with time limits; a failure is logged and
    gives None. A webhook call cut by barge-in goes on, and is awaited (not repeated) on resume."""

    def __init__(
        self,
        *,
        classifier: IntentClassifier | None = None,
        faq: FaqAnswerer | None = None,
        webhooks: WebhookCaller | None = None,
    ) -> None:
        self.classifier = classifier
        self.faq = faq
        self.webhooks = webhooks
        self._calls: dict[str, asyncio.Future[Mapping[str, Any]]] = {}

    async def answer(self, node: KnowledgeNode, question: str) -> str | None:
        """The FAQ answer to ``question`` scoring at least ``node.min_score``, or None."""
        if not question.strip() or self.faq is None:
            return None
        try:
            async with asyncio.timeout(node.timeout_s):
                found = await self.faq.best_faq_answer(question, node.min_score)
        except Exception as exc:  # the knowledge search failing is a miss, not a crash
            log.warning("knowledge lookup at node %r failed: %r", node.id, exc)
            return None
        return found[0] if found is not None and found[1] >= node.min_score else None

    async def classify(self, node: IntentNode, text: str) -> str | None:
        """The label of ``node.intents`` that ``text`` means, or None."""
        if not text.strip() or self.classifier is None:
            if self.classifier is None:
                log.warning("intent node %r needs an LLM but none is configured", node.id)
            return None
        labels = {o.label: o.description for o in node.intents}
        try:
            async with asyncio.timeout(INTENT_TIMEOUT_S):
                said = await self.classifier.classify(text, labels, instructions=node.instructions)
        except Exception as exc:  # a failed classification takes the default route
            log.warning("intent classification at node %r failed: %r", node.id, exc)
            return None
        folded = (said or "").strip().casefold()
        return next((o.label for o in node.intents if o.label.casefold() == folded), None)

    def calling(self, key: str) -> bool:
        """Whether a webhook call made under ``key`` is still under way (cut by barge-in)."""
        return key in self._calls

    async def call(
        self, key: str, name: str, payload: Mapping[str, Any], timeout_s: float
    ) -> Mapping[str, Any] | None:
        """Webhook ``name``'s reply (a non-object reply counts as ``{}``), or None on failure."""
        webhooks = self.webhooks
        if webhooks is None:
            log.warning("webhook %r: no webhooks are configured", name)
            return None
        future = self._calls.get(key)
        if future is None:

            async def call() -> Mapping[str, Any]:
                async with asyncio.timeout(timeout_s + 1.0):
                    return await webhooks.call(name, payload, timeout_s)

            future = self._calls[key] = asyncio.ensure_future(call())
        try:
            reply = await asyncio.shield(future)
        except Exception as exc:  # any failure of the outside service is routed, not raised
            log.warning("webhook %r failed: %r", name, exc)
            return None
        finally:
            if future.done():
                self._calls.pop(key, None)
        return reply if isinstance(reply, Mapping) else {}
