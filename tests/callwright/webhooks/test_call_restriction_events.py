"""A call whose own processing is restricted (callwright.privacy.call_restrictions) in its
post-call events: restricted while in progress, its ``call.ended`` carries no transcript and no
``recording.ready`` is sent for a restricted recording; restricted after its end, its deliveries
still queued are withheld."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from callwright.privacy.call_restrictions import WITHHELD_ERROR, CallRestrictionRepository
from callwright.store.turns import NewTurn
from tests.callwright.store.conftest import MakeDb
from tests.callwright.webhooks.conftest import MakeReceiver
from tests.callwright.webhooks.outbox import open_outbox


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_a_call_restricted_in_progress_ends_without_transcript_nor_recording_event(
    make_db: MakeDb, make_receiver: MakeReceiver, http: aiohttp.ClientSession
) -> None:
    box = await open_outbox(await make_db(), http)
    receiver = await make_receiver(200)
    await box.endpoint(receiver.url)
    call = await box.calls.create_call(box.org.id, box.assistant.id, None, "100", "+4930111222",
                                       "Ada", "chan-1")
    assert await box.worker().run_once() == 1  # call.started, sent before the restriction
    await box.calls.add_turn(call.id, NewTurn(1, "caller", "my account number is 1234",
                                              box.clock.iso()))
    await box.calls.set_recording(call.id, "/var/rec/x.wav", None)
    await CallRestrictionRepository(box.db).restrict(box.org.id, call.uid,
                                                     frozenset({"transcribe", "record"}), "art 18")
    assert await box.calls.close_call(call.id, "completed", "caller_hangup")
    assert await box.worker().run_once() == 1
    [ended] = [r.json for r in receiver.received if r.json["type"] == "call.ended"]
    assert "transcript" not in ended["data"] and ended["data"]["transcript_withheld"] is True
    assert "1234" not in str(receiver.received[-1].body)
    assert "recording.ready" not in [r.json["type"] for r in receiver.received]


async def test_restricting_a_stored_call_withholds_its_queued_deliveries(
    make_db: MakeDb, make_receiver: MakeReceiver, http: aiohttp.ClientSession
) -> None:
    box = await open_outbox(await make_db(), http)
    receiver = await make_receiver(200)
    await box.endpoint(receiver.url)
    call = await box.calls.create_call(box.org.id, box.assistant.id, None, "100", "+4930111222",
                                       "Ada", "chan-1")
    await box.calls.add_turn(call.id, NewTurn(1, "caller", "my account number is 1234",
                                              box.clock.iso()))
    assert await box.calls.close_call(call.id, "completed", "caller_hangup")
    other = await box.calls.create_call(box.org.id, box.assistant.id, None, "100", "+4930999",
                                        "Bob", "chan-2")
    await CallRestrictionRepository(box.db).restrict(box.org.id, call.uid,
                                                     frozenset({"transcribe"}))
    assert await box.worker().run_once() == 1  # only the other call's call.started
    assert [r.json["data"]["call"]["uid"] for r in receiver.received] == [other.uid]
    withheld = [d for d in await box.deliveries.list(box.org.id) if d.call_uid == call.uid]
    assert {d.event for d in withheld} == {"call.started", "call.ended"}
    assert {(d.status, d.last_error) for d in withheld} == {("failed", WITHHELD_ERROR)}
