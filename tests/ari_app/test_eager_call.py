"""Eager end of turn in a whole call: the real call service, the PBX simulator, Vosk, espeak-ng
and the scripted streaming chat-completions server, whose every reply says the caller's words
back. The caller pauses inside the turn after words that could be its end: a reply is prepared for
words heard before the end of the turn (in the pause, or in the silence after the last words while
the recogniser's partial still lags) and taken back when the caller goes on or the final words
differ. The caller hears nothing during the pause and then one reply, to the whole turn."""

from __future__ import annotations

import time

import pytest

from ari_app.demo import DEMO_NUMBER
from ari_app.demo_caller import heard_speech_after
from bench.turn_corpus import LEAD_MS, CorpusItem, render
from bench.turn_taking import first_reply
from tests.ari_app.conftest import MakeHarness
from tests.fakes.openai_server import RecordedRequest, Reply, ScriptedOpenAI

pytestmark = pytest.mark.slow
KEY = "sk-test-3b81d0c4"
GREETING = "네, 말씀하세요."
#: Words that may be the whole answer ("tomorrow evening"), 250 ms of silence (a likely end after
#: 120 ms; free speech ends after 360), then the rest of the turn.
PAUSED = CorpusItem("ko_evening_then_more", "ko", "free",
                    ("내일 저녁", "일곱 시에 두 명 예약하고 싶어요"), (250,))


def said_back(request: RecordedRequest) -> Reply:
    return Reply.text(f"{request.messages[-1]['content']} 맞으시죠?", ttft_s=0.2)


async def test_a_reply_prepared_on_a_pause_inside_the_turn_is_never_heard(
    make_harness: MakeHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLWRIGHT_LLM_API_KEY", KEY)
    async with ScriptedOpenAI(answer=said_back) as llm:
        # An LLM assistant prepares eagerly only when its media.eager says so.
        h = await make_harness(flow=None, media={"eager": True}, greeting=GREETING, env={
            "CALLWRIGHT_LLM_BASE_URL": llm.base_url, "CALLWRIGHT_LLM_MODEL": "scripted-model",
        })
        audio = render(PAUSED)
        call = await h.sim.place_call(dialed=DEMO_NUMBER, caller_number="5553101",
                                      app=h.settings.ari.app)
        await call.caller.wait_until_quiet(600, timeout=20)  # the greeting
        said_at = time.monotonic()
        await call.caller.say(audio.pcm)  # with 1.5 s of silence after the words
        await heard_speech_after(call.caller, said_at + LEAD_MS / 1000, 20)  # the reply...
        await call.caller.wait_until_quiet(600, timeout=20)  # ... to its end
        await call.caller.hangup()
        row = await h.closed_call()
        turns = await h.calls.turns(row.id)
    [caller] = [t for t in turns if t.speaker == "caller"]  # the pause did not end the turn
    replies = [t.text for t in turns if t.speaker == "assistant"]
    # A reply was prepared on words heard before the end of the turn (the pause, or the silence
    # after the last words before the recogniser had them all)...
    asked = [r.messages[-1]["content"] for r in llm.requests]
    assert any(words != caller.text for words in asked), (asked, caller.text)
    assert (caller.meta or {}).get("eager") in ("kept", "cancelled", "mismatched")
    # ... and never played: the only reply played (the journal logs every reply played, whole
    # or cut) answers the whole turn, and the caller heard nothing before the end of their words.
    assert replies == [GREETING, f"{caller.text} 맞으시죠?"]
    assert not any(t.interrupted for t in turns)
    heard = first_reply(call.caller, said_at + LEAD_MS / 1000)
    assert heard is not None and heard[0] >= said_at + audio.speech_end_ms / 1000
