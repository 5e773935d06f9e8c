"""A real local HTTP server that speaks the OpenAI chat-completions protocol, with scripted replies.

    async with ScriptedOpenAI([Reply(chunks=["Hello ", "there."])]) as server:
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="test-key")

It listens on 127.0.0.1 on a random port and answers ``POST /v1/chat/completions`` streaming
(server-sent events: ``data: {chunk}`` lines with ``choices[0].delta`` content or tool-call
fragments, then ``data: [DONE]``) or not (one ``chat.completion`` JSON), from a queue of
:class:`Reply` scripts; when the queue is empty it asks ``answer`` for a reply made from the
request, or uses ``default`` (or answers 500). A reply can
wait before its first token, between chunks, fail with an HTTP status, or hang (to trigger client
timeouts). Every request is recorded (headers, JSON body, timings) in
:attr:`ScriptedOpenAI.requests`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

__all__ = ["RecordedRequest", "Reply", "ScriptedOpenAI", "ToolCall"]


@dataclass(frozen=True)
class ToolCall:
    """A tool call in a reply. ``arguments`` (a dict, or raw JSON text) is streamed in
    ``argument_pieces`` fragments so that clients must assemble it."""

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None
    argument_pieces: int = 3


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    ``chunks``: content deltas, in order. ``tool_calls``: streamed after the content.
    ``ttft_s``: delay before the first token. ``chunk_delay_s``: delay between chunks.
    ``status``: an HTTP error status instead of an answer (with ``error_message``).
    ``hang``: never answer (until the server closes). ``hang_after``: stop streaming after this many
    chunks and hang (a stalled stream).
    """

    chunks: Sequence[str] = ()
    tool_calls: Sequence[ToolCall] = ()
    ttft_s: float = 0.0
    chunk_delay_s: float = 0.0
    status: int = 200
    error_message: str = "scripted error"
    hang: bool = False
    hang_after: int | None = None
    finish_reason: str | None = None

    @staticmethod
    def text(text: str, *, words_per_chunk: int = 1, **kwargs: Any) -> Reply:
        """A reply streaming ``text`` a few words per chunk."""
        words = text.split(" ")
        chunks = [
            " ".join(words[i : i + words_per_chunk])
            + (" " if i + words_per_chunk < len(words) else "")
            for i in range(0, len(words), words_per_chunk)
        ]
        return Reply(chunks=chunks, **kwargs)


@dataclass
class RecordedRequest:
    """What a client sent, and when the answer started and finished (``time.monotonic``)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    received_at: float
    first_chunk_at: float | None = None
    done_at: float | None = None
    disconnected: bool = False

    @property
    def messages(self) -> list[dict[str, Any]]:
        body = self.body if isinstance(self.body, dict) else {}
        messages = body.get("messages", [])
        return messages if isinstance(messages, list) else []


class ScriptedOpenAI:
    """The fake OpenAI server. Use as an async context manager, or ``start()`` / ``close()``."""

    def __init__(
        self,
        replies: Iterable[Reply] = (),
        *,
        default: Reply | None = None,
        answer: Callable[[RecordedRequest], Reply] | None = None,
        model: str = "scripted-model",
    ) -> None:
        self._replies: deque[Reply] = deque(replies)
        self.default = default
        #: Makes the reply from the request itself (when no scripted one is queued), e.g. one
        #: that says the caller's last words back.
        self.answer = answer
        self.model = model
        self.requests: list[RecordedRequest] = []
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._ids = itertools.count(1)

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat_completions)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        address = self._runner.addresses[0]
        self._port = int(address[1])

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> ScriptedOpenAI:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- scripting and inspection -------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("the server is not started")
        return f"http://127.0.0.1:{self._port}/v1"

    def queue(self, *replies: Reply) -> None:
        """Add replies to the end of the script."""
        self._replies.extend(replies)

    @property
    def pending(self) -> int:
        """Scripted replies not used yet."""
        return len(self._replies)

    # --- handlers -----------------------------------------------------------------------------

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"object": "list", "data": [{"id": self.model, "object": "model"}]}
        )

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            headers=dict(request.headers),
            body=body,
            received_at=time.monotonic(),
        )
        self.requests.append(record)
        reply = (self._replies.popleft() if self._replies
                 else self.answer(record) if self.answer is not None else self.default)
        if reply is None:
            return _error(500, "no scripted reply left")
        if reply.hang:
            await self._closing.wait()
            return _error(503, "server closing")
        if reply.status != 200:
            if reply.ttft_s:
                await self._sleep(reply.ttft_s)
            return _error(reply.status, reply.error_message)
        model = body.get("model", self.model) if isinstance(body, dict) else self.model
        if isinstance(body, dict) and body.get("stream"):
            return await self._stream(request, reply, record, model)
        await self._sleep(reply.ttft_s)
        record.first_chunk_at = record.done_at = time.monotonic()
        return web.json_response(self._completion(reply, model))

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            try:
                await asyncio.wait_for(self._closing.wait(), seconds)
            except TimeoutError:
                pass

    async def _stream(
        self, request: web.Request, reply: Reply, record: RecordedRequest, model: str
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        cid = f"chatcmpl-{next(self._ids)}"
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            data = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()

        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
        deltas += [{"content": text} for text in reply.chunks]
        deltas += _tool_call_deltas(reply.tool_calls)
        finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        try:
            await self._sleep(reply.ttft_s)
            for n, delta in enumerate(deltas):
                if reply.hang_after is not None and n > reply.hang_after:
                    await self._closing.wait()
                    return response
                if n > 1:
                    await self._sleep(reply.chunk_delay_s)
                if self._closing.is_set():
                    return response
                await response.write(chunk(delta))
                if n == 1 or (n == 0 and len(deltas) == 1):
                    record.first_chunk_at = time.monotonic()
            await response.write(chunk({}, finish))
            await response.write(b"data: [DONE]\n\n")
            record.done_at = time.monotonic()
            await response.write_eof()
        except ConnectionError:  # the client went away (barge-in, timeout)
            record.disconnected = True
        except asyncio.CancelledError:
            record.disconnected = True
            raise
        return response

    def _completion(self, reply: Reply, model: str) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(reply.chunks) or None}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call.id or f"call_{i}",
                    "type": "function",
                    "function": {"name": call.name, "arguments": _arguments(call)},
                }
                for i, call in enumerate(reply.tool_calls)
            ]
        finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        return {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }


def _arguments(call: ToolCall) -> str:
    if isinstance(call.arguments, str):
        return call.arguments
    return json.dumps(call.arguments, ensure_ascii=False)


def _tool_call_deltas(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    deltas: list[dict[str, Any]] = []
    for index, call in enumerate(calls):
        deltas.append(
            {
                "tool_calls": [
                    {
                        "index": index,
                        "id": call.id or f"call_{index}",
                        "type": "function",
                        "function": {"name": call.name, "arguments": ""},
                    }
                ]
            }
        )
        text = _arguments(call)
        pieces = max(1, call.argument_pieces)
        size = max(1, -(-len(text) // pieces))
        for start in range(0, len(text), size):
            deltas.append(
                {
                    "tool_calls": [
                        {"index": index, "function": {"arguments": text[start : start + size]}}
                    ]
                }
            )
    return deltas


def _error(status: int, message: str) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "server_error", "param": None, "code": None}},
        status=status,
    )
