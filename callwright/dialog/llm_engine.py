"""The LLM dialog engine: streamed chat completions, spoken sentence by sentence, with tools.

Used on its own (an assistant with an LLM and no flow) or from a flow's ``llm`` node
(:meth:`LlmEngine.enter`). Each reply is streamed (``stream=True``); every complete sentence is
yielded as a :class:`Say` as soon as it is complete, so the first sentence is spoken while the rest
is still being generated.

With a retriever, the passages found for the caller's last words go into the system message of
each reply. Tools (:mod:`callwright.dialog.llm_tools`): ``end_call`` → :class:`Hangup`,
``transfer_call`` → :class:`Transfer`, ``search_knowledge`` and the assistant's webhook tools. When
the model calls tools, its message (with ``tool_calls``) and one ``tool`` message per call go into
the history and the model is asked again, at most ``max_tool_rounds`` times per reply.

The history holds what the caller heard: what was yielded, cut to the heard part by
:meth:`on_interrupted`. Failures (timeouts, API errors, empty answers) never raise out of the
generators: a request that failed before its first word is tried once more within the reply's
latency budget; a reply that still fails gets ``retry_text`` and the engine listens again, and
after ``max_failures`` in a row it says ``fallback_text`` and hangs up or hands the caller back to
the dialplan (:class:`LlmSettings`). Each failure is an :class:`LlmError` in :attr:`errors` (and
``on_error``).

The engine never sees credentials: the client carries its key in the Authorization header.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing

import openai
import openai.resources.chat  # noqa: F401  (imported now, not lazily on the first call in the loop)
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

from callwright.dialog.actions import (
    CallContext,
    CallerTurn,
    DialogAction,
    Hangup,
    Listen,
    Say,
    Transfer,
)
from callwright.dialog.llm_settings import LlmSettings, LlmTurnStats
from callwright.dialog.llm_stream import (
    MIN_RETRY_S,
    Attempt,
    UnusableReply,
    _absorb,
    _close_quietly,
    _has_payload,
    failure_reason,
    is_retryable,
)
from callwright.dialog.llm_tools import (
    Retriever,
    Toolbox,
    ToolCall,
    ToolCallAssembler,
    ToolError,
    assistant_message,
    search_passages,
    unanswered,
)
from callwright.dialog.prompt import Passage, build_messages
from callwright.dialog.resume import ResumePoint
from callwright.dialog.sentences import SentenceSplitter
from callwright.dialog.speculation import SideEffectGate, restore_fields, snapshot_fields
from callwright.dialog.webhook_tools import WebhookCaller
from callwright.errors import LlmError

__all__ = ["LlmEngine", "LlmSettings", "LlmTurnStats", "Retriever", "ToolError"]

log = logging.getLogger(__name__)


class LlmEngine:
    """A :class:`~callwright.dialog.actions.DialogEngine` backed by a chat-completions LLM.

    ``retriever`` searches the assistant's knowledge; ``webhooks`` calls its webhook tools. Tool
    failures become :class:`ToolError` (an :class:`LlmError`) in :attr:`errors` and ``on_error``.
    For a flow's bounded ``llm`` node it offers the ``finish`` tool (``offer_finish`` and
    ``take_finish``, the flow engine's ``FinishingLlm``).
    """

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        settings: LlmSettings,
        *,
        greeting: str | None = None,
        retriever: Retriever | None = None,
        webhooks: WebhookCaller | None = None,
        on_error: Callable[[LlmError], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client.with_options(max_retries=settings.max_retries)
        self.settings = settings
        self.greeting = greeting
        self._retriever = retriever
        self._on_error = on_error
        on = settings.tools_enabled
        self._tools = Toolbox(
            end_call=on,
            transfer_targets=settings.transfer_targets if on else {},
            retriever=retriever if on and settings.knowledge_tool else None,
            webhook_tools=settings.webhook_tools if on else (),
            webhooks=webhooks,
            search_timeout_s=settings.timeout_s,
        )
        self._clock = clock
        self.history: list[ChatCompletionMessageParam] = []
        self.errors: list[LlmError] = []
        self.stats: list[LlmTurnStats] = []
        self._ctx: CallContext | None = None
        self._goal: str | None = None
        self._ended = False
        self._no_input = 0
        self._failures = 0  # replies failed in a row
        self._generating = False
        self._heard: str | None = None
        self._last_user_text = ""
        self._finished: str | None = None
        #: Held while a reply runs speculatively (eager end of turn): tool calls wait for it.
        self.side_effects = SideEffectGate()

    # --- DialogEngine ---------------------------------------------------------------------

    async def begin(self, ctx: CallContext) -> AsyncGenerator[DialogAction, None]:
        """Say the greeting (or let the model greet when there is none), then listen."""
        self._ctx = ctx
        if self.greeting:
            self.history.append({"role": "assistant", "content": self.greeting})
            yield Say(self.greeting)
            yield Listen()
        else:
            async with aclosing(self._respond()) as actions:
                async for action in actions:
                    yield action

    async def enter(
        self,
        ctx: CallContext,
        *,
        goal: str | None,
        transcript: Sequence[tuple[str, str]] = (),
        respond: bool = True,
    ) -> AsyncGenerator[DialogAction, None]:
        """Take over a call from a flow: ``transcript`` is the flow's conversation so far as
        ``(role, text)`` pairs (role ``assistant`` or ``user``). With ``respond`` the model speaks
        first; otherwise the engine just listens."""
        self._ctx = ctx
        self._goal = goal
        for role, text in transcript:
            if role == "assistant":
                self.history.append({"role": "assistant", "content": text})
            else:
                self.history.append({"role": "user", "content": text})
                self._last_user_text = text
        if respond:
            async with aclosing(self._respond()) as actions:
                async for action in actions:
                    yield action
        else:
            yield Listen()

    async def resume(
        self, ctx: CallContext, point: ResumePoint
    ) -> AsyncGenerator[DialogAction, None]:
        """Go on after a restart (:mod:`callwright.dialog.resume`): the history is the journalled
        transcript; the engine says its last words again and listens, or answers the caller's
        last words when the caller spoke last. An empty transcript is :meth:`begin`."""
        if not point.transcript:
            async with aclosing(self.begin(ctx)) as actions:
                async for action in actions:
                    yield action
            return
        last = point.last_said()
        async with aclosing(
            self.enter(ctx, goal=None, transcript=point.transcript, respond=last is None)
        ) as actions:
            if last is not None:
                yield Say(last)
            async for action in actions:
                yield action

    async def on_caller_turn(self, turn: CallerTurn) -> AsyncGenerator[DialogAction, None]:
        if self._ended:
            return
        text = turn.text.strip()
        if turn.dtmf:
            text = f"{text} [keypad: {turn.dtmf}]".strip()
        if not text:
            async with aclosing(self.on_no_input()) as actions:
                async for action in actions:
                    yield action
            return
        self._no_input = 0
        self._last_user_text = text
        self.history.append({"role": "user", "content": text})
        async with aclosing(self._respond()) as actions:
            async for action in actions:
                yield action

    async def on_no_input(self) -> AsyncGenerator[DialogAction, None]:
        if self._ended:
            return
        self._no_input += 1
        if self._no_input > self.settings.max_no_input:
            if self.settings.goodbye_text:
                yield Say(self.settings.goodbye_text)
            self._ended = True  # with the hang-up: a goodbye cut before it lets the caller on
            yield Hangup("no_input")
            return
        self.history.append({"role": "assistant", "content": self.settings.no_input_text})
        yield Say(self.settings.no_input_text)
        yield Listen()

    def on_interrupted(self, heard: str) -> None:
        """Cut the last assistant message to what the caller heard."""
        if self._generating:
            self._heard = heard  # applied when the interrupted generation records its message
            return
        self._apply_heard(heard)

    def node_id(self) -> str | None:
        return None

    def offer_finish(self, when: str | None) -> None:
        """Offer the ``finish`` tool, described by ``when``, from the next request on (None
        withdraws it). When the model calls it, the reply ends without a Listen."""
        self._tools.finish_when = when or None

    def take_finish(self) -> str | None:
        """The result the model gave ``finish`` (once), or None."""
        result, self._finished = self._finished, None
        return result

    @property
    def ended(self) -> bool:
        """True once the engine has yielded a Hangup or Transfer."""
        return self._ended

    # --- speculation (callwright.dialog.speculation) ----------------------------------------

    #: What a reply may change; the history deep (messages are cut to what was heard in place).
    STATE = ("errors", "stats", "_goal", "_ended", "_no_input", "_failures",
             "_generating", "_heard", "_last_user_text", "_finished")

    def snapshot(self) -> object:
        return (snapshot_fields(self, self.STATE, deep=("history",)), self._tools.finish_when)

    def restore(self, snapshot: object) -> None:
        if not isinstance(snapshot, tuple) or len(snapshot) != 2:
            raise TypeError("not a snapshot of an LlmEngine")
        state, finish_when = snapshot
        restore_fields(self, state)
        self._tools.finish_when = finish_when

    # --- one assistant reply ----------------------------------------------------------------

    async def _respond(self) -> AsyncGenerator[DialogAction, None]:
        passages = await self._retrieve()
        for _ in range(self.settings.max_tool_rounds + 1):
            # The caller's wait for this request's first words, one retry included.
            budget_end = self._clock() + self.settings.budget_s
            tries = 0
            while True:
                wait_s = min(self.settings.timeout_s, budget_end - self._clock())
                attempt = Attempt(wait_s)
                async with aclosing(self._attempt(passages, attempt)) as says:
                    async for say in says:
                        yield say
                failure = attempt.failure
                if (
                    failure is None or attempt.ttft is not None or tries >= self.settings.retries
                    or not is_retryable(failure)
                    or budget_end - self._clock() < MIN_RETRY_S
                ):
                    break
                tries += 1
                log.warning("%s: trying again", failure_reason(failure, wait_s))
            if failure is not None:
                async with aclosing(self._fail(failure, attempt.wait_s)) as actions:
                    async for action in actions:
                        yield action
                return
            self._failures = 0
            made = attempt.made
            if not made:
                yield Listen()
                return
            try:
                await self.side_effects.wait()  # no tool runs while the turn is only likely over
                answers = await self._tools.run(made, self._ctx)
            except BaseException:  # cancelled (barge-in, hang-up): keep the history valid
                self.history.extend(unanswered(made))
                raise
            self.history.extend(answers.messages)
            for error in answers.errors:
                self._report(error)
            if answers.final is not None:
                self._ended = True
                yield answers.final
                return
            if answers.finished is not None:
                self._finished = answers.finished
                return  # the flow takes over: no Listen
        async with aclosing(
            self._fail(UnusableReply("too many tool rounds without an answer"), 0.0)
        ) as actions:
            async for action in actions:
                yield action

    async def _attempt(
        self, passages: Sequence[Passage], attempt: Attempt
    ) -> AsyncGenerator[Say, None]:
        """One request: its sentences as they come; how it went in ``attempt``. The first chunk
        is awaited at most ``attempt.wait_s``, later ones ``timeout_s`` each."""
        spoken = attempt.spoken
        calls = ToolCallAssembler()
        completed = False
        started = self._clock()
        self._generating = True
        try:
            stream = await self._open_stream(passages, attempt.wait_s)
            try:
                splitter = SentenceSplitter()
                while True:
                    wait_s = attempt.wait_s if attempt.ttft is None else self.settings.timeout_s
                    chunk = await self._next_chunk(stream, wait_s)
                    if chunk is None:
                        break
                    if attempt.ttft is None and _has_payload(chunk):
                        attempt.ttft = self._clock() - started
                    for sentence in _absorb(chunk, splitter, calls):
                        spoken.append(sentence)
                        yield Say(sentence)
                tail = splitter.flush()
                if tail:
                    spoken.append(tail)
                    yield Say(tail)
                completed = True
            finally:
                await _close_quietly(stream)
            if not spoken and not calls:
                raise UnusableReply("the model returned an empty answer")
        except Exception as exc:  # the LLM boundary: nothing may escape into the call
            attempt.failure = exc
        finally:
            self._generating = False
            attempt.made = calls.calls() if completed else []
            self._record_reply(spoken, attempt.made)
            self.stats.append(
                LlmTurnStats(
                    ttft_s=attempt.ttft,
                    total_s=self._clock() - started,
                    sentences=len(spoken),
                    tool_calls=tuple(c.name for c in calls.calls()),
                    ok=attempt.failure is None and completed,
                )
            )

    async def _retrieve(self) -> Sequence[Passage]:
        """Knowledge for the caller's last words; none (and a reported error) when it fails."""
        if self._retriever is None or not self._last_user_text:
            return ()
        try:
            return await search_passages(
                self._retriever, self._last_user_text, self.settings.timeout_s
            )
        except ToolError as error:
            await self.side_effects.wait()  # reported for a turn confirmed, not a likely one
            self._report(error)
            return ()

    async def _open_stream(
        self, passages: Sequence[Passage], wait_s: float
    ) -> openai.AsyncStream[ChatCompletionChunk]:
        s = self.settings
        tools = self._tools.definitions()
        ctx = self._ctx
        messages = build_messages(
            s.system_prompt,
            self.history,
            language=ctx.language if ctx else None,
            goal=self._goal,
            slots=ctx.slots if ctx else None,
            passages=passages,
            tools=[t["function"]["name"] for t in tools],
        )
        async with asyncio.timeout(wait_s):
            return await self._client.chat.completions.create(
                model=s.model,
                messages=messages,
                stream=True,
                temperature=s.temperature,
                max_tokens=s.max_tokens,
                tools=tools if tools else openai.omit,
                timeout=s.timeout_s,
            )

    async def _next_chunk(
        self, chunks: AsyncIterator[ChatCompletionChunk], wait_s: float
    ) -> ChatCompletionChunk | None:
        try:
            async with asyncio.timeout(wait_s):
                return await anext(chunks)
        except StopAsyncIteration:
            return None

    def _record_reply(self, spoken: list[str], calls: Sequence[ToolCall]) -> None:
        text = " ".join(spoken)
        heard, self._heard = self._heard, None
        if not text and not calls:
            return
        self.history.append(assistant_message(text, calls))
        if heard is not None:
            self._apply_heard(heard)

    def _apply_heard(self, heard: str) -> None:
        for i in range(len(self.history) - 1, -1, -1):
            message = self.history[i]
            if message["role"] != "assistant":
                continue
            heard = heard.strip()
            if heard:
                message["content"] = heard
            elif message.get("tool_calls"):
                message["content"] = None
            else:
                del self.history[i]
            return

    def _report(self, error: LlmError) -> None:
        self.errors.append(error)
        log.warning("%s", error)
        if self._on_error is not None:
            self._on_error(error)

    async def _fail(
        self, exc: BaseException, waited_s: float
    ) -> AsyncGenerator[DialogAction, None]:
        """A reply failed: ask the caller again and listen, or (``max_failures`` in a row) end
        the call with ``fallback_text``: hung up, or handed to ``failure_target``."""
        error = LlmError(failure_reason(exc, waited_s))
        error.__cause__ = exc
        await self.side_effects.wait()  # a request made on a likely end fails for nothing if
        self._report(error)             # the caller goes on: reported once the turn is confirmed
        s = self.settings
        self._failures += 1
        if self._failures < s.max_failures:
            yield Say(s.retry_text)
            yield Listen()
            return
        yield Say(s.fallback_text)
        self._ended = True  # with the step: the words cut before it let the caller try again
        if s.on_failure == "transfer" and s.failure_target:
            yield Transfer(s.failure_target, "llm_error")
        else:
            yield Hangup("llm_error")
