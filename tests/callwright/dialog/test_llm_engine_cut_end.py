"""The LLM engine's own goodbye (silence after silence) cut before its hang-up was given (the
caller's turn lands while it is still being synthesised): the engine has not ended, and the
caller's turn is answered, rather than nothing (the call left open)."""

from __future__ import annotations

from contextlib import AsyncExitStack, aclosing

from callwright.dialog.actions import CallContext, CallerTurn, Hangup, Listen, Say
from callwright.dialog.llm_engine import LlmEngine, LlmSettings
from tests.fakes.clients import make_openai_client
from tests.fakes.openai_server import Reply, ScriptedOpenAI


async def test_a_cut_no_input_goodbye_leaves_the_caller_answered() -> None:
    async with AsyncExitStack() as stack:
        server = await stack.enter_async_context(ScriptedOpenAI([Reply.text("Yes, go on.")]))
        client = await stack.enter_async_context(
            await make_openai_client(base_url=server.base_url, api_key="sk-test"))
        engine = LlmEngine(client, LlmSettings(model="m", timeout_s=5.0, max_no_input=0,
                                               system_prompt="Be brief."), greeting="Hi")
        [_ async for _ in engine.begin(CallContext("c1", "1001", "100", "en"))]
        async with aclosing(engine.on_no_input()) as reply:
            assert await anext(reply) == Say("Goodbye.")  # cut here: no hang-up given
        assert not engine.ended
        answer = [a async for a in engine.on_caller_turn(CallerTurn("hello?"))]
        assert answer == [Say("Yes, go on."), Listen()]
        # Not cut: the hang-up is given and the engine has ended.
        whole = [a async for a in engine.on_no_input()]
        assert whole == [Say("Goodbye."), Hangup("no_input")] and engine.ended
