"""The scripted OpenAI-compatible server speaks the protocol the official client expects."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import openai
import pytest

from tests.fakes.clients import make_openai_client
from tests.fakes.openai_server import Reply, ScriptedOpenAI, ToolCall

Started = tuple[ScriptedOpenAI, openai.AsyncOpenAI]
ServerFactory = Callable[..., Awaitable[Started]]


@pytest.fixture
async def make_server() -> AsyncIterator[ServerFactory]:
    async with AsyncExitStack() as stack:

        async def make(*replies: Reply, default: Reply | None = None) -> Started:
            server = await stack.enter_async_context(ScriptedOpenAI(replies, default=default))
            client = await stack.enter_async_context(
                await make_openai_client(
                    base_url=server.base_url, api_key="test-key", max_retries=0
                )
            )
            return server, client

        yield make


async def raw_events(server: ScriptedOpenAI, body: dict[str, Any]) -> list[str]:
    """The SSE ``data:`` payloads of one raw streaming request."""
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{server.base_url}/chat/completions", json=body) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/event-stream")
            text = await response.text()
    return [line[len("data: ") :] for line in text.split("\n") if line.startswith("data: ")]


async def test_listens_on_loopback_with_a_random_port() -> None:
    async with ScriptedOpenAI() as one, ScriptedOpenAI() as two:
        assert one.base_url.startswith("http://127.0.0.1:")
        assert one.base_url.endswith("/v1")
        assert one.base_url != two.base_url


async def test_streams_sse_chunks_then_done(make_server: ServerFactory) -> None:
    server, _ = await make_server(Reply(chunks=["Hel", "lo."]))
    events = await raw_events(server, {"model": "m", "messages": [], "stream": True})
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert content == "Hello."
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


async def test_official_client_streams_text(make_server: ServerFactory) -> None:
    server, client = await make_server(Reply.text("One two three."))
    stream = await client.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
    assert "".join(parts) == "One two three."
    assert len([p for p in parts if p]) == 3


async def test_tool_call_arguments_are_streamed_in_pieces(make_server: ServerFactory) -> None:
    call = ToolCall("transfer_call", {"target": "sales"}, id="call_1", argument_pieces=4)
    server, client = await make_server(Reply(tool_calls=[call]))
    stream = await client.chat.completions.create(model="m", messages=[], stream=True)
    fragments: list[str] = []
    ids: list[str] = []
    finish = None
    async for chunk in stream:
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for part in choice.delta.tool_calls or ():
            assert part.index == 0
            if part.id:
                ids.append(part.id)
            if part.function and part.function.arguments:
                fragments.append(part.function.arguments)
    assert ids == ["call_1"]
    assert len(fragments) == 4
    assert json.loads("".join(fragments)) == {"target": "sales"}
    assert finish == "tool_calls"


async def test_non_streaming_reply(make_server: ServerFactory) -> None:
    server, client = await make_server(
        Reply(chunks=["Fine, ", "thanks."], tool_calls=[ToolCall("end_call")])
    )
    completion = await client.chat.completions.create(model="m", messages=[])
    message = completion.choices[0].message
    assert message.content == "Fine, thanks."
    assert message.tool_calls is not None
    assert message.tool_calls[0].function.name == "end_call"  # type: ignore[union-attr]
    assert completion.choices[0].finish_reason == "tool_calls"


async def test_error_status(make_server: ServerFactory) -> None:
    server, client = await make_server(Reply(status=429, error_message="slow down"))
    with pytest.raises(openai.RateLimitError, match="slow down"):
        await client.chat.completions.create(model="m", messages=[], stream=True)


async def test_empty_script_answers_500_unless_a_default_is_set(make_server: ServerFactory) -> None:
    server, client = await make_server()
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(model="m", messages=[])
    server2, client2 = await make_server(default=Reply.text("Always this."))
    for _ in range(2):
        completion = await client2.chat.completions.create(model="m", messages=[])
        assert completion.choices[0].message.content == "Always this."


async def test_queue_and_records(make_server: ServerFactory) -> None:
    server, client = await make_server()
    server.queue(Reply.text("a"), Reply.text("b"))
    assert server.pending == 2
    await client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "first"}], temperature=0.1
    )
    assert server.pending == 1
    request = server.requests[0]
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer test-key"
    assert request.body["temperature"] == 0.1
    assert request.messages == [{"role": "user", "content": "first"}]


async def test_time_to_first_token_and_chunk_delay(make_server: ServerFactory) -> None:
    server, client = await make_server(Reply(chunks=["a", "b", "c"], ttft_s=0.2, chunk_delay_s=0.1))
    t0 = time.monotonic()
    stream = await client.chat.completions.create(model="m", messages=[], stream=True)
    arrivals: list[float] = []
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic() - t0)
    assert len(arrivals) == 3
    assert 0.18 <= arrivals[0] < 0.6
    assert arrivals[2] - arrivals[0] >= 0.18
    record = server.requests[0]
    assert record.first_chunk_at is not None and record.done_at is not None
    assert record.done_at - record.first_chunk_at >= 0.18


async def test_hang_and_close_promptly() -> None:
    server = ScriptedOpenAI([Reply(hang=True)])
    await server.start()
    async with await make_openai_client(
        base_url=server.base_url, api_key="k", max_retries=0, timeout=0.3
    ) as client:
        with pytest.raises(openai.APITimeoutError):
            await client.chat.completions.create(model="m", messages=[])
    t0 = time.monotonic()
    await server.close()
    assert time.monotonic() - t0 < 1.5
