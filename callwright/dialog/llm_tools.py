"""The tools the LLM may call, and running them.

Built in: ``end_call`` (→ :class:`Hangup`), ``transfer_call`` (→ :class:`Transfer`, only to the
assistant's allowed targets), ``search_knowledge`` (the assistant's knowledge search, when it has
one) and ``finish`` (offered while a flow's bounded ``llm`` node runs: the model calls it with the
node's result). Besides these, an assistant's own *webhook tools*
(:mod:`callwright.dialog.webhook_tools`).

When the model calls a webhook tool, its arguments are checked against the tool's schema (an
invalid call is answered with what is wrong, and the webhook is not called); the webhook receives
``{"tool": name, "arguments": {...}, "call": {"uid", "caller", "dialed"}}`` and its JSON reply goes
back to the model as the tool result. A failure or timeout is answered with a result saying the
tool failed (so the model can apologise) and reported as a :class:`ToolError`.

Every tool call is answered by exactly one ``tool`` message with its ``tool_call_id``, in the
order of the calls, as the chat-completions protocol requires; the calls of one round run
concurrently.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from openai.types.chat import (
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageParam,
    ChatCompletionToolMessageParam,
)
from openai.types.chat.chat_completion_chunk import ChoiceDeltaToolCall

from callwright.dialog.actions import CallContext, Hangup, Transfer
from callwright.dialog.prompt import (
    END_CALL,
    FINISH,
    SEARCH_KNOWLEDGE,
    TRANSFER_CALL,
    Passage,
    build_tools,
    tool_result,
)
from callwright.dialog.webhook_tools import WebhookCaller, WebhookTool
from callwright.errors import LlmError

__all__ = [
    "Retriever",
    "ToolCall",
    "ToolCallAssembler",
    "ToolError",
    "ToolRound",
    "Toolbox",
    "assistant_message",
    "search_passages",
    "unanswered",
]

log = logging.getLogger(__name__)

FAILED = "The tool failed. Tell the caller it could not be done right now."


class Retriever(Protocol):
    """Finds knowledge passages for what the caller said (the knowledge search plugs in here)."""

    async def search(self, query: str) -> Sequence[Passage]: ...


class ToolError(LlmError):
    """A tool the LLM called (or the knowledge search) failed; the call goes on without it."""

    def __init__(self, tool: str, reason: str) -> None:
        self.tool = tool
        self.reason = reason
        super().__init__(f"tool {tool!r} failed: {reason}")


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call the model made."""

    id: str
    name: str
    arguments: str


@dataclass(slots=True)
class _Parts:
    id: str = ""
    name: str = ""
    arguments: str = ""


class ToolCallAssembler:
    """Assembles tool calls from streamed fragments (by their ``index``)."""

    def __init__(self) -> None:
        self._parts: dict[int, _Parts] = {}

    def add(self, fragment: ChoiceDeltaToolCall) -> None:
        parts = self._parts.setdefault(fragment.index, _Parts())
        if fragment.id and not parts.id:
            parts.id = fragment.id
        if fragment.function is not None:
            parts.name += fragment.function.name or ""
            parts.arguments += fragment.function.arguments or ""

    def __bool__(self) -> bool:
        return bool(self._parts)

    def calls(self) -> list[ToolCall]:
        return [
            ToolCall(p.id or f"call_{i}", p.name, p.arguments or "{}")
            for i, p in sorted(self._parts.items())
        ]


def assistant_message(text: str, calls: Sequence[ToolCall]) -> ChatCompletionMessageParam:
    """The history entry for a reply: its text and, if any, its tool calls."""
    if not calls:
        return {"role": "assistant", "content": text}
    return {
        "role": "assistant",
        "content": text or None,
        "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in calls
        ],
    }


def unanswered(calls: Sequence[ToolCall]) -> list[ChatCompletionToolMessageParam]:
    """Tool messages for calls whose run was interrupted: every call must have its answer."""
    content = tool_result({"ok": False, "error": "interrupted before it finished"})
    return [{"role": "tool", "tool_call_id": c.id, "content": content} for c in calls]


async def search_passages(retriever: Retriever, query: str, timeout_s: float) -> Sequence[Passage]:
    """``retriever.search(query)`` within ``timeout_s``; ToolError when it fails."""
    try:
        async with asyncio.timeout(timeout_s):
            return await retriever.search(query)
    except TimeoutError:
        raise ToolError(SEARCH_KNOWLEDGE, f"no result within {timeout_s:g} s") from None
    except Exception as exc:  # a broken search must not end the call
        raise ToolError(SEARCH_KNOWLEDGE, f"{type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class ToolRound:
    """The answers to one round of tool calls: the tool messages, the Hangup or Transfer one of
    them asked for, the result given to ``finish`` (None if not called) and the failures."""

    messages: list[ChatCompletionToolMessageParam]
    final: Hangup | Transfer | None
    finished: str | None
    errors: list[ToolError]


@dataclass(frozen=True, slots=True)
class _Outcome:
    result: dict[str, Any]
    action: Hangup | Transfer | None = None
    error: ToolError | None = None
    finished: str | None = None


class Toolbox:
    """The tools offered to the model for one call, and their execution. ``finish_when`` (set
    while a flow's bounded ``llm`` node runs) offers ``finish``, described by it."""

    def __init__(
        self,
        *,
        end_call: bool,
        transfer_targets: Mapping[str, str],
        retriever: Retriever | None = None,
        webhook_tools: Sequence[WebhookTool] = (),
        webhooks: WebhookCaller | None = None,
        search_timeout_s: float = 5.0,
        max_result_chars: int = 4000,
    ) -> None:
        self._end_call = end_call
        self._targets = transfer_targets
        self._retriever = retriever
        self._webhooks = webhooks
        self._custom = {t.name: t for t in webhook_tools} if webhooks is not None else {}
        if webhook_tools and webhooks is None:
            log.warning("webhook tools declared but no webhook client given: not offered")
        self._search_timeout_s = search_timeout_s
        self._max_result_chars = max_result_chars
        self.finish_when: str | None = None

    def definitions(self) -> list[ChatCompletionFunctionToolParam]:
        tools = build_tools(
            end_call=self._end_call,
            transfer_targets=self._targets,
            search_knowledge=self._retriever is not None,
            finish_when=self.finish_when,
        )
        return tools + [t.definition() for t in self._custom.values()]

    async def run(self, calls: Sequence[ToolCall], ctx: CallContext | None) -> ToolRound:
        """Answer every call (concurrently); the Hangup or Transfer one of them asked for."""
        outcomes = await asyncio.gather(*(self._run_one(c, ctx) for c in calls))
        messages: list[ChatCompletionToolMessageParam] = []
        for call, outcome in zip(calls, outcomes, strict=True):
            content = self._text(outcome.result)
            messages.append({"role": "tool", "tool_call_id": call.id, "content": content})
        return ToolRound(
            messages,
            final=next((o.action for o in outcomes if o.action is not None), None),
            finished=next((o.finished for o in outcomes if o.finished is not None), None),
            errors=[o.error for o in outcomes if o.error is not None],
        )

    async def _run_one(self, call: ToolCall, ctx: CallContext | None) -> _Outcome:
        if call.name == END_CALL and self._end_call:
            return _Outcome({"ok": True}, Hangup("llm_end_call"))
        if call.name == TRANSFER_CALL and self._targets:
            target = self._resolve_target(call.arguments)
            if target is None:
                allowed = sorted(self._targets)
                return _Outcome({"ok": False, "error": f"not an allowed target: {allowed}"})
            return _Outcome({"ok": True}, Transfer(target, "llm_transfer"))
        if call.name == FINISH and self.finish_when:
            args = _json_object(call.arguments) or {}
            result = args.get("result")
            text = result if isinstance(result, str) else json.dumps(args, ensure_ascii=False)
            return _Outcome({"ok": True}, finished=text.strip())
        if call.name == SEARCH_KNOWLEDGE and self._retriever is not None:
            return await self._search(self._retriever, call.arguments)
        tool = self._custom.get(call.name)
        if tool is not None and self._webhooks is not None:
            return await self._webhook(self._webhooks, tool, call.arguments, ctx)
        return _Outcome({"ok": False, "error": f"unknown tool {call.name!r}"})

    def _resolve_target(self, arguments: str) -> str | None:
        args = _json_object(arguments)
        name = args.get("target") if args is not None else None
        if not isinstance(name, str):
            return None
        if name in self._targets:
            return self._targets[name]
        return name if name in self._targets.values() else None

    async def _search(self, retriever: Retriever, arguments: str) -> _Outcome:
        args = _json_object(arguments)
        query = args.get("query") if args is not None else None
        if not isinstance(query, str) or not query.strip():
            return _Outcome({"ok": False, "error": 'give a non-empty "query" string'})
        try:
            passages = await search_passages(retriever, query, self._search_timeout_s)
        except ToolError as error:
            return _Outcome({"ok": False, "error": FAILED}, error=error)
        found = [{"text": p.text, "source": p.source} for p in passages]
        result: dict[str, Any] = {"ok": True, "passages": found}
        if not found:
            result["note"] = "Nothing found: tell the caller you do not know."
        return _Outcome(result)

    @staticmethod
    async def _webhook(
        webhooks: WebhookCaller, tool: WebhookTool, arguments: str, ctx: CallContext | None
    ) -> _Outcome:
        args = _json_object(arguments)
        if args is None:
            error = ToolError(tool.name, "the model's arguments are not a JSON object")
            return _Outcome({"ok": False, "error": "arguments must be a JSON object"}, error=error)
        problem = tool.check(args)
        if problem is not None:
            error = ToolError(tool.name, f"invalid arguments: {problem}")
            return _Outcome({"ok": False, "error": f"invalid arguments: {problem}"}, error=error)
        payload: dict[str, Any] = {"tool": tool.name, "arguments": args}
        if ctx is not None:
            payload["call"] = {"uid": ctx.call_uid, "caller": ctx.caller_number,
                               "dialed": ctx.dialed}
        try:
            async with asyncio.timeout(tool.timeout_s + 0.5):
                reply = await webhooks.call(tool.webhook, payload, tool.timeout_s)
        except TimeoutError:
            error = ToolError(tool.name, f"no answer within {tool.timeout_s:g} s")
            return _Outcome({"ok": False, "error": FAILED}, error=error)
        except Exception as exc:  # the tool boundary: a failed webhook must not end the call
            return _Outcome({"ok": False, "error": FAILED}, error=ToolError(tool.name, str(exc)))
        return _Outcome({"ok": True, "result": dict(reply)})

    def _text(self, result: Mapping[str, Any]) -> str:
        text = tool_result(result)
        if len(text) <= self._max_result_chars:
            return text
        inner = json.dumps(result.get("result", result), ensure_ascii=False)
        return tool_result(
            {"ok": result.get("ok", True), "truncated": True,
             "result_text": inner[: self._max_result_chars]}
        )


def _json_object(arguments: str) -> dict[str, Any] | None:
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
