"""The flow dialog engine: walks a :class:`~callwright.dialog.flow.Flow`, one caller turn at a time.

``begin`` speaks the greeting and the first nodes up to the first question, and yields a
:class:`Listen` whose grammar is the question's phrases (for ``choice`` and ``yes_no`` answers) or
None (free text). ``on_caller_turn`` matches the answer (words or keypad digits), stores it in
``ctx.slots``, and walks on to the next question, hang-up or transfer. An answer that matches
nothing, or silence, repeats the question up to ``max_retries`` times, then goes to ``on_fail``, or
says a polite goodbye and hangs up. An ``llm`` node hands the rest of the call to the LLM engine.

No I/O here beyond what the LLM engine does for ``llm`` nodes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Literal

from callwright.dialog.actions import (
    CallContext,
    CallerTurn,
    DialogAction,
    Hangup,
    Listen,
    Say,
    Transfer,
)
from callwright.dialog.flow import (
    AskNode,
    BranchNode,
    Flow,
    HangupNode,
    LlmNode,
    SayNode,
    SlotValue,
    TransferNode,
)
from callwright.dialog.llm_engine import LlmEngine
from callwright.dialog.matching import (
    Match,
    base_language,
    contains_keywords,
    match_choice,
    match_dtmf,
    match_yes_no,
    normalise,
    yes_no_words,
)

__all__ = ["FlowEngine", "default_texts"]

log = logging.getLogger(__name__)

_DEFAULT_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "sorry": "Sorry, I didn't catch that.",
        "no_input": "Sorry, I didn't hear anything.",
        "goodbye": "Sorry, I couldn't help you this time. Goodbye.",
        "error": "Sorry, something went wrong. Goodbye.",
    },
    "ko": {
        "sorry": "죄송합니다, 잘 알아듣지 못했습니다.",
        "no_input": "죄송합니다, 말씀이 들리지 않았습니다.",
        "goodbye": "도와드리지 못해 죄송합니다. 안녕히 계세요.",
        "error": "죄송합니다, 문제가 발생했습니다. 안녕히 계세요.",
    },
}


def default_texts(language: str) -> dict[str, str]:
    """The engine's own phrases (apology, goodbye) in ``language``; English when unknown."""
    return _DEFAULT_TEXTS.get(base_language(language), _DEFAULT_TEXTS["en"])


Mode = Literal["idle", "flow", "llm", "ended"]


class FlowEngine:
    """A :class:`~callwright.dialog.actions.DialogEngine` that runs a dialog flow."""

    def __init__(self, flow: Flow, *, greeting: str | None = None, llm: LlmEngine | None = None):
        self.flow = flow
        self.greeting = greeting
        self.llm = llm
        self.visited: list[str] = []
        self.transcript: list[tuple[str, str]] = []  # (role, text) as spoken / heard
        self._ctx = CallContext(call_uid="", caller_number="", dialed="", language="en")
        self._mode: Mode = "idle"
        self._node: str | None = None
        self._waiting: AskNode | None = None
        self._retries = 0
        self._silences = 0
        self._last_utterance = ""

    # --- DialogEngine -----------------------------------------------------------------------

    async def begin(self, ctx: CallContext) -> AsyncGenerator[DialogAction, None]:
        self._ctx = ctx
        self._mode = "flow"
        if self.greeting:
            yield self._say(self.greeting)
        async with aclosing(self._walk(self.flow.start)) as actions:
            async for action in actions:
                yield action

    async def on_caller_turn(self, turn: CallerTurn) -> AsyncGenerator[DialogAction, None]:
        if self._mode == "llm" and self.llm is not None:
            async with aclosing(self.llm.on_caller_turn(turn)) as actions:
                async for action in actions:
                    yield action
            self._end_if_llm_done()
            return
        ask = self._waiting
        if self._mode != "flow" or ask is None:
            return
        text = turn.text.strip()
        self._last_utterance = text
        if text or turn.dtmf:
            self.transcript.append(("user", text or f"[keypad: {turn.dtmf}]"))
        match = self._match(ask, turn)
        if match is None:
            self._retries += 1
            async with aclosing(self._retry(ask, self._retries, no_input=False)) as actions:
                async for action in actions:
                    yield action
            return
        self._ctx.slots[ask.slot] = match.value
        self._waiting = None
        target = ask.target_for(match.value)
        if target is None:  # validation prevents this; a polite end all the same
            async with aclosing(self._goodbye("error", "flow_error")) as actions:
                async for action in actions:
                    yield action
            return
        async with aclosing(self._walk(target)) as actions:
            async for action in actions:
                yield action

    async def on_no_input(self) -> AsyncGenerator[DialogAction, None]:
        if self._mode == "llm" and self.llm is not None:
            async with aclosing(self.llm.on_no_input()) as actions:
                async for action in actions:
                    yield action
            self._end_if_llm_done()
            return
        ask = self._waiting
        if self._mode != "flow" or ask is None:
            return
        self._silences += 1
        async with aclosing(self._retry(ask, self._silences, no_input=True)) as actions:
            async for action in actions:
                yield action

    def on_interrupted(self, heard: str) -> None:
        if self._mode == "llm" and self.llm is not None:
            self.llm.on_interrupted(heard)
            return
        for i in range(len(self.transcript) - 1, -1, -1):
            if self.transcript[i][0] == "assistant":
                if heard.strip():
                    self.transcript[i] = ("assistant", heard.strip())
                else:
                    del self.transcript[i]
                return

    def node_id(self) -> str | None:
        return self._node

    @property
    def ended(self) -> bool:
        return self._mode == "ended"

    # --- walking the graph ------------------------------------------------------------------

    async def _walk(self, node_id: str) -> AsyncGenerator[DialogAction, None]:
        """Run nodes from ``node_id`` until one waits for the caller or ends the call."""
        budget = 2 * len(self.flow.nodes) + 2  # validation forbids busy loops; guard anyway
        current: str | None = node_id
        while current is not None:
            budget -= 1
            if budget < 0 or current not in self.flow.nodes:
                log.error("flow stopped at node %r: loop or missing node", current)
                async with aclosing(self._goodbye("error", "flow_error")) as actions:
                    async for action in actions:
                        yield action
                return
            node = self.flow.nodes[current]
            self._node = current
            self.visited.append(current)
            current = None
            if isinstance(node, SayNode):
                yield self._say(node.text, node.interruptible)
                current = node.next
            elif isinstance(node, AskNode):
                self._waiting = node
                self._retries = self._silences = 0
                if node.prompt:
                    yield self._say(node.prompt, node.interruptible)
                yield self._listen(node)
            elif isinstance(node, BranchNode):
                current = self._branch(node)
            elif isinstance(node, HangupNode):
                if node.text:
                    yield self._say(node.text)
                self._mode = "ended"
                yield Hangup(node.reason)
            elif isinstance(node, TransferNode):
                if node.text:
                    yield self._say(node.text)
                self._mode = "ended"
                yield Transfer(node.target, node.reason)
            else:
                async with aclosing(self._enter_llm(node)) as actions:
                    async for action in actions:
                        yield action

    def _branch(self, node: BranchNode) -> str:
        value = self._ctx.slots.get(node.slot) if node.slot is not None else None
        for case in node.cases:
            if case.values is not None and not _value_in(value, case.values):
                continue
            if case.keywords and not contains_keywords(self._last_utterance, case.keywords):
                continue
            return case.next
        return node.default

    async def _enter_llm(self, node: LlmNode) -> AsyncGenerator[DialogAction, None]:
        if node.text:
            yield self._say(node.text)
        if self.llm is None:
            log.warning("flow node %r needs an LLM but none is configured", node.id)
            async with aclosing(self._goodbye("goodbye", "no_llm")) as actions:
                async for action in actions:
                    yield action
            return
        self._mode = "llm"
        self._waiting = None
        async with aclosing(
            self.llm.enter(
                self._ctx, goal=node.goal, transcript=self.transcript, respond=node.text is None
            )
        ) as actions:
            async for action in actions:
                yield action
        self._end_if_llm_done()

    def _end_if_llm_done(self) -> None:
        if self.llm is not None and self.llm.ended:
            self._mode = "ended"

    # --- answers ----------------------------------------------------------------------------

    def _match(self, ask: AskNode, turn: CallerTurn) -> Match | None:
        digits = turn.dtmf.strip()
        text = turn.text
        if ask.answer == "free_text":
            said = " ".join(text.split()) or digits
            return Match(said, 1.0, said) if said else None
        choices = (
            yes_no_words(self._ctx.language).choices() if ask.answer == "yes_no" else ask.choices
        )
        if digits:
            return match_dtmf(digits, choices)
        if ask.answer == "yes_no":
            return match_yes_no(text, self._ctx.language)
        return match_choice(text, choices)

    async def _retry(
        self, ask: AskNode, count: int, *, no_input: bool
    ) -> AsyncGenerator[DialogAction, None]:
        texts = default_texts(self._ctx.language)
        if count > ask.max_retries:
            self._waiting = None
            reason = "no_input" if no_input else "no_match"
            if ask.on_fail is not None:
                async with aclosing(self._walk(ask.on_fail)) as actions:
                    async for action in actions:
                        yield action
            else:
                async with aclosing(self._goodbye("goodbye", reason)) as actions:
                    async for action in actions:
                        yield action
            return
        if no_input and ask.no_input_prompt:
            text = ask.no_input_prompt
        elif ask.reprompt:
            text = ask.reprompt
        else:
            apology = texts["no_input" if no_input else "sorry"]
            text = f"{apology} {ask.prompt}" if ask.prompt else apology
        yield self._say(text, ask.interruptible)
        yield self._listen(ask)

    async def _goodbye(self, key: str, reason: str) -> AsyncGenerator[DialogAction, None]:
        self._mode = "ended"
        self._waiting = None
        yield self._say(default_texts(self._ctx.language)[key])
        yield Hangup(reason)

    # --- actions ----------------------------------------------------------------------------

    def _say(self, text: str, interruptible: bool = True) -> Say:
        self.transcript.append(("assistant", text))
        return Say(text, interruptible)

    def _listen(self, ask: AskNode) -> Listen:
        return Listen(grammar=self.grammar(ask), no_input_s=ask.no_input_s, dtmf=True)

    def grammar(self, ask: AskNode) -> tuple[str, ...] | None:
        """The phrases the recogniser should expect for ``ask``; None for free speech."""
        if ask.answer == "free_text":
            return None
        if ask.answer == "yes_no":
            phrases = yes_no_words(self._ctx.language).grammar
        else:
            phrases = tuple(p for c in ask.choices for p in c.phrases)
        seen: dict[str, None] = {}
        for phrase in phrases:
            cleaned = normalise(phrase)
            if cleaned:
                seen.setdefault(cleaned, None)
        return tuple(seen)


def _value_in(value: object, candidates: tuple[SlotValue, ...]) -> bool:
    """Whether a slot value equals one of ``candidates``: strings compared normalised, numbers
    by value, booleans only with booleans."""
    for candidate in candidates:
        if isinstance(value, str) and isinstance(candidate, str):
            if normalise(value) == normalise(candidate):
                return True
        elif isinstance(value, bool) or isinstance(candidate, bool):
            if value is candidate:
                return True
        elif isinstance(value, int | float) and isinstance(candidate, int | float):
            if value == candidate:
                return True
    return False
