"""A call led by an LLM (no flow): the real call service, a scripted OpenAI-compatible server
speaking the streaming chat-completions protocol, the PBX simulator, Vosk and espeak-ng."""

from __future__ import annotations

import asyncio
import time

import pytest

from ari_app.demo import DEMO_NUMBER
from ari_app.demo_caller import converse, heard_speech_after, synthesize_phrases
from callwright.call.assistant_runtime import APOLOGIES
from callwright.dialog.fixed_prompts import LLM_RETRY_LINES
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
            # One scripted reply, one request: no request on a likely end (test_eager_call).
            "CALLWRIGHT_VAD_EAGER": "false",
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


async def test_a_failing_llm_asks_again_then_ends_with_the_fallback_line(
    make_harness: MakeHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLWRIGHT_LLM_API_KEY", KEY)
    async with ScriptedOpenAI([]) as llm:  # every request answered HTTP 500
        h = await make_harness(flow=None, greeting=GREETING, env={
            "CALLWRIGHT_LLM_BASE_URL": llm.base_url, "CALLWRIGHT_LLM_MODEL": "scripted-model",
            # The requests are counted: none on a likely end (their failures would be reported
            # only for a confirmed turn, test_eager_llm).
            "CALLWRIGHT_VAD_EAGER": "false",
        })
        phrases = ["안녕하세요", "네"]
        audio = await synthesize_phrases(await h.caller_voice(), phrases, "ko")
        placed = time.monotonic()
        call = await h.sim.place_call(dialed=DEMO_NUMBER, caller_number="5553002",
                                      app=h.settings.ari.app)
        await converse(call, phrases, audio, placed_at=placed, turn_timeout_s=25)
        await asyncio.wait_for(call.ended(), 20)
        row = await h.closed_call()
        assert row.status == "completed" and row.end_reason == "llm_error"
        said = [t.text for t in await h.calls.turns(row.id) if t.speaker == "assistant"]
        # The first failure (after one retry): asked again, the call goes on; the second ends it.
        assert said == [GREETING, LLM_RETRY_LINES["ko"], APOLOGIES["ko"]]
        kinds = [e.kind for e in await h.calls.events(row.id)]
        assert kinds.count("llm_error") == 2
        assert len(llm.requests) == 4  # each reply tried twice


async def test_an_llm_failing_twice_hands_the_caller_back_to_the_dialplan(
    make_harness: MakeHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLWRIGHT_LLM_API_KEY", KEY)
    async with ScriptedOpenAI([]) as llm:
        h = await make_harness(flow=None, greeting=GREETING, env={
            "CALLWRIGHT_LLM_BASE_URL": llm.base_url, "CALLWRIGHT_LLM_MODEL": "scripted-model",
            "CALLWRIGHT_CALLS_FALLBACK_TARGET": "callwright-operator,0,1",
        })
        phrases = ["안녕하세요", "네"]
        audio = await synthesize_phrases(await h.caller_voice(), phrases, "ko")
        placed = time.monotonic()
        call = await h.sim.place_call(dialed=DEMO_NUMBER, caller_number="5553003",
                                      app=h.settings.ari.app)
        await converse(call, phrases, audio, placed_at=placed, turn_timeout_s=25)
        await asyncio.wait_for(call.ended(), 20)
        assert call.continued_to is not None
        target = call.continued_to
        assert (target.context, target.extension, target.priority) == ("callwright-operator",
                                                                         "0", 1)
        row = await h.closed_call()
        assert row.status == "transferred" and row.end_reason == "llm_error"
        turns = await h.calls.turns(row.id)
        assert turns[-1].speaker == "assistant" and turns[-1].text == APOLOGIES["ko"]


async def test_an_llm_hanging_for_one_call_does_not_slow_another(
    make_harness: MakeHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Call A's LLM requests hang (its first one, then its retry); call B, speaking a moment
    later, gets its answer as fast as if it were alone."""
    monkeypatch.setenv("CALLWRIGHT_LLM_API_KEY", KEY)
    answer = "네, 말씀하세요."
    async with ScriptedOpenAI(
        [Reply(hang=True), Reply.text(answer, ttft_s=0.1), Reply(hang=True)]
    ) as llm:
        h = await make_harness(flow=None, greeting=GREETING, env={
            "CALLWRIGHT_LLM_BASE_URL": llm.base_url, "CALLWRIGHT_LLM_MODEL": "scripted-model",
            "CALLWRIGHT_LLM_TIMEOUT_S": "2",
            # The replies are scripted in the order of the requests: none on a likely end.
            "CALLWRIGHT_VAD_EAGER": "false",
        })
        (hello,) = await synthesize_phrases(await h.caller_voice(), ["안녕하세요"], "ko")
        app = h.settings.ari.app
        placed = time.monotonic()
        a = await h.sim.place_call(dialed=DEMO_NUMBER, caller_number="5553004", app=app)
        b = await h.sim.place_call(dialed=DEMO_NUMBER, caller_number="5553005", app=app)
        for call in (a, b):
            await heard_speech_after(call.caller, placed, 15)
            await call.caller.wait_until_quiet(800, timeout=15)

        async def b_speaks() -> float:
            await asyncio.sleep(0.4)  # B's request comes just after A's first one
            await b.caller.say(hello)
            return time.monotonic()

        _, said_at = await asyncio.gather(a.caller.say(hello), b_speaks())
        b_heard = await heard_speech_after(b.caller, said_at, 10)
        a_heard = await heard_speech_after(a.caller, said_at, 10)
        await a.caller.wait_until_quiet(800, timeout=15)  # the retry line is played and logged
        for call in (a, b):
            await call.caller.hangup()
        rows = {row.caller_number: row for row in await h.calls.list_recent_all_orgs(2)}
        b_turns = await h.calls.turns(rows["5553005"].id)
        a_turns = await h.calls.turns(rows["5553004"].id)
        (b_reply,) = [t for t in b_turns if t.text == answer]
        (a_reply,) = [t for t in a_turns if t.text == LLM_RETRY_LINES["ko"]]
        # B: end of turn to first frame as for any reply; A waited its whole reply budget (3 s).
        assert b_reply.first_frame_ms is not None and b_reply.first_frame_ms < 1500
        assert a_reply.first_frame_ms is not None and a_reply.first_frame_ms > 2800
        assert b_heard < a_heard
