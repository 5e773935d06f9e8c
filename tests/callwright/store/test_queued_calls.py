"""QueuedCallRepository.start_call: a new call does not wait for its row while the store is locked
(a provisional id, mapped to the row's id when the queue inserts it); in normal operation the id
is the row's at once. create_call still waits for the row."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from callwright.errors import StoreError
from callwright.store.calls import CallRepository
from callwright.store.db import Database
from callwright.store.queued_calls import ROW_WAIT_S, QueuedCallRepository, is_provisional
from callwright.store.turns import NewTurn
from callwright.store.write_queue import WriteQueue
from tests.fakes.store_lock import LONGER_THAN_BUSY_TIMEOUT_S, hold_write_lock


async def test_a_new_call_gets_its_row_id_at_once_when_the_store_is_free(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "cw.db")
    queue = WriteQueue()
    try:
        calls = QueuedCallRepository(db, queue)
        call = await calls.start_call(None, None, None, "100", "5551", "", "chan-1")
        assert not is_provisional(call.id)
        assert (await CallRepository(db).get(call.id)).uid == call.uid
    finally:
        await queue.close(5)
        await db.close()


async def test_a_call_does_not_wait_for_its_row_while_the_store_is_locked(tmp_path: Path) -> None:
    path = tmp_path / "cw.db"
    db = await Database.open(path)
    queue = WriteQueue(retry_s=0.05, max_retry_s=0.2)
    try:
        calls = QueuedCallRepository(db, queue)
        release = await hold_write_lock(path, LONGER_THAN_BUSY_TIMEOUT_S)
        asked = time.monotonic()
        call = await calls.start_call(None, None, None, "100", "5552", "Kim", "chan-2")
        assert time.monotonic() - asked < ROW_WAIT_S + 0.5
        assert is_provisional(call.id) and call.status == "in_progress"
        # The call goes on; what it writes queues behind its row (awaited only to check).
        writes = [
            asyncio.ensure_future(calls.add_event(call.id, "stasis_start", {"args": []})),
            asyncio.ensure_future(calls.mark_answered(call.id)),
            asyncio.ensure_future(calls.add_turn(call.id, NewTurn(1, "assistant", "Hello",
                                                 call.started_at))),
            asyncio.ensure_future(calls.set_slots(call.id, {"name": "Kim"})),
            asyncio.ensure_future(calls.close_call(call.id, "completed", "caller_hangup")),
        ]
        await release
        await asyncio.wait_for(asyncio.gather(*writes), 30)
        [row] = await CallRepository(db).list_recent_all_orgs(5)
        assert (row.uid, row.started_at, row.caller_name) == (call.uid, call.started_at, "Kim")
        assert (row.status, row.end_reason, row.slots) == ("completed", "caller_hangup",
                                                           {"name": "Kim"})
        assert row.answered_at is not None
        assert [e.kind for e in await CallRepository(db).events(row.id)] == ["stasis_start"]
        assert [t.text for t in await CallRepository(db).turns(row.id)] == ["Hello"]
        with pytest.raises(StoreError):  # the mapping went with the call's last write
            calls.row_id(call.id)
        assert queue.busy_retries >= 1 and queue.failed == 0
    finally:
        await queue.close(5)
        await db.close()


async def test_create_call_still_waits_for_the_row(tmp_path: Path) -> None:
    path = tmp_path / "cw.db"
    db = await Database.open(path)
    queue = WriteQueue(retry_s=0.05, max_retry_s=0.2)
    try:
        calls = QueuedCallRepository(db, queue)
        release = await hold_write_lock(path, 1.0)
        call = await calls.create_call(None, None, None, "100", "5553", "", "chan-3")
        await release
        assert not is_provisional(call.id)
        assert (await CallRepository(db).get(call.id)).uid == call.uid
    finally:
        await queue.close(5)
        await db.close()
