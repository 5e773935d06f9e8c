"""A flow step run speculatively (eager end of turn) is undone by ``restore`` and runs no webhook
while the side-effect gate is held."""

from __future__ import annotations

import asyncio
import copy
from contextlib import aclosing

import pytest

from callwright.dialog.actions import CallContext, CallerTurn, Listen, Say, Transfer
from callwright.dialog.flow import load_flow
from callwright.dialog.flow_engine import FlowEngine
from callwright.dialog.speculation import SideEffectGate, Speculative
from tests.callwright.dialog.test_flow_engine import FLOW, NOW, _booking_nodes, run, texts
from tests.callwright.dialog.test_flow_nodes import Hooks


def make_ctx() -> CallContext:
    return CallContext(call_uid="c1", caller_number="+15550100", dialed="100", language="en-US")


def make_engine() -> FlowEngine:
    return FlowEngine(load_flow(copy.deepcopy(FLOW)))


def booking(hooks: Hooks) -> FlowEngine:
    nodes = {**_booking_nodes(on_error="oops"),
             "end": {"kind": "hangup", "text": "Done.", "reason": "done"}}
    doc = {"version": 1, "start": "size", "nodes": nodes}
    return FlowEngine(load_flow(doc), clock=lambda: NOW, webhooks=hooks)


def state(engine: FlowEngine) -> dict[str, object]:
    return {name: copy.copy(getattr(engine, name)) for name in FlowEngine.STATE}


async def test_a_step_taken_back_leaves_the_flow_as_it_was() -> None:
    engine = make_engine()
    assert isinstance(engine, Speculative)
    ctx = make_ctx()
    await run(engine.begin(ctx))
    before, slots = state(engine), dict(ctx.slots)
    snap = engine.snapshot()
    # The speculative step routes to sales and ends the flow in a transfer...
    actions = await run(engine.on_caller_turn(CallerTurn("sales")))
    assert actions[-1] == Transfer("from-internal,200,1", "flow_transfer")
    assert ctx.slots == {"dept": "sales"} and engine.ended
    # ... the caller went on: restored, nothing of it is left.
    engine.restore(snap)
    assert state(engine) == before and ctx.slots == slots and not engine.ended
    # The real turn is answered from the question the caller was asked.
    actions = await run(engine.on_caller_turn(CallerTurn("support")))
    assert actions[0] == Say("Is it urgent?") and isinstance(actions[1], Listen)
    assert ctx.slots == {"dept": "support"}


async def test_a_snapshot_restored_twice_is_still_the_same() -> None:
    engine = make_engine()
    await run(engine.begin(make_ctx()))
    snap = engine.snapshot()
    for answer in ("blah", "sales"):
        await run(engine.on_caller_turn(CallerTurn(answer)))
        engine.restore(snap)
        assert engine.node_id() == "menu" and engine.transcript[-1] == (
            "assistant", "Sales or support?")
    with pytest.raises(TypeError):
        engine.restore({"not": "a snapshot"})


async def test_a_webhook_waits_for_the_turn_to_be_confirmed() -> None:
    hooks = Hooks({"booking": {"id": "B-7"}})
    engine = booking(hooks)
    await run(engine.begin(make_ctx()))
    engine.side_effects.hold()
    said: list[str] = []

    async def step() -> None:
        async with aclosing(engine.on_caller_turn(CallerTurn("four"))) as actions:
            async for action in actions:
                if isinstance(action, Say):
                    said.append(action.text)

    task = asyncio.get_running_loop().create_task(step())
    for _ in range(20):
        await asyncio.sleep(0)
    # What comes before the webhook is prepared; the webhook is not called.
    assert said == ["One moment."] and hooks.calls == [] and not task.done()
    engine.side_effects.release()
    await asyncio.wait_for(task, 5)
    assert said == ["One moment.", "Booked: B-7.", "Done."] and len(hooks.calls) == 1


async def test_a_held_webhook_cancelled_is_never_called() -> None:
    hooks = Hooks({"booking": {"id": "B-7"}})
    engine = booking(hooks)
    ctx = make_ctx()
    await run(engine.begin(ctx))
    snap = engine.snapshot()
    engine.side_effects.hold()
    task = asyncio.get_running_loop().create_task(run(engine.on_caller_turn(CallerTurn("4"))))
    for _ in range(20):
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    engine.restore(snap)
    engine.side_effects.release()
    assert hooks.calls == [] and ctx.slots == {} and engine.node_id() == "size"
    assert texts(await run(engine.on_caller_turn(CallerTurn("2")))) == [
        "One moment.", "Booked: B-7.", "Done."]
    assert len(hooks.calls) == 1


def test_the_gate_is_open_until_held() -> None:
    gate = SideEffectGate()
    assert not gate.held
    gate.hold()
    assert gate.held
    gate.release()
    assert not gate.held
