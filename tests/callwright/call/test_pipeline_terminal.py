"""The caller talking over the words before a hang-up or transfer (a flow's hang-up node, "I'll put
you through", the LLM's end_call/transfer_call): the words stop, the step is still taken
(callwright.call.terminal_actions); an LLM reply cut before its tool ran decided nothing yet."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest

from callwright.call.outcome import CallOutcome
from callwright.dialog.actions import Hangup, Say, Transfer
from callwright.dialog.flow import load_flow
from callwright.dialog.flow_engine import FlowEngine
from callwright.dialog.llm_engine import LlmEngine, LlmSettings
from tests.callwright.call.conftest import MakeRig
from tests.callwright.call.rig import FakeStt, Rig, ScriptedDialog, speech_pcm, wait_until
from tests.fakes.clients import make_openai_client
from tests.fakes.openai_server import Reply, ScriptedOpenAI, ToolCall

GOODBYE = "Thank you for calling, we will see to it today, have a lovely evening, goodbye."
PUT_THROUGH = "I will put you through to sales now, please hold the line while it rings."


async def answer_then_talk_over_the_reply(rig: Rig) -> None:
    """The caller answers the greeting, then talks over the reply half a second into it."""
    await wait_until(lambda: rig.transport.voiced_frames() > 5)
    await asyncio.sleep(0.3)
    await rig.transport.speak(speech_pcm("yes please"))
    await wait_until(lambda: len(rig.store.turns) == 2)  # the caller's turn
    sent = rig.transport.voiced_frames()
    await wait_until(lambda: rig.transport.voiced_frames() > sent + 25)
    await rig.transport.speak(speech_pcm("okay bye bye"))


def assert_cut_and_heard(rig: Rig, text: str, said: str) -> None:
    """The reply is journalled as interrupted (what was heard), then the caller's words."""
    greeting, answer, reply, talked_over = rig.store.turns
    assert [t["speaker"] for t in rig.store.turns] == ["assistant", "caller"] * 2
    assert reply["interrupted"] is True and 0 < len(reply["text"]) < len(text)
    assert ("barge_in", {"why": "barge_in", "heard": reply["text"]}) in rig.store.events
    assert talked_over["text"] == said
    assert rig.pipeline.barge_ins == 1


async def test_talking_over_the_goodbye_still_hangs_up(make_rig: MakeRig) -> None:
    dialog = ScriptedDialog("Hi", {"yes": [Say(GOODBYE), Hangup("assistant_hangup")]})
    rig = make_rig(dialog, ["yes", "bye"])
    await answer_then_talk_over_the_reply(rig)
    outcome = await asyncio.wait_for(rig.task, 10)
    # As if the goodbye had played to its end; the caller's words were heard first.
    assert outcome == CallOutcome("completed", "assistant_hangup")
    assert_cut_and_heard(rig, GOODBYE, "bye")
    assert [t.text for t in dialog.turns] == ["yes"]  # nothing more asked of the dialog
    assert rig.transport.voiced_frames() < 60 * len(GOODBYE) // 20  # the goodbye stopped


async def test_talking_over_the_announcement_still_transfers(make_rig: MakeRig) -> None:
    transfers: list[str] = []

    async def transfer(target: str) -> bool:
        transfers.append(target)
        return True

    dialog = ScriptedDialog("Hi", {"yes": [Say(PUT_THROUGH), Transfer("PJSIP/200")]})
    rig = make_rig(dialog, ["yes", "bye"], transfer=transfer)
    await answer_then_talk_over_the_reply(rig)
    outcome = await asyncio.wait_for(rig.task, 10)
    assert outcome == CallOutcome("transferred", "transfer", "PJSIP/200")
    assert transfers == ["PJSIP/200"]
    assert_cut_and_heard(rig, PUT_THROUGH, "bye")
    kinds = rig.kinds()
    assert kinds.index("barge_in") < kinds.index("transfer_started")


async def test_a_flow_hangup_node_talked_over_ends_the_call(make_rig: MakeRig) -> None:
    flow = load_flow({
        "version": 1, "start": "what",
        "nodes": {
            "what": {"kind": "ask", "prompt": "Hi", "slot": "what",
                     "answer": "free_text", "next": "bye"},
            "bye": {"kind": "hangup", "text": GOODBYE, "reason": "done"},
        },
    })
    rig = make_rig(FlowEngine(flow), ["yes", "bye"])
    await answer_then_talk_over_the_reply(rig)
    outcome = await asyncio.wait_for(rig.task, 10)
    assert outcome == CallOutcome("completed", "done")
    assert_cut_and_heard(rig, GOODBYE, "bye")
    assert rig.store.turns[2]["meta"] == {"node": "bye"}


async def test_a_caller_who_goes_on_talking_is_hung_up_within_the_hold(
    make_rig: MakeRig,
) -> None:
    dialog = ScriptedDialog("Hi", {"yes": [Say(GOODBYE), Hangup("assistant_hangup")]})
    # The recogniser never answers the words said over the goodbye (nor times out soon).
    rig = make_rig(dialog, stt=FakeStt(["yes"], hang_turns={1}), stt_timeout_s=60.0)
    await answer_then_talk_over_the_reply(rig)
    cut_at = time.monotonic()
    outcome = await asyncio.wait_for(rig.task, 10)
    assert outcome == CallOutcome("completed", "assistant_hangup")
    assert time.monotonic() - cut_at < 6.0  # CALLER_HOLD_S (4 s) after the words were cut
    assert rig.store.turns[2]["interrupted"] is True


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as s:
        yield s


async def llm_with(stack: AsyncExitStack, *replies: Reply) -> tuple[LlmEngine, ScriptedOpenAI]:
    server = await stack.enter_async_context(ScriptedOpenAI(replies))
    client = await stack.enter_async_context(
        await make_openai_client(base_url=server.base_url, api_key="sk-test"))
    settings = LlmSettings(model="m", timeout_s=5.0, system_prompt="You take orders.",
                           transfer_targets={"sales": "PJSIP/200"})
    return LlmEngine(client, settings, greeting="Hi"), server


async def test_talking_over_the_llm_goodbye_still_ends_the_call(
    make_rig: MakeRig, stack: AsyncExitStack,
) -> None:
    llm, server = await llm_with(stack, Reply.text(GOODBYE, tool_calls=[ToolCall("end_call")]))
    rig = make_rig(llm, ["yes", "bye"])
    await answer_then_talk_over_the_reply(rig)
    outcome = await asyncio.wait_for(rig.task, 10)
    assert outcome == CallOutcome("completed", "llm_end_call")
    assert_cut_and_heard(rig, GOODBYE, "bye")
    assert len(server.requests) == 1  # the model is not asked again: the call was over
    # The model's goodbye is cut to what the caller heard, as after any barge-in.
    said = [m for m in llm.history if m["role"] == "assistant" and m.get("content")]
    assert said[-1]["content"] == rig.store.turns[2]["text"]


async def test_talking_over_the_llm_transfer_announcement_still_transfers(
    make_rig: MakeRig, stack: AsyncExitStack,
) -> None:
    transfers: list[str] = []

    async def transfer(target: str) -> bool:
        transfers.append(target)
        return True

    llm, _ = await llm_with(stack, Reply.text(
        PUT_THROUGH, tool_calls=[ToolCall("transfer_call", {"target": "sales"})]))
    rig = make_rig(llm, ["yes", "bye"], transfer=transfer)
    await answer_then_talk_over_the_reply(rig)
    outcome = await asyncio.wait_for(rig.task, 10)
    assert outcome == CallOutcome("transferred", "llm_transfer", "PJSIP/200")
    assert transfers == ["PJSIP/200"]
    assert_cut_and_heard(rig, PUT_THROUGH, "bye")


async def test_an_llm_reply_cut_before_its_end_call_ran_lets_the_model_decide_again(
    make_rig: MakeRig, stack: AsyncExitStack,
) -> None:
    # The goodbye streams slowly: the caller cuts it before the model's answer (and its end_call)
    # is complete, so nothing was decided yet; the model hears them and ends the call itself.
    rest = "We will see to it today and call you back tomorrow morning, goodbye.".split()
    slow = Reply(chunks=["Thank you for calling, have a lovely evening. ",
                         *(f"{w} " for w in rest)],
                 chunk_delay_s=0.5, tool_calls=[ToolCall("end_call")])
    llm, server = await llm_with(stack, slow, Reply.text("Bye.", tool_calls=[
        ToolCall("end_call")]))
    rig = make_rig(llm, ["yes", "bye"])
    await answer_then_talk_over_the_reply(rig)
    outcome = await asyncio.wait_for(rig.task, 15)
    assert outcome == CallOutcome("completed", "llm_end_call")
    assert len(server.requests) == 2
    assert server.requests[1].messages[-1] == {"role": "user", "content": "bye"}
    assert rig.store.turns[2]["interrupted"] is True
    assert [t["text"] for t in rig.store.turns][-1] == "Bye."


async def test_a_caller_hanging_up_while_the_step_waits_leaves_one_interrupted_goodbye(
    make_rig: MakeRig,
) -> None:
    dialog = ScriptedDialog("Hi", {"yes": [Say(GOODBYE), Hangup("assistant_hangup")]})
    rig = make_rig(dialog, stt=FakeStt(["yes"], hang_turns={1}), stt_timeout_s=60.0)
    await answer_then_talk_over_the_reply(rig)
    await wait_until(lambda: len(rig.store.turns) == 3)  # the goodbye, cut
    rig.pipeline.end(CallOutcome("completed", "caller_hangup"))
    outcome = await asyncio.wait_for(rig.task, 5)
    assert outcome == CallOutcome("completed", "caller_hangup")
    # The cut goodbye is journalled once, and the dialog told once, with what was heard.
    assert len(rig.store.turns) == 3 and rig.store.turns[2]["interrupted"] is True
    assert dialog.interrupted == [rig.store.turns[2]["text"]]
    assert rig.kinds().count("barge_in") == 1
