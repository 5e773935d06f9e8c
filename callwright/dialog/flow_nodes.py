"""What the flow engine's nodes need beyond the graph: the services they call, and the pure rules
for answers, keypad entries, grammars, branches, templates and webhook payloads.

The services are small protocols so that the call wiring can plug in the real ones:

* :class:`FaqAnswerer` for ``knowledge`` nodes (the knowledge search);
* :class:`WebhookCaller` for ``webhook`` nodes and ``take_message`` notifications;
* :class:`IntentClassifier` for ``intent`` nodes (one short LLM request);
* :class:`FlowLlm` for ``llm`` nodes (the :class:`~callwright.dialog.llm_engine.LlmEngine`), and
  :class:`FinishingLlm`, the hook that lets a bounded ``llm`` node end with ``finish(result)``.

Everything else here is pure: no I/O, no clock of its own.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Mapping, Sequence
from datetime import date, datetime, time
from typing import Any, Protocol, runtime_checkable

from callwright.dialog.actions import CallContext, CallerTurn, DialogAction
from callwright.dialog.flow import AskNode, BranchCase, BranchNode, SlotValue, WebhookNode
from callwright.dialog.matching import (
    Choice,
    contains_keywords,
    digit_words,
    match_choice,
    match_dtmf,
    match_yes_no,
    normalise,
    number_words,
    yes_no_words,
)
from callwright.dialog.slot_parsers import (
    parse_date,
    parse_datetime,
    parse_digits,
    parse_number,
    parse_time,
)

__all__ = [
    "FaqAnswerer",
    "FinishingLlm",
    "FlowLlm",
    "IntentClassifier",
    "WebhookCaller",
    "branch_target",
    "fill",
    "grammar",
    "interpret",
    "interpret_keys",
    "press",
    "reply_slots",
    "webhook_payload",
]

#: Largest number range whose words are put in the recogniser's grammar.
MAX_GRAMMAR_NUMBERS = 100


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


# --- answers -----------------------------------------------------------------------------------


_KEYED_LENGTH = {"date": 8, "time": 4, "datetime": 12}


def _keys_of(ask: AskNode, language: str) -> list[str]:
    choices = _choices(ask, language)
    declared = any(c.dtmf for c in choices)
    return [(c.dtmf or "") if declared else str(i) for i, c in enumerate(choices, start=1)]


def press(ask: AskNode, keys: str, key: str, language: str) -> tuple[str, bool]:
    """One more keypad ``key`` in an entry of ``keys``: the new entry, and whether it is complete.

    ``#`` completes an entry and ``*`` starts it again (unless a choice declares them as keys); a
    choice is complete once no other key starts with the entry, a number once another digit
    would pass ``max``, digits at their (maximum) length, dates at 8 keys and times at 4.
    """
    closed = ask.answer in ("yes_no", "choice")
    if closed and any(k.startswith(keys + key) for k in _keys_of(ask, language)):
        keys += key
    elif key == "#":
        return keys, True
    elif key == "*" and not closed:
        return "", False
    else:
        keys += key
    if ask.answer == "free_text":
        return keys, True
    if closed:
        return keys, not any(k != keys and k.startswith(keys) for k in _keys_of(ask, language))
    if ask.answer == "number":
        top = ask.max_value
        return keys, len(keys) >= 9 or (top is not None and keys.isdigit() and int(keys) * 10 > top)
    if ask.answer == "digits":
        return keys, ask.keyed_max is not None and len(keys) >= ask.keyed_max
    return keys, len(keys) >= _KEYED_LENGTH[ask.answer]


def _keyed_date(keys: str, now: datetime) -> date | None:
    try:
        if len(keys) == 8:
            return date(int(keys[:4]), int(keys[4:6]), int(keys[6:]))
        found = date(now.year, int(keys[:2]), int(keys[2:]))
        return found.replace(year=now.year + 1) if found < now.date() else found
    except ValueError:
        return None


def _keyed_time(keys: str) -> time | None:
    hour, minute = int(keys[:-2] or "0"), int(keys[-2:])
    return time(hour, minute) if hour < 24 and minute < 60 else None


def interpret_keys(ask: AskNode, keys: str, language: str, now: datetime) -> SlotValue | None:
    """The slot value a complete keypad entry gives ``ask``, or None. Dates are keyed ``MMDD`` or
    ``YYYYMMDD``, times ``HHMM`` (24 h), date-times ``MMDDHHMM`` or ``YYYYMMDDHHMM``."""
    if not keys:
        return None
    if ask.answer == "free_text":
        return keys
    if ask.answer in ("yes_no", "choice"):
        found = match_dtmf(keys, _choices(ask, language))
        return found.value if found else None
    if not keys.isdigit():
        return None
    if ask.answer == "number":
        return int(keys) if _number_ok(ask, int(keys)) else None
    if ask.answer == "digits":
        return keys if _digits_ok(ask, keys) else None
    if ask.answer == "time" and len(keys) in (3, 4):
        return _iso(_keyed_time(keys))
    if ask.answer == "date" and len(keys) in (4, 8):
        return _iso(_keyed_date(keys, now))
    if ask.answer == "datetime" and len(keys) in (8, 12):
        day, at = _keyed_date(keys[:-4], now), _keyed_time(keys[-4:])
        return _iso(datetime.combine(day, at)) if day and at else None
    return None


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
