"""Reading one streamed chat completion for the :class:`~callwright.dialog.llm_engine.LlmEngine`:
whether a chunk carries anything, what it adds to the reply (sentences to speak, fragments of tool
calls), closing the stream, and what a failed request was (worth one retry or not, and how to
say it in the call's errors).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import openai
from openai.types.chat import ChatCompletionChunk

from callwright.dialog.llm_tools import ToolCall, ToolCallAssembler
from callwright.dialog.sentences import SentenceSplitter

log = logging.getLogger(__name__)

#: The least of a reply's latency budget a retry is made with.
MIN_RETRY_S = 0.5
#: HTTP statuses worth a second try: the server is busy or broken for a moment.
RETRY_STATUSES = frozenset({408, 409, 429})


@dataclass(slots=True)
class Attempt:
    """How one request of a reply went (``LlmEngine._attempt`` fills it in)."""

    wait_s: float  # the longest wait for its first chunk
    spoken: list[str] = field(default_factory=list)
    made: list[ToolCall] = field(default_factory=list)
    failure: BaseException | None = None
    ttft: float | None = None  # seconds to the first content or tool-call fragment


class UnusableReply(Exception):
    """A reply that streamed fine but cannot be used (empty, or tool rounds without end)."""


def is_retryable(exc: BaseException) -> bool:
    """A request that failed for a reason another try may not meet: a timeout, no connection,
    HTTP 408/409/429 or 5xx. Not: a refused request (4xx), an unusable answer."""
    if isinstance(exc, TimeoutError | openai.APIConnectionError):  # timeouts included
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in RETRY_STATUSES or exc.status_code >= 500
    return False


def failure_reason(exc: BaseException, waited_s: float) -> str:
    """What went wrong, for the call's errors (``waited_s``: the wait that timed out)."""
    if isinstance(exc, TimeoutError | openai.APITimeoutError):
        return f"the LLM timed out after {waited_s:.3g} s"
    if isinstance(exc, openai.APIStatusError):
        return f"the LLM answered HTTP {exc.status_code}: {exc.message}"
    if isinstance(exc, UnusableReply):
        return str(exc)
    return f"the LLM call failed: {type(exc).__name__}: {exc}"


def _has_payload(chunk: ChatCompletionChunk) -> bool:
    return any(c.delta.content or c.delta.tool_calls for c in chunk.choices)


async def _close_quietly(stream: openai.AsyncStream[ChatCompletionChunk]) -> None:
    """Close the HTTP stream; a failure to close must not mask why we are closing."""
    try:
        await stream.close()
    except Exception as exc:  # closing a broken connection can fail in many ways; none matter
        log.debug("closing the LLM stream failed: %r", exc)


def _absorb(
    chunk: ChatCompletionChunk, splitter: SentenceSplitter, calls: ToolCallAssembler
) -> list[str]:
    sentences: list[str] = []
    for choice in chunk.choices:
        if choice.index != 0:
            continue
        delta = choice.delta
        if delta.content:
            sentences.extend(splitter.push(delta.content))
        for fragment in delta.tool_calls or ():
            calls.add(fragment)
    return sentences
