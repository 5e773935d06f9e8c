"""The outbound calls table: queue, claim once, outcome, left-over rows, per-assistant settings."""

from __future__ import annotations

import pytest

from callwright.errors import NotFound
from callwright.outbound.dial_result import DialResult
from callwright.outbound.request import OutboundRequest
from callwright.store.outbound_calls import AssistantOutbound, OutboundCallRepository
from tests.callwright.store.conftest import MakeAssistant, MakeDb, MakeOrg


async def test_queue_claim_once_and_finish(
    make_db: MakeDb, make_org: MakeOrg, make_assistant: MakeAssistant
) -> None:
    db = await make_db()
    org = await make_org(db)
    assistant = await make_assistant(db, org.id)
    repo = OutboundCallRepository(db)
    req = OutboundRequest(assistant.id, "+15550100199", "Local/+15550100199@out", "+15550100",
                          {"first_name": "Ana"})
    first = await repo.enqueue(org.id, req)
    second = await repo.enqueue(org.id, req, campaign_id=7, contact_id=9)
    assert first.status == "queued" and first.variables == {"first_name": "Ana"}
    assert await repo.in_flight() == 2 and await repo.in_flight(campaign_id=7) == 1
    claimed = await repo.claim("node-a", 1)
    assert [c.id for c in claimed] == [first.id] and claimed[0].status == "dialing"
    other = OutboundCallRepository(db)  # another node
    assert [c.id for c in await other.claim("node-b", 5)] == [second.id]
    assert await repo.claim("node-a", 5) == []
    result = DialResult("busy", 17, "User busy", 12)
    assert await repo.finish(first.id, result)
    assert not await repo.finish(first.id, result)
    done = await repo.get_by_uid(first.uid, org_id=org.id)
    assert (done.status, done.outcome, done.cause, done.ring_ms) == ("ended", "busy", 17, 12)
    with pytest.raises(NotFound):
        await repo.get_by_uid(first.uid, org_id=org.id + 1)
    assert await repo.interrupt_left_over("node-b") == 1
    left = await repo.get(second.id)
    assert (left.status, left.outcome, left.cause_text) == ("ended", "failed", "interrupted")
    assert [c.uid for c in await repo.list_recent(org.id)] == [second.uid, first.uid]


async def test_assistant_settings(
    make_db: MakeDb, make_org: MakeOrg, make_assistant: MakeAssistant
) -> None:
    db = await make_db()
    org = await make_org(db)
    assistant = await make_assistant(db, org.id)
    repo = OutboundCallRepository(db)
    assert (await repo.assistant_settings(assistant.id)).on_machine == "hangup"
    await repo.set_assistant_settings(AssistantOutbound(assistant.id, "leave_message", "Hi"))
    await repo.set_assistant_settings(AssistantOutbound(assistant.id, "leave_message", "Hello"))
    assert await repo.assistant_settings(assistant.id) == AssistantOutbound(
        assistant.id, "leave_message", "Hello")
    with pytest.raises(ValueError, match="on_machine"):
        await repo.set_assistant_settings(AssistantOutbound(assistant.id, "sing"))
