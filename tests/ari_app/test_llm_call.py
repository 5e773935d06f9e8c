"""A call led by an LLM (no flow): the real call service, a scripted OpenAI-compatible server
speaking the streaming chat-completions protocol, the PBX simulator, Vosk and espeak-ng."""

from __future__ import annotations

import asyncio
import time

import pytest

from ari_app.demo import DEMO_NUMBER
from ari_app.demo_caller import converse, synthesize_phrases
from tests.ari_app.conftest import MakeHarness
from tests.fakes.openai_server import Reply, ScriptedOpenAI, ToolCall

pytestmark = pytest.mark.slow
KEY = "sk-test-5f7e1c9a"
GREETING = "안녕하세요, 무엇을 도와드릴까요?"


async def test_an_llm_reply_is_streamed_spoken_and_ends_the_call(
    make_harness: MakeHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLWRIGHT_LLM_API_KEY", KEY)
    reply = Reply.text("네, 알겠습니다. 예약을 도와드리겠습니다.", words_per_chunk=1,
                       ttft_s=0.2, chunk_delay_s=0.05,
                       tool_calls=[ToolCall("end_call", {"reason": "done"})])
    async with ScriptedOpenAI([reply]) as llm:
        h = await make_harness(flow=None, greeting=GREETING, env={
            "CALLWRIGHT_LLM_BASE_URL": llm.base_url, "CALLWRIGHT_LLM_MODEL": "scripted-model",
        })
        audio = await synthesize_phrases(await h.caller_voice(), ["안녕하세요"], "ko")
        placed = time.monotonic()
        call = await h.sim.place_call(dialed=DEMO_NUMBER, caller_number="5553001",
                                      app=h.settings.ari.app)
        report = await converse(call, ["안녕하세요"], audio, placed_at=placed, turn_timeout_s=25)
        assert report.ended_by_assistant
        row = await h.closed_call()
        assert row.status == "completed"
        turns = await h.calls.turns(row.id)
        assert [t.speaker for t in turns] == ["assistant", "caller", "assistant"]
        assert turns[0].text == GREETING
        assert turns[2].text == "네, 알겠습니다. 예약을 도와드리겠습니다."
        # The request: the system prompt, the greeting as heard, what the caller said; the key
        # only in the Authorization header.
        (request,) = llm.requests
        assert request.headers["Authorization"] == f"Bearer {KEY}"
        roles = [m["role"] for m in request.messages]
        assert roles[0] == "system" and roles[-1] == "user"
        assert request.messages[-1]["content"] == turns[1].text
        assert KEY not in str(request.body)


async def test_a_failing_llm_gives_the_fallback_line_and_a_recorded_error(
    make_harness: MakeHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLWRIGHT_LLM_API_KEY", KEY)
    async with ScriptedOpenAI([Reply(status=500)]) as llm:
        h = await make_harness(flow=None, greeting=GREETING, env={
            "CALLWRIGHT_LLM_BASE_URL": llm.base_url, "CALLWRIGHT_LLM_MODEL": "scripted-model",
        })
        audio = await synthesize_phrases(await h.caller_voice(), ["안녕하세요"], "ko")
        placed = time.monotonic()
        call = await h.sim.place_call(dialed=DEMO_NUMBER, caller_number="5553002",
                                      app=h.settings.ari.app)
        await converse(call, ["안녕하세요"], audio, placed_at=placed, turn_timeout_s=25)
        await asyncio.wait_for(call.ended(), 20)
        row = await h.closed_call()
        turns = await h.calls.turns(row.id)
        assert turns[-1].speaker == "assistant" and "죄송합니다" in turns[-1].text
        kinds = [e.kind for e in await h.calls.events(row.id)]
        assert "llm_error" in kinds
