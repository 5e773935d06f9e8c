"""Reading one streamed chat completion for the :class:`~callwright.dialog.llm_engine.LlmEngine`:
whether a chunk carries anything, what it adds to the reply (sentences to speak, fragments of tool
calls), and closing the stream.
"""

from __future__ import annotations

import logging

import openai
from openai.types.chat import ChatCompletionChunk

from callwright.dialog.llm_tools import ToolCallAssembler
from callwright.dialog.sentences import SentenceSplitter

log = logging.getLogger(__name__)


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
