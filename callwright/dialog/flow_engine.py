"""The flow dialog engine: walks a :class:`~callwright.dialog.flow.Flow`, one caller turn at a time.

It speaks the nodes up to one that listens (``ask``, ``knowledge``, ``take_message``) and yields a
:class:`Listen` (with a grammar for closed answers); each caller turn (words, or keys gathered
until ``#``) is interpreted, stored in ``ctx.slots``, and the walk goes on. No answer, or silence,
repeats the question up to ``max_retries`` times, then goes to ``on_fail`` or says goodbye.
``llm`` nodes hand the conversation to the LLM engine (for good, or until it finishes); services
are called through :mod:`callwright.dialog.flow_nodes`. Texts may hold ``{slot}`` placeholders.

The state logic is plain Python; all I/O goes through the injected services and clock. When a
reply is cut (barge-in) before the walk reached a question, the next caller turn resumes the walk
and answers that question; a webhook call cut that way is awaited, not repeated.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from datetime import datetime
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
    IntentNode,
    KnowledgeNode,
    Listening,
    LlmNode,
    SayNode,
    SlotValue,
    TakeMessageNode,
    TransferNode,
    WebhookNode,
)
from callwright.dialog.flow_answers import grammar, interpret, interpret_keys, press
from callwright.dialog.flow_nodes import (
    FaqAnswerer,
    FinishingLlm,
    FlowLlm,
    IntentClassifier,
    NodeServices,
    WebhookCaller,
    branch_target,
    fill,
    reply_slots,
    webhook_payload,
)
from callwright.dialog.flow_texts import _GOODBYES, default_texts
from callwright.dialog.resume import ResumePoint
from callwright.dialog.speculation import (
    SideEffectGate,
    Speculative,
    restore_fields,
    snapshot_fields,
)

__all__ = ["FlowEngine"]

log = logging.getLogger(__name__)


def _local_now() -> datetime:
    return datetime.now().astimezone()


Mode = Literal["idle", "flow", "llm", "transferring", "ended"]
Actions = AsyncGenerator[DialogAction, None]


class FlowEngine:
    """A :class:`~callwright.dialog.actions.DialogEngine` that runs a dialog flow."""

    def __init__(
        self,
        flow: Flow,
        *,
        greeting: str | None = None,
        llm: FlowLlm | None = None,
        classifier: IntentClassifier | None = None,
        faq: FaqAnswerer | None = None,
        webhooks: WebhookCaller | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.flow = flow
        self.greeting = greeting
        self.llm = llm
        self.services = NodeServices(classifier=classifier, faq=faq, webhooks=webhooks)
        self.clock = clock or _local_now
        self.visited: list[str] = []
        self.transcript: list[tuple[str, str]] = []  # (role, text) as spoken / heard
        self._ctx = CallContext(call_uid="", caller_number="", dialed="", language="en")
        self._mode: Mode = "idle"
        self._node: str | None = None
        self._waiting: Listening | None = None
        self._resume: str | None = None  # where a walk cut short goes on
        self._retries = self._silences = 0
        self._keys = ""  # a keypad entry in progress
        self._parts: list[str] = []  # a message being taken
        self._last_utterance = ""
        self._llm_node: LlmNode | None = None
        self._llm_turns = self._llm_mark = 0
        self._transfer: TransferNode | None = None
        #: The hang-up or transfer the flow has ended with, until it is given (a reply cut
        #: before it leaves it to the next turn).
        self._ending: Hangup | Transfer | None = None
        #: Held while a step runs speculatively (eager end of turn): webhooks wait for it. One
        #: gate for the flow and its LLM's tool calls.
        self.side_effects = llm.side_effects if isinstance(llm, Speculative) else SideEffectGate()

    # --- DialogEngine -----------------------------------------------------------------------

    async def begin(self, ctx: CallContext) -> Actions:
        self._ctx = ctx
        self._mode = "flow"
        if self.greeting:
            yield self._say(self.greeting)
        async with aclosing(self._walk(self.flow.start)) as actions:
            async for action in actions:
                yield action

    async def on_caller_turn(self, turn: CallerTurn) -> Actions:
        if self._mode == "llm" and self.llm is not None:
            source = self._llm_reply(self.llm.on_caller_turn(turn), counted=True)
        elif self._mode != "flow":
            if self._ending is not None:  # the reply was cut before its hang-up or transfer
                yield self._give(self._ending)
            return
        elif self._waiting is not None:
            source = self._answer(self._waiting, turn)
        elif self._resume is not None:  # a reply was cut before the walk reached a question
            source = self._walk(self._resume, pending=turn)
        else:
            return
        async with aclosing(source) as actions:
            async for action in actions:
                yield action

    async def on_no_input(self) -> Actions:
        waiting = self._waiting
        if self._mode == "llm" and self.llm is not None:
            source = self._llm_reply(self.llm.on_no_input(), counted=False)
        elif self._mode != "flow":
            if self._ending is not None:  # the reply was cut before its hang-up or transfer
                yield self._give(self._ending)
            return
        elif waiting is None:
            if self._resume is None:
                return
            source = self._walk(self._resume)
        elif self._keys or self._parts:  # silence ends a keypad entry or a message, as # does
            source = self._answer(waiting, CallerTurn("", dtmf="#"))
        else:
            self._silences += 1
            source = self._retry(waiting, self._silences, no_input=True)
        async with aclosing(source) as actions:
            async for action in actions:
                yield action

    async def on_transfer_failed(self) -> Actions:
        """The last :class:`Transfer` failed and the caller is still here: the transfer node's
        ``on_fail``, else an apology and a hang-up."""
        node, self._transfer = self._transfer, None
        if self._mode != "transferring":
            return
        self._mode, self._ending = "flow", None
        target = node.on_fail if node is not None else None
        async with aclosing(self._walk(target, fail="transfer_failed")) as actions:
            async for action in actions:
                yield action

    async def resume(self, ctx: CallContext, point: ResumePoint) -> Actions:
        """Go on after a restart (:mod:`callwright.dialog.resume`): the journalled slots and
        transcript back, and the walk from the node of the last assistant turn, so its question is
        asked again. In an ``llm`` node the LLM takes over the transcript and repeats its last
        words, or answers the caller's last ones. No known node: the opening, as :meth:`begin`."""
        self._ctx = ctx
        ctx.slots.update(point.slots)
        self.transcript = list(point.transcript)
        self._mode = "flow"
        node = self.flow.nodes.get(point.node) if point.node else None
        if node is None:
            source = self.begin(ctx)
        elif isinstance(node, LlmNode):
            source = self._resume_llm(node, point)
        else:
            source = self._walk(node.id)
        async with aclosing(source) as actions:
            async for action in actions:
                yield action

    async def _resume_llm(self, node: LlmNode, point: ResumePoint) -> Actions:
        if self.llm is None:
            for action in self._goodbye("no_llm"):
                yield self._give(action)
            return
        self._mode = "llm"
        self._node = node.id
        self._waiting = self._resume = None
        self._llm_node, self._llm_turns = node, 0
        if isinstance(self.llm, FinishingLlm):
            finish = node.exit_when or default_texts(self._ctx.language)["finish"]
            self.llm.offer_finish(finish if node.next is not None else None)
        self._llm_mark = len(self.transcript)
        last = point.last_said()
        if last:
            yield Say(last)
        entered = self.llm.enter(
            self._ctx, goal=fill(node.goal, self._values()), transcript=self.transcript,
            respond=point.caller_spoke_last,
        )
        async with aclosing(self._llm_reply(entered, counted=False)) as actions:
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

    # --- speculation (callwright.dialog.speculation) ----------------------------------------

    #: What a step may change (``ctx.slots`` aside, restored in place: the call shares it).
    STATE = ("visited", "transcript", "_mode", "_node", "_waiting", "_resume", "_retries",
             "_silences", "_keys", "_parts", "_last_utterance", "_llm_node", "_llm_turns",
             "_llm_mark", "_transfer", "_ending")

    def snapshot(self) -> object:
        llm = self.llm
        return (snapshot_fields(self, self.STATE), dict(self._ctx.slots),
                llm.snapshot() if isinstance(llm, Speculative) else None)

    def restore(self, snapshot: object) -> None:
        if not isinstance(snapshot, tuple) or len(snapshot) != 3:
            raise TypeError("not a snapshot of a FlowEngine")
        state, slots, llm_state = snapshot
        restore_fields(self, state)
        self._ctx.slots.clear()
        self._ctx.slots.update(slots)
        if llm_state is not None and isinstance(self.llm, Speculative):
            self.llm.restore(llm_state)

    @property
    def ended(self) -> bool:
        return self._mode in ("ended", "transferring")

    def grammar(self, ask: AskNode) -> tuple[str, ...] | None:
        """The phrases the recogniser should expect for ``ask``; None for free speech."""
        return grammar(ask, self._ctx.language)

    # --- walking the graph ------------------------------------------------------------------

    async def _walk(
        self, node_id: str | None, pending: CallerTurn | None = None, *, fail: str = "flow_error"
    ) -> Actions:
        """Run nodes from ``node_id`` until one waits for the caller or ends the call; a
        ``pending`` turn answers the first node that listens. No node: goodbye, for ``fail``."""
        budget = 2 * len(self.flow.nodes) + 2  # validation forbids busy loops; guard anyway
        current = node_id
        while True:
            budget -= 1
            if current is None or budget < 0 or current not in self.flow.nodes:
                if current is not None:
                    log.error("flow stopped at node %r: loop or missing node", current)
                for action in self._goodbye(fail):
                    yield self._give(action)
                return
            node = self.flow.nodes[current]
            self._node = self._resume = current
            self.visited.append(current)
            source: Actions | None = None
            if isinstance(node, SayNode):
                self._resume = current = node.next
                yield self._say(node.text, node.interruptible)
            elif isinstance(node, AskNode | TakeMessageNode) or (
                isinstance(node, KnowledgeNode) and node.listen
            ):
                source = self._listen_at(node, pending)
            elif isinstance(node, KnowledgeNode):
                said, current = await self._knowledge(node, self._ctx.slots.get(node.slot))
                if said:
                    yield self._say(said)
            elif isinstance(node, BranchNode):
                current = branch_target(node, self._ctx.slots, self._last_utterance)
            elif isinstance(node, IntentNode):
                current = await self._classify(node)
            elif isinstance(node, WebhookNode):
                if node.text and not self.services.calling(node.id):
                    yield self._say(node.text)
                chosen = {s: self._ctx.slots[s] for s in node.send if s in self._ctx.slots}
                payload = webhook_payload(node.id, self._ctx, chosen)
                await self.side_effects.wait()  # not while the turn is only likely over
                reply = await self.services.call(node.id, node.webhook, payload, node.timeout_s)
                self._ctx.slots.update(reply_slots(node, reply or {}))
                current = node.next if reply is not None else node.on_error
                fail = fail if reply is not None else "webhook_error"
            elif isinstance(node, HangupNode | TransferNode):
                end = (Hangup(node.reason) if isinstance(node, HangupNode)
                       else Transfer(node.target, node.reason))
                self._end(end)
                self._transfer = node if isinstance(node, TransferNode) else None
                if node.text:
                    yield self._say(node.text)
                yield self._give(end)
                return
            else:
                source = self._enter_llm(node)
            if source is not None:
                async with aclosing(source) as actions:
                    async for action in actions:
                        yield action
                return

    def _listen_at(self, node: Listening, pending: CallerTurn | None) -> Actions:
        self._waiting = node
        self._resume = None
        self._retries = self._silences = 0
        self._keys = ""
        self._parts = []
        if pending is not None and (pending.text.strip() or isinstance(node, AskNode)):
            return self._answer(node, pending, fresh=True)
        return self._ask(node)

    async def _ask(self, node: Listening, text: str | None = None) -> Actions:
        text = text or node.prompt
        if text:
            yield self._say(text, node.interruptible)
        words = self.grammar(node) if isinstance(node, AskNode) else None
        low = high = None
        if isinstance(node, AskNode) and node.answer == "digits":
            low, high = node.length or node.min_length, node.length or node.max_length
        yield Listen(grammar=words, no_input_s=node.no_input_s, dtmf=True,
                     min_digits=low, max_digits=high)

    # --- answers ----------------------------------------------------------------------------

    async def _answer(self, node: Listening, turn: CallerTurn, *, fresh: bool = False) -> Actions:
        text = " ".join(turn.text.split())
        value: SlotValue | None = None
        if turn.dtmf and isinstance(node, AskNode):
            keys, done = press(node, self._keys, turn.dtmf, self._ctx.language)
            self._keys = "" if done else keys
            if not done:
                if len(keys) == 1:  # between keys, a shorter silence ends the entry
                    yield Listen(self.grammar(node), no_input_s=node.inter_digit_s, dtmf=True)
                return
            value = self._from_keys(node, keys)
        elif isinstance(node, TakeMessageNode):
            if text:
                self._note_user(text)
                self._parts.append(text)
            if not self._parts or not (turn.dtmf == "#" or len(self._parts) >= node.max_parts):
                if text:  # more may follow; a shorter silence ends the message
                    yield Listen(None, no_input_s=node.end_silence_s, dtmf=True)
                return
        elif turn.dtmf:  # keys mean nothing to a knowledge question
            return
        else:
            self._keys = ""
            self._note_user(text)
            if isinstance(node, AskNode):
                value = interpret(node, text, self._ctx.language, self.clock())
            else:
                value = text or None
        if isinstance(node, TakeMessageNode):
            source = self._message_taken(node)
        elif value is None and fresh:
            source = self._ask(node)
        else:
            source = self._accept(node, value)
        async with aclosing(source) as actions:
            async for action in actions:
                yield action

    def _from_keys(self, node: AskNode, keys: str) -> SlotValue | None:
        self.transcript.append(("user", f"[keypad: {keys}]"))
        return interpret_keys(node, keys, self._ctx.language, self.clock())

    def _note_user(self, text: str) -> None:
        self._last_utterance = text
        if text:
            self.transcript.append(("user", text))

    async def _accept(self, node: Listening, value: SlotValue | None) -> Actions:
        """Store a value and walk on, or ask again when there is none."""
        if value is None:
            self._retries += 1
            source = self._retry(node, self._retries, no_input=False)
        else:
            self._ctx.slots[node.slot] = value
            self._waiting = None
            target = node.target_for(value) if isinstance(node, AskNode) else node.next
            if isinstance(node, KnowledgeNode):
                self._resume = node.id
                said, target = await self._knowledge(node, value)
                if said:
                    yield self._say(said)
            source = self._walk(target)
        async with aclosing(source) as actions:
            async for action in actions:
                yield action

    def _retry(self, node: Listening, count: int, *, no_input: bool) -> Actions:
        if count > node.max_retries:
            self._waiting = None
            return self._walk(node.on_fail, fail="no_input" if no_input else "no_match")
        if no_input and node.no_input_prompt:
            return self._ask(node, node.no_input_prompt)
        if node.reprompt:
            return self._ask(node, node.reprompt)
        apology = default_texts(self._ctx.language)["no_input" if no_input else "sorry"]
        return self._ask(node, f"{apology} {node.prompt}" if node.prompt else apology)

    async def _message_taken(self, node: TakeMessageNode) -> Actions:
        message = " ".join(self._parts)
        self._ctx.slots[node.slot] = message
        self._waiting, self._parts, self._resume = None, [], node.next
        if node.notify is not None:  # a failed notification is logged; the message is kept
            payload = webhook_payload(node.id, self._ctx, {node.slot: message})
            payload["message"] = message
            await self.side_effects.wait()
            await self.services.call(node.id, node.notify, payload, node.timeout_s)
        if node.text:
            yield self._say(node.text)
        async with aclosing(self._walk(node.next)) as actions:
            async for action in actions:
                yield action

    # --- services ---------------------------------------------------------------------------

    async def _knowledge(self, node: KnowledgeNode, question: object) -> tuple[str | None, str]:
        """What to say, and where to go, for ``question``."""
        found = await self.services.answer(node, str(question or ""))
        if found is not None:
            if node.answer_slot:
                self._ctx.slots[node.answer_slot] = found
            return found, node.next
        if node.on_miss is not None:
            return None, node.on_miss
        return node.fallback or default_texts(self._ctx.language)["no_answer"], node.next

    async def _classify(self, node: IntentNode) -> str:
        said = self._ctx.slots.get(node.text_slot) if node.text_slot else self._last_utterance
        label = await self.services.classify(node, str(said or ""))
        if label is None:
            return node.default
        self._ctx.slots[node.slot] = label
        return next(o.next for o in node.intents if o.label == label)

    # --- the LLM ----------------------------------------------------------------------------

    async def _enter_llm(self, node: LlmNode) -> Actions:
        if node.text:
            yield self._say(node.text)
        if self.llm is None:
            log.warning("flow node %r needs an LLM but none is configured", node.id)
            for action in self._goodbye("no_llm"):
                yield self._give(action)
            return
        self._mode = "llm"
        self._waiting = self._resume = None
        self._llm_node, self._llm_turns = node, 0
        if isinstance(self.llm, FinishingLlm):
            finish = node.exit_when or default_texts(self._ctx.language)["finish"]
            self.llm.offer_finish(finish if node.next is not None else None)
        transcript, self._llm_mark = self.transcript[self._llm_mark :], len(self.transcript)
        goal = fill(node.goal, self._values())
        entered = self.llm.enter(
            self._ctx, goal=goal, transcript=transcript, respond=node.text is None
        )
        async with aclosing(self._llm_reply(entered, counted=False)) as actions:
            async for action in actions:
                yield action

    async def _llm_reply(self, source: Actions, *, counted: bool) -> Actions:
        """Pass the LLM's actions on; leave the node when it finished or used its turns."""
        held: Listen | None = None
        async with aclosing(source) as actions:
            async for action in actions:
                if isinstance(action, Listen):
                    held = action
                    continue
                if held is not None:
                    yield held
                    held = None
                if isinstance(action, Hangup | Transfer):
                    self._end(action)
                yield self._give(action)
        node, llm, target = self._llm_node, self.llm, None
        self._llm_turns += counted
        if self._mode == "llm" and node is not None and llm is not None and node.next is not None:
            result = llm.take_finish() if isinstance(llm, FinishingLlm) else None
            if result is not None:
                self._ctx.slots[node.slot] = result
                target = node.next
            elif node.max_turns is not None and self._llm_turns >= node.max_turns:
                target = node.on_max_turns or node.next
        if target is None:
            if held is not None:
                yield held
            return
        self._mode, self._llm_node = "flow", None
        if isinstance(llm, FinishingLlm):
            llm.offer_finish(None)
        async with aclosing(self._walk(target)) as actions:
            async for action in actions:
                yield action

    # --- actions ----------------------------------------------------------------------------

    def _end(self, action: Hangup | Transfer) -> None:
        """The flow ends with ``action``: decided now, before the words said ahead of it; a
        reply cut before it was given (barge-in, a typed turn during synthesis) leaves it to the
        next turn, so the call never stays open with a flow that has ended."""
        self._mode = "ended" if isinstance(action, Hangup) else "transferring"
        self._ending = action
        self._waiting = self._resume = None

    def _give(self, action: DialogAction) -> DialogAction:
        """``action`` as it is yielded: the flow's ending, once given, is not given again."""
        if action is self._ending:
            self._ending = None
        return action

    def _goodbye(self, reason: str) -> list[DialogAction]:
        hangup = Hangup(reason)
        self._end(hangup)
        return [self._say(default_texts(self._ctx.language)[_GOODBYES[reason]]), hangup]

    def _values(self) -> dict[str, object]:
        facts = {"caller_number": self._ctx.caller_number, "dialed": self._ctx.dialed}
        return {**facts, **self._ctx.slots}

    def _say(self, text: str, interruptible: bool = True) -> Say:
        spoken = fill(text, self._values())
        self.transcript.append(("assistant", spoken))
        return Say(spoken, interruptible)
