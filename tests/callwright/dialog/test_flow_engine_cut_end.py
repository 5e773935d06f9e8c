"""A flow's hang-up or transfer node whose reply is cut before the step was given (the caller's
typed or spoken turn lands while the goodbye is still being synthesised): the flow has ended, and
the next turn (or silence) gives the step, so the call is not left open."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

import pytest

from callwright.dialog.actions import CallContext, CallerTurn, Hangup, Say, Transfer
from callwright.dialog.flow import load_flow
from callwright.dialog.flow_engine import FlowEngine


def engine_ending_with(end: dict[str, Any]) -> FlowEngine:
    return FlowEngine(load_flow({
        "version": 1, "start": "what",
        "nodes": {
            "what": {"kind": "ask", "prompt": "What can I do?", "slot": "what",
                     "answer": "free_text", "next": "end"},
            "end": end,
        },
    }))


@pytest.mark.parametrize(("end", "step"), [
    ({"kind": "hangup", "text": "Goodbye.", "reason": "done"}, Hangup("done")),
    ({"kind": "transfer", "target": "PJSIP/200", "text": "Putting you through."},
     Transfer("PJSIP/200", "flow_transfer")),
])
@pytest.mark.parametrize("then", ["turn", "silence"])
async def test_a_reply_cut_before_its_step_gives_the_step_next(
    end: dict[str, Any], step: Hangup | Transfer, then: str,
) -> None:
    engine = engine_ending_with(end)
    [_ async for _ in engine.begin(CallContext("c1", "1001", "100", "en"))]
    async with aclosing(engine.on_caller_turn(CallerTurn("a question"))) as reply:
        assert await anext(reply) == Say(end["text"])  # cut here: the step never given
    nxt = engine.on_caller_turn(CallerTurn("wait")) if then == "turn" else engine.on_no_input()
    assert [a async for a in nxt] == [step]


async def test_a_step_given_is_not_given_again() -> None:
    engine = engine_ending_with({"kind": "transfer", "target": "PJSIP/200"})
    [_ async for _ in engine.begin(CallContext("c1", "1001", "100", "en"))]
    assert [a async for a in engine.on_caller_turn(CallerTurn("x"))] == [
        Transfer("PJSIP/200", "flow_transfer")]
    assert [a async for a in engine.on_no_input()] == []
    after = [a async for a in engine.on_transfer_failed()]
    assert isinstance(after[-1], Hangup)  # the apology and goodbye of a flow with no on_fail
    assert [a async for a in engine.on_caller_turn(CallerTurn("y"))] == []  # given once
