"""Post-call webhooks from whole calls: the real call service on the PBX simulator queues each
call's events as its row starts and closes, and its delivery worker sends them, signed, to a
local receiver (issue 12, item 6)."""

from __future__ import annotations

import asyncio
import time

import pytest

from callwright.privacy.restrictions import CallerRestrictionRepository
from callwright.privacy.secrets import MasterKey
from callwright.store.credentials import CredentialRepository
from callwright.store.webhook_deliveries import DeliveryRepository
from callwright.store.webhook_endpoints import EVENT_TYPES, EndpointRepository
from tests.ari_app.conftest import Harness, MakeHarness
from tests.ari_app.test_call_end_to_end import demo_call
from tests.callwright.webhooks import conftest as receivers
from tests.callwright.webhooks.conftest import MakeReceiver, Receiver

pytestmark = pytest.mark.slow
make_receiver = receivers.make_receiver  # the local receiver's fixture


async def subscribe(h: Harness, url: str) -> str:
    """An endpoint for every event; its signing secret."""
    db = h.service.db
    assert db is not None
    key = MasterKey.load_or_create(h.settings.server.master_key_file)
    org_id = int(await db.fetch_value("SELECT id FROM orgs LIMIT 1"))
    await CredentialRepository(db, key).put(org_id, "webhook_url", "crm-url", url)
    _, secret = await EndpointRepository(db, key).create(
        org_id, "crm", target="webhook", credential_name="crm-url", events=EVENT_TYPES)
    return secret


async def received(receiver: Receiver, kinds: set[str], within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while not kinds <= {r.json["type"] for r in receiver.received}:
        assert time.monotonic() < deadline, [r.json["type"] for r in receiver.received]
        await asyncio.sleep(0.05)


async def test_a_whole_call_reaches_a_receiver_signed_and_a_restricted_caller_without_transcript(
    make_harness: MakeHarness, make_receiver: MakeReceiver
) -> None:
    h = await make_harness(env={"CALLWRIGHT_ADMIN_PUBLIC_URL": "https://cw.example/"})
    receiver = await make_receiver(200)
    secret = await subscribe(h, receiver.url)

    await demo_call(h)
    call = await h.closed_call()
    await received(receiver, {"call.started", "call.ended", "recording.ready"})
    assert all(r.signature_ok(secret) for r in receiver.received)
    by_kind = {r.json["type"]: r.json["data"] for r in receiver.received}
    assert set(by_kind) == {"call.started", "call.ended", "recording.ready"}  # no message node
    ended = by_kind["call.ended"]
    assert ended["call"]["uid"] == call.uid
    assert ended["call"]["url"] == f"https://cw.example/calls/{call.uid}"
    assert (ended["call"]["status"], ended["call"]["end_reason"]) == ("completed", "demo_booked")
    assert ended["call"]["duration_ms"] == call.duration_ms
    assert ended["slots"] == call.slots
    assert [t["text"] for t in ended["transcript"] if t["speaker"] == "caller"] == [
        "안녕하세요", "네"]
    assert by_kind["recording.ready"]["recording"]["encrypted"] is False
    assert by_kind["call.started"]["call"]["status"] == "in_progress"

    # The same caller, now restricted: the call is served, its event carries no transcript.
    assert h.service.db is not None
    key = MasterKey.load_or_create(h.settings.server.master_key_file)
    await CallerRestrictionRepository(h.service.db, key).set(
        call.org_id or 0, call.caller_number, processing_restricted=True)
    receiver.received.clear()
    await demo_call(h)
    second = await h.closed_call()
    assert second.id != call.id
    await received(receiver, {"call.started", "call.ended"})
    [ended_again] = [r.json["data"] for r in receiver.received if r.json["type"] == "call.ended"]
    assert ended_again["call"]["uid"] == second.uid
    assert "transcript" not in ended_again and ended_again["transcript_withheld"] is True
    assert all("안녕하세요" not in r.body.decode() for r in receiver.received)

    log = await DeliveryRepository(h.service.db).list(call.org_id or 0)
    assert {d.status for d in log} == {"delivered"}
