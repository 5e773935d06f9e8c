"""Outbound calls placed by the real call service against the simulator: each outcome recorded
on the outbound row and the calls row, the answered call run by the same pipeline with the
assistant speaking first and the call's variables in its flow, AMD through the dialplan."""

from __future__ import annotations

import asyncio
import copy
import time
from typing import Any

import pytest

from ari_app.outbound_call import OutboundOptions
from ari_app.simulator.far_end import FarEnd
from callwright.dialog.demo_flow import DEMO_FLOW
from callwright.outbound.request import build_request
from callwright.store.assistants import AssistantRepository
from callwright.store.calls import Call
from callwright.store.db import Database
from callwright.store.outbound_calls import (
    AssistantOutbound,
    OutboundCall,
    OutboundCallRepository,
)
from tests.ari_app.conftest import PASSWORD, Harness, MakeHarness

pytestmark = pytest.mark.slow

FLOW: dict[str, Any] = copy.deepcopy(DEMO_FLOW)
FLOW["nodes"]["greet"]["prompt"] = "안녕하세요 {first_name} 님, {appointment} 예약 확인 전화입니다."


async def queue_call(h: Harness, to: str, **variables: str) -> OutboundCall:
    db = h.service.db
    assert db is not None
    assistant_id = int(await db.fetch_value("SELECT id FROM assistants ORDER BY id LIMIT 1"))
    org_id = int(await db.fetch_value("SELECT org_id FROM assistants WHERE id = ?",
                                      (assistant_id,)))
    request = build_request(assistant_id=assistant_id, to=to, caller_number="+15550100",
                            endpoint_template="Local/{number}@callwright-outbound",
                            variables=variables, caller_name="Clinic")
    return await OutboundCallRepository(db).enqueue(org_id, request)


async def ended(db: Database, uid: str, within_s: float = 15.0) -> OutboundCall:
    repo = OutboundCallRepository(db)
    deadline = time.monotonic() + within_s
    while True:
        row = await repo.get_by_uid(uid)
        if row.status == "ended":
            return row
        assert time.monotonic() < deadline, f"outbound call not ended: {row}"
        await asyncio.sleep(0.05)


async def call_row(h: Harness, row: OutboundCall) -> Call:
    assert row.call_id is not None
    return await h.calls.get(row.call_id)


async def test_unanswered_outcomes_are_recorded(make_harness: MakeHarness) -> None:
    h = await make_harness(flow=FLOW)
    assert h.service.db is not None
    h.sim.set_destination("+15550000001", FarEnd("busy"))
    h.sim.set_destination("+15550000002", FarEnd("congestion"))
    h.sim.set_destination("+15550000003", FarEnd("invalid"))
    rows = [await queue_call(h, n) for n in ("+15550000001", "+15550000002", "+15550000003")]
    got = [await ended(h.service.db, r.uid) for r in rows]
    assert [(r.outcome, r.cause, r.cause_text) for r in got] == [
        ("busy", 17, "User busy"), ("congestion", 34, "Circuit/channel congestion"),
        ("failed", 0, "Unknown"),
    ]
    assert all(r.ring_ms is not None and r.ring_ms < 2000 for r in got)
    calls = [await call_row(h, r) for r in got]
    assert [(c.direction, c.status, c.dialed, c.answered_at) for c in calls] == [
        ("outbound", "failed", "+15550000001", None),
        ("outbound", "failed", "+15550000002", None),
        ("outbound", "failed", "+15550000003", None),
    ]
    assert calls[0].end_reason == "busy (cause 17 User busy)"


async def test_no_answer_after_the_ring_timeout(make_harness: MakeHarness) -> None:
    h = await make_harness(flow=FLOW)
    assert h.service.db is not None and h.service.outbound is not None
    h.service.outbound.dialer.options = OutboundOptions(ring_timeout_s=1)
    h.sim.set_destination("+15550000004", FarEnd("no_answer"))
    row = await ended(h.service.db, (await queue_call(h, "+15550000004")).uid)
    assert (row.outcome, row.cause) == ("no_answer", 19)
    assert row.ring_ms is not None and 950 <= row.ring_ms < 2500


async def test_answered_call_greets_with_the_variables(make_harness: MakeHarness) -> None:
    h = await make_harness(flow=FLOW)
    assert h.service.db is not None
    h.sim.set_destination("+15550000005", FarEnd("answer", ring_s=0.3))
    row = await queue_call(h, "+15550000005", first_name="지민", appointment="화요일")
    call = await h.sim.next_outbound_call(timeout=10)
    await call.caller.wait_until_quiet(800, timeout=20)  # the assistant speaks first
    await call.caller.hangup()
    done = await ended(h.service.db, row.uid)
    assert done.outcome == "answered" and done.ring_ms is not None and done.ring_ms >= 250
    stored = await call_row(h, done)
    assert stored.direction == "outbound" and stored.answered_at is not None
    assert stored.status == "completed"
    turns = await h.calls.turns(stored.id)
    assert turns[0].speaker == "assistant"
    assert turns[0].text == "안녕하세요 지민 님, 화요일 예약 확인 전화입니다."


async def test_machine_detected_by_amd_is_hung_up(make_harness: MakeHarness) -> None:
    h = await make_harness(flow=FLOW)
    db = h.service.db
    assert db is not None and h.service.outbound is not None
    h.service.outbound.dialer.options = OutboundOptions(amd="dialplan")
    h.sim.set_destination("+15550000006", FarEnd("answer", amd="silence"))
    row = await ended(db, (await queue_call(h, "+15550000006")).uid)
    assert (row.outcome, row.amd_status, row.amd_cause) == (
        "machine", "MACHINE", "INITIALSILENCE-2500-2500")
    stored = await call_row(h, row)
    assert (stored.status, stored.end_reason) == ("completed", "machine")
    assert await h.calls.turns(stored.id) == []


async def test_machine_gets_the_message_when_asked(make_harness: MakeHarness) -> None:
    h = await make_harness(flow=FLOW)
    db = h.service.db
    assert db is not None and h.service.outbound is not None
    h.service.outbound.dialer.options = OutboundOptions(amd="dialplan")
    assistant_id = int(await db.fetch_value("SELECT id FROM assistants ORDER BY id LIMIT 1"))
    await OutboundCallRepository(db).set_assistant_settings(AssistantOutbound(
        assistant_id, "leave_message", "{first_name} 님, 다시 전화 드리겠습니다."))
    assert (await AssistantRepository(db).list(
        int(await db.fetch_value("SELECT org_id FROM assistants WHERE id = ?",
                                 (assistant_id,)))))
    h.sim.set_destination("+15550000007", FarEnd("answer", amd="speech"))
    row = await ended(db, (await queue_call(h, "+15550000007", first_name="지민")).uid,
                      within_s=25)
    assert (row.outcome, row.amd_status) == ("machine", "MACHINE")
    stored = await call_row(h, row)
    turns = await h.calls.turns(stored.id)
    assert [t.text for t in turns] == ["지민 님, 다시 전화 드리겠습니다."]
    assert stored.end_reason == "machine_message"


async def test_placed_through_the_ami(make_harness: MakeHarness, free_tcp_port: int) -> None:
    h = await make_harness(flow=FLOW, env={
        "CALLWRIGHT_OUTBOUND_VIA": "ami", "CALLWRIGHT_AMI_HOST": "127.0.0.1",
        "CALLWRIGHT_AMI_PORT": str(free_tcp_port), "CALLWRIGHT_AMI_USERNAME": "callwright",
        "CALLWRIGHT_AMI_SECRET": PASSWORD,
    }, sim_options={"ami": True, "ami_port": free_tcp_port})
    db = h.service.db
    assert db is not None and h.service.outbound is not None
    assert h.service.outbound.ami is not None
    for _ in range(200):
        if h.service.outbound.ami.connected:
            break
        await asyncio.sleep(0.02)
    h.sim.set_destination("+15550000008", FarEnd("busy"))
    h.sim.set_destination("+15550000009", FarEnd("answer"))
    busy = await ended(db, (await queue_call(h, "+15550000008")).uid)
    assert (busy.outcome, busy.cause) == ("busy", 17)
    row = await queue_call(h, "+15550000009", first_name="지민", appointment="화요일")
    call = await h.sim.next_outbound_call(timeout=10)
    await call.caller.wait_until_quiet(800, timeout=20)
    await call.caller.hangup()
    done = await ended(db, row.uid)
    assert done.outcome == "answered"
    turns = await h.calls.turns((await call_row(h, done)).id)
    assert turns[0].text == "안녕하세요 지민 님, 화요일 예약 확인 전화입니다."


async def test_our_own_detection_when_the_dialplan_has_no_amd(make_harness: MakeHarness) -> None:
    h = await make_harness(flow=FLOW)
    db = h.service.db
    assert db is not None and h.service.outbound is not None
    h.service.outbound.dialer.options = OutboundOptions(amd="audio")
    h.sim.set_destination("+15550000010", FarEnd("answer", amd="speech"))
    h.sim.set_destination("+15550000011", FarEnd("answer", amd="hello"))
    machine = await ended(db, (await queue_call(h, "+15550000010")).uid, within_s=20)
    assert (machine.outcome, machine.amd_status, machine.amd_cause) == (
        "machine", "MACHINE", "MAXWORDS-3-2")
    stored = await call_row(h, machine)
    assert (stored.end_reason, await h.calls.turns(stored.id)) == ("machine", [])
    await h.sim.next_outbound_call(timeout=1)  # the machine's call, over
    row = await queue_call(h, "+15550000011", first_name="지민", appointment="화요일")
    call = await h.sim.next_outbound_call(timeout=10)
    await call.caller.wait_for_speech(timeout=15)  # the assistant speaks once it heard a person
    first_heard = call.caller.heard_segments()[0].start
    assert first_heard > 1.2  # "Hello?" (0.72 s) and 0.8 s of silence first
    await call.caller.wait_until_quiet(800, timeout=20)
    await call.caller.hangup()
    done = await ended(db, row.uid)
    assert (done.outcome, done.amd_status) == ("answered", "HUMAN")
