"""Post-call events end to end in the engine: queued by the call row's start and end, sent by
the delivery worker to a local receiver, retried on a clock the test moves, kept across a
restart, given up after 24 h, redelivered."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from callwright.dialog.webhooks import DELIVERY_HEADER, SIGNATURE_HEADER
from callwright.store.calls import Call
from callwright.store.clock import ms_between
from callwright.store.turns import NewTurn
from callwright.store.webhook_deliveries import Delivery, DeliveryRepository
from callwright.store.webhook_endpoints import EndpointRepository
from callwright.webhooks.backoff import RETRY_WINDOW_S
from callwright.webhooks.worker import EVENT_HEADER
from tests.callwright.store.conftest import MakeDb
from tests.callwright.webhooks.conftest import MakeReceiver
from tests.callwright.webhooks.outbox import Outbox, open_outbox

MESSAGE_FLOW = {
    "start": "msg",
    "nodes": {
        "msg": {"kind": "take_message", "prompt": "Your message?", "slot": "message",
                "next": "bye"},
        "bye": {"kind": "hangup", "text": "Bye."},
    },
}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def whole_call(box: Outbox, caller: str = "+4930111222") -> Call:
    """A call as the call path writes it: row, turns, slots, recording, close."""
    from callwright.store.assistants import AssistantRepository

    await AssistantRepository(box.db).save_flow(box.assistant.id, MESSAGE_FLOW)
    call = await box.calls.create_call(box.org.id, box.assistant.id, None, "100", caller,
                                       "Ada Lovelace", "chan-1")
    await box.calls.add_turn(call.id, NewTurn(1, "assistant", "Your message?", box.clock.iso()))
    await box.calls.add_turn(call.id, NewTurn(2, "caller", "Please call me back about the invoice",
                             box.clock.iso()))
    await box.calls.set_slots(call.id, {"message": "Please call me back about the invoice"})
    await box.calls.set_recording(call.id, "/var/rec/x.wav", None)
    box.clock.advance(42)
    assert await box.calls.close_call(call.id, "completed", "assistant_hangup")
    assert not await box.calls.close_call(call.id, "completed", "again")  # no second call.ended
    return await box.calls.get(call.id)


async def test_a_whole_call_reaches_the_receiver_signed_with_every_event(
    make_db: MakeDb, make_receiver: MakeReceiver, http: aiohttp.ClientSession
) -> None:
    box = await open_outbox(await make_db(), http)
    receiver = await make_receiver(200)
    _, secret = await box.endpoint(receiver.url)
    call = await whole_call(box)

    assert await box.worker().run_once() == 4
    kinds = [r.json["type"] for r in receiver.received]
    assert sorted(kinds) == ["call.ended", "call.started", "message.taken", "recording.ready"]
    for got in receiver.received:
        assert got.signature_ok(secret)
        assert not got.signature_ok(secret + "x")
        assert got.headers[EVENT_HEADER] == got.json["type"]
        assert got.headers[DELIVERY_HEADER] == got.json["id"]
        assert got.json["data"]["call"]["uid"] == call.uid
        assert got.json["data"]["call"]["url"] == f"https://cw.example/calls/{call.uid}"
    by_kind = {r.json["type"]: r.json["data"] for r in receiver.received}
    ended = by_kind["call.ended"]
    assert ended["call"]["status"] == "completed"
    assert ended["call"]["end_reason"] == "assistant_hangup"
    assert ended["call"]["duration_ms"] == 42000
    assert ended["call"]["assistant"]["name"] == "Front desk"
    assert ended["call"]["caller_number"] == "+4930111222"
    assert ended["slots"] == {"message": "Please call me back about the invoice"}
    assert [(t["speaker"], t["text"]) for t in ended["transcript"]] == [
        ("assistant", "Your message?"), ("caller", "Please call me back about the invoice")]
    assert ended["summary"] == "Message: Please call me back about the invoice"
    assert by_kind["message.taken"]["message"] == "Please call me back about the invoice"
    assert by_kind["recording.ready"]["recording"]["url"].endswith(f"/calls/{call.uid}/recording")
    assert by_kind["call.started"]["call"]["status"] == "in_progress"
    logged = await box.deliveries.list(box.org.id)
    assert {d.status for d in logged} == {"delivered"}
    assert {d.response_code for d in logged} == {200}
    assert await box.worker().run_once() == 0  # nothing is sent twice


async def test_only_subscribed_enabled_endpoints_get_an_event(
    make_db: MakeDb, make_receiver: MakeReceiver, http: aiohttp.ClientSession
) -> None:
    box = await open_outbox(await make_db(), http)
    ends, starts, off = [await make_receiver() for _ in range(3)]
    await box.endpoint(ends.url, name="ends", events=("call.ended",))
    await box.endpoint(starts.url, name="starts", events=("call.started",))
    disabled, _ = await box.endpoint(off.url, name="off")
    await box.endpoints.update(box.org.id, disabled.id, enabled=False)
    await whole_call(box)
    # A call to an unknown number belongs to no org: nothing is queued for it.
    orphan = await box.calls.create_call(None, None, None, "999", "+1", "", "chan-2")
    await box.calls.close_call(orphan.id, "rejected", "unknown_number")
    await box.worker().run_once()
    assert [r.json["type"] for r in ends.received] == ["call.ended"]
    assert [r.json["type"] for r in starts.received] == ["call.started"]
    assert off.received == []


async def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(
    make_db: MakeDb, make_receiver: MakeReceiver, http: aiohttp.ClientSession
) -> None:
    box = await open_outbox(await make_db(), http)
    receiver = await make_receiver(500, 503, 200)
    await box.endpoint(receiver.url, events=("call.ended",))
    await whole_call(box)
    worker = box.worker()

    assert await worker.run_once() == 1
    [pending] = await box.deliveries.list(box.org.id)
    assert (pending.status, pending.attempts, pending.response_code) == ("pending", 1, 500)
    assert pending.last_error == "HTTP 500"
    assert ms_between(pending.last_attempt_at or "", pending.next_at) == 30_000
    assert await worker.run_once() == 0  # not due yet
    box.clock.advance(30)
    assert await worker.run_once() == 1
    [pending] = await box.deliveries.list(box.org.id)
    assert (pending.status, pending.attempts) == ("pending", 2)
    assert ms_between(pending.last_attempt_at or "", pending.next_at) == 60_000  # doubled
    box.clock.advance(59)
    assert await worker.run_once() == 0
    box.clock.advance(1)
    assert await worker.run_once() == 1
    [done] = await box.deliveries.list(box.org.id)
    assert (done.status, done.attempts, done.response_code, done.last_error) == (
        "delivered", 3, 200, "")
    # Every attempt carried the same event id and body (one event, retried).
    assert len({r.headers[DELIVERY_HEADER] for r in receiver.received}) == 1
    assert len({r.body for r in receiver.received}) == 1


async def test_a_refused_connection_is_a_failed_attempt_not_a_crash(
    make_db: MakeDb, make_receiver: MakeReceiver, http: aiohttp.ClientSession
) -> None:
    box = await open_outbox(await make_db(), http)
    receiver = await make_receiver()
    url = receiver.url
    await receiver.server.close()  # nobody listens there any more
    await box.endpoint(url, events=("call.ended",))
    await whole_call(box)
    assert await box.worker().run_once() == 1
    [pending] = await box.deliveries.list(box.org.id)
    assert pending.status == "pending" and pending.response_code is None
    assert pending.last_error.startswith("cannot connect")
    assert "127.0.0.1" not in pending.last_error  # a URL is a secret: not in the log


async def test_the_outbox_survives_a_restart(
    make_db: MakeDb, make_receiver: MakeReceiver, http: aiohttp.ClientSession
) -> None:
    db = await make_db("restart.db")
    box = await open_outbox(db, http)
    receiver = await make_receiver(502)
    _, secret = await box.endpoint(receiver.url, events=("call.ended",))
    await whole_call(box)
    await box.worker().run_once()
    await db.close()  # the service stops with the delivery still pending

    reopened = await make_db("restart.db")
    receiver.statuses = [200]
    box.clock.advance(30)
    worker = type(box.worker())(
        DeliveryRepository(reopened), EndpointRepository(reopened, box.key),
        type(box.credentials)(reopened, box.key), http, clock=box.clock,
    )
    assert await worker.run_once() == 1
    [done] = await DeliveryRepository(reopened).list(box.org.id)
    assert (done.status, done.attempts) == ("delivered", 2)
    assert receiver.received[-1].signature_ok(secret)


async def test_after_24_hours_of_failures_the_delivery_is_failed_and_can_be_redelivered(
    make_db: MakeDb, make_receiver: MakeReceiver, http: aiohttp.ClientSession
) -> None:
    box = await open_outbox(await make_db(), http)
    receiver = await make_receiver(503)
    await box.endpoint(receiver.url, events=("call.ended",))
    await whole_call(box)
    worker = box.worker()
    first = box.clock.t
    while True:
        await worker.run_once()
        [row] = await box.deliveries.list(box.org.id)
        if row.status != "pending":
            break
        box.clock.t = max(box.clock.t, _epoch(row.next_at))
        assert box.clock.t - first <= RETRY_WINDOW_S + 60, "still retrying after 24 h"
    assert row.status == "failed" and row.last_error == "HTTP 503"
    assert 20 <= row.attempts <= 40
    # The last attempt is made as the 24 h window closes.
    assert ms_between(row.created_at, row.last_attempt_at or "") == RETRY_WINDOW_S * 1000
    assert await box.deliveries.list(box.org.id, status="failed") == [row]
    box.clock.advance(7 * 86400)
    assert await worker.run_once() == 0  # failed is final until someone redelivers

    receiver.statuses = [204]
    again = await box.deliveries.redeliver(
        box.org.id, row.id, now=box.clock.iso(), expires_at="2099-01-01T00:00:00.000Z")
    assert again.status == "pending"
    assert await worker.run_once() == 1
    [done] = await box.deliveries.list(box.org.id)
    assert (done.status, done.response_code) == ("delivered", 204)
    assert receiver.received[-1].body == receiver.received[0].body


async def test_a_restricted_caller_gets_no_transcript_in_any_event(
    make_db: MakeDb, make_receiver: MakeReceiver, http: aiohttp.ClientSession
) -> None:
    box = await open_outbox(await make_db(), http)
    receiver = await make_receiver()
    await box.endpoint(receiver.url)
    await box.restrictions.set(box.org.id, "+4930999", processing_restricted=True)
    await whole_call(box, caller="+4930999")
    await box.worker().run_once()
    by_kind = {r.json["type"]: r for r in receiver.received}
    ended = by_kind["call.ended"].json["data"]
    assert "transcript" not in ended and ended["transcript_withheld"] is True
    assert ended["slots"] == {}  # the message slot holds the caller's words
    taken = by_kind["message.taken"].json["data"]
    assert "message" not in taken and taken["message_withheld"] is True
    for got in receiver.received:
        assert b"invoice" not in got.body
    stored = await box.db.fetch_all("SELECT body FROM webhook_deliveries")
    assert all("invoice" not in row["body"] for row in stored)


async def test_a_slack_endpoint_gets_a_readable_unsigned_message(
    make_db: MakeDb, make_receiver: MakeReceiver, http: aiohttp.ClientSession
) -> None:
    box = await open_outbox(await make_db(), http)
    receiver = await make_receiver()
    await box.endpoint(receiver.url, name="slack", target="slack", events=("call.ended",))
    call = await whole_call(box)
    await box.worker().run_once()
    [got] = receiver.received
    assert SIGNATURE_HEADER not in got.headers
    message = got.json
    assert message["text"] == "Call ended: Ada Lovelace (+4930111222) → Front desk"
    section = message["blocks"][1]["text"]["text"]
    assert "*Caller:* Ada Lovelace (+4930111222)" in section
    assert "*Assistant:* Front desk" in section
    assert "*Outcome:* completed (assistant_hangup) after 42 s" in section
    assert "*Summary:* Message: Please call me back about the invoice" in section
    assert f"<https://cw.example/calls/{call.uid}|Open the call>" in section


async def test_the_signing_secret_is_sealed_in_the_store(
    make_db: MakeDb, make_receiver: MakeReceiver, http: aiohttp.ClientSession
) -> None:
    box = await open_outbox(await make_db(), http)
    endpoint, secret = await box.endpoint("https://hooks.example/x")
    stored = await box.db.fetch_value("SELECT signing_secret_enc FROM webhooks")
    assert secret.encode() not in bytes(stored)
    assert await box.endpoints.signing_secret(box.org.id, endpoint.id) == secret.encode()
    rolled = await box.endpoints.roll_secret(box.org.id, endpoint.id)
    assert rolled != secret
    assert await box.endpoints.signing_secret(box.org.id, endpoint.id) == rolled.encode()


def _epoch(iso: str) -> float:
    from callwright.store.clock import parse_iso

    return parse_iso(iso).timestamp()


async def test_an_erased_caller_leaves_nothing_in_the_outbox(
    make_db: MakeDb, make_receiver: MakeReceiver, http: aiohttp.ClientSession
) -> None:
    from callwright.privacy.caller_data import erase_caller

    box = await open_outbox(await make_db(), http)
    receiver = await make_receiver(503)
    await box.endpoint(receiver.url)
    await whole_call(box, caller="+4930555")
    other = await whole_call(box, caller="+4930666")
    await box.worker().run_once()
    assert len(await box.deliveries.list(box.org.id)) == 8

    await erase_caller(box.db, box.org.id, "+4930555", box.key)
    left = await box.deliveries.list(box.org.id)
    assert {d.call_uid for d in left} == {other.uid}  # the other caller's are kept
    assert all("+4930555" not in d.body for d in left)
    # Deleting a call (retention) deletes its deliveries with it.
    await box.db.execute("DELETE FROM calls WHERE id = ?", (other.id,))
    assert await box.deliveries.list(box.org.id) == []


async def test_deleting_a_calls_transcript_deletes_its_deliveries(
    make_db: MakeDb, make_receiver: MakeReceiver, http: aiohttp.ClientSession
) -> None:
    box = await open_outbox(await make_db(), http)
    receiver = await make_receiver(200)
    await box.endpoint(receiver.url, events=("call.ended",))
    call = await whole_call(box)
    await box.db.execute("DELETE FROM call_turns WHERE call_id = ?", (call.id,))
    assert await box.deliveries.list(box.org.id) == []


async def test_the_worker_task_outlives_a_failure_and_is_woken_by_a_queued_event(
    make_db: MakeDb, make_receiver: MakeReceiver, http: aiohttp.ClientSession
) -> None:
    import asyncio
    import time

    box = await open_outbox(await make_db(), http)
    receiver = await make_receiver(200)
    await box.endpoint(receiver.url, events=("call.ended",))
    worker = box.worker()
    worker.idle_s = 60.0  # only a wake (or the failure's retry) makes it look again
    failures = [RuntimeError("disk on fire")]
    real_due = box.deliveries.due

    async def due(now: str, limit: int = 20) -> list[Delivery]:
        if failures:
            raise failures.pop()
        return await real_due(now, limit)

    box.deliveries.due = due  # type: ignore[method-assign]
    task = asyncio.create_task(worker.run_forever())
    try:
        await asyncio.sleep(0.05)  # the first pass failed; the task is still there
        assert not task.done() and not failures
        box.post_call.queued = worker.wake  # as the call service wires it
        await whole_call(box)
        deadline = time.monotonic() + 5
        while not receiver.received:
            assert time.monotonic() < deadline, "the queued event was not sent"
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert [r.json["type"] for r in receiver.received] == ["call.ended"]
