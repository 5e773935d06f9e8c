"""Eager end of turn with the LLM engine, against the scripted streaming chat-completions server:
the request is made on the likely end, before the turn is confirmed; the caller going on closes
the stream and leaves the history as it was; a confirmed turn plays the streamed reply."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack

import pytest

from callwright.call.eager import EagerOutcome, EagerTurns, PreparedSay
from callwright.dialog.actions import CallContext, CallerTurn, Listen, Say
from callwright.dialog.llm_engine import LlmEngine, LlmSettings
from callwright.errors import LlmError
from tests.callwright.call.rig import wait_until
from tests.fakes.clients import make_openai_client
from tests.fakes.openai_server import Reply, ScriptedOpenAI

GREETING = "Hello, Acme bookings."


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as s:
        yield s


async def engine_with(
    stack: AsyncExitStack, *replies: Reply, on_error: Callable[[LlmError], None] | None = None,
) -> tuple[LlmEngine, ScriptedOpenAI]:
    server = await stack.enter_async_context(ScriptedOpenAI(replies))
    client = await stack.enter_async_context(
        await make_openai_client(base_url=server.base_url, api_key="sk-test"))
    engine = LlmEngine(client, LlmSettings(model="m", timeout_s=5.0,
                                           system_prompt="You book tables."), greeting=GREETING,
                       on_error=on_error)
    [_ async for _ in engine.begin(CallContext("c1", "1001", "7000", "en"))]
    return engine, server


class Voice:
    def __init__(self) -> None:
        self.texts: list[str] = []

    async def synthesize(self, text: str) -> bytes:
        self.texts.append(text)
        return b"\0\0" * 160


async def test_the_request_starts_on_a_likely_end_and_is_closed_when_the_caller_goes_on(
    stack: AsyncExitStack,
) -> None:
    slow = Reply.text("Sure thing. Which day would you like, and for how many people?",
                      chunk_delay_s=0.3)
    engine, server = await engine_with(stack, slow, Reply.text("For two, tomorrow. Done."))
    before = copy.deepcopy(engine.history)
    voice = Voice()
    eager = EagerTurns(engine, voice.synthesize)
    await eager.likely("I'd like a table")
    # The request went out on the likely end, with the words heard so far; its first sentence
    # is synthesised while the rest still streams, and nothing is confirmed yet.
    await wait_until(lambda: len(server.requests) == 1 and voice.texts == ["Sure thing."])
    assert server.requests[0].messages[-1] == {"role": "user", "content": "I'd like a table"}
    assert engine.side_effects.held
    # The caller goes on: the stream is closed, the history is as before.
    await eager.resumed()
    await wait_until(lambda: server.requests[0].disconnected)
    assert server.requests[0].done_at is None
    assert engine.history == before and not engine.side_effects.held
    # The turn ends later: answered as usual, with the whole turn; no trace of the first try.
    confirmed = await eager.confirm("I'd like a table for two tomorrow")
    assert confirmed.outcome is EagerOutcome.CANCELLED and confirmed.reply is None
    actions = [a async for a in engine.on_caller_turn(CallerTurn(
        "I'd like a table for two tomorrow"))]
    assert actions == [Say("For two, tomorrow."), Say("Done."), Listen()]
    users = [m["content"] for m in server.requests[1].messages if m["role"] == "user"]
    assert users == ["I'd like a table for two tomorrow"]


async def test_a_confirmed_turn_plays_the_streamed_reply_with_its_first_audio_ready(
    stack: AsyncExitStack,
) -> None:
    # 200 ms to the first token, as the figure assumes.
    engine, server = await engine_with(stack, Reply.text("Great. Your table is booked.",
                                                         ttft_s=0.2))
    voice = Voice()
    eager = EagerTurns(engine, voice.synthesize)
    await eager.likely("yes please")
    current = eager.current
    assert current is not None
    await wait_until(lambda: current.audio_ready)
    assert len(server.requests) == 1  # made before the confirmation
    confirmed = await eager.confirm("Yes, please.")
    assert confirmed.outcome is EagerOutcome.KEPT and confirmed.reply is not None
    reply = [item async for item in confirmed.reply]
    assert isinstance(reply[0], PreparedSay) and reply[0].say == Say("Great.")
    assert reply[0].audio.done() and reply[1:] == [Say("Your table is booked."), Listen()]
    assert voice.texts == ["Great."]  # only the first sentence is made ahead
    assert [m["role"] for m in engine.history] == ["assistant", "user", "assistant"]
    assert engine.history[-1]["content"] == "Great. Your table is booked."
    assert len(server.requests) == 1


async def test_other_final_words_drop_the_prepared_reply(stack: AsyncExitStack) -> None:
    engine, server = await engine_with(stack, Reply.text("Booked for Monday."),
                                       Reply.text("Booked for Tuesday."))
    eager = EagerTurns(engine, Voice().synthesize)
    await eager.likely("monday")
    await wait_until(lambda: eager.current is not None and eager.current.audio_ready)
    confirmed = await eager.confirm("tuesday")
    assert confirmed.outcome is EagerOutcome.MISMATCHED and confirmed.reply is None
    assert [m["role"] for m in engine.history] == ["assistant"]  # the Monday reply undone
    actions = [a async for a in engine.on_caller_turn(CallerTurn("tuesday"))]
    assert actions[0] == Say("Booked for Tuesday.")
    assert [m["content"] for m in engine.history[1:]] == ["tuesday", "Booked for Tuesday."]


async def test_a_request_failing_on_a_likely_end_is_reported_only_once_confirmed(
    stack: AsyncExitStack,
) -> None:
    reported: list[LlmError] = []
    engine, server = await engine_with(stack, Reply(status=500), Reply(status=500),
                                       Reply(status=500), Reply(status=500),
                                       on_error=reported.append)
    eager = EagerTurns(engine, Voice().synthesize)
    await eager.likely("a table")
    await wait_until(lambda: len(server.requests) == 2)  # the request and its one retry
    for _ in range(20):
        await asyncio.sleep(0.01)
    assert reported == [] and engine.errors == []  # held at the gate, not reported
    await eager.resumed()  # the caller went on: it never happened
    assert reported == [] and engine.errors == []
    await eager.likely("a table for two")
    await wait_until(lambda: len(server.requests) == 4)
    confirmed = await eager.confirm("a table for two")
    assert confirmed.reply is not None
    reply = [item async for item in confirmed.reply]  # confirmed: reported, asked again
    assert len(reported) == 1 and len(engine.errors) == 1
    assert isinstance(reply[-1], Listen)
