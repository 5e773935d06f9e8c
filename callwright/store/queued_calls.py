"""The call path's :class:`CallRepository`: every write goes through the process's
:class:`~callwright.store.write_queue.WriteQueue`, so the writes of all calls keep their order and
a write refused because the store is locked is tried again until it goes through, instead of
failing the call (a call whose row could not be created was hung up, one whose end could not be
written stayed "in progress").

The writes are made by ``inner`` (the service's repository, which may do more: post-call
events), as of the time they were submitted (:func:`~callwright.store.clock.writing_as_of`): a
call's start, answer, events and end keep their times however long the lock held them. Each write
still returns its result when awaited; writes the call must not wait for (the turns and events of
its journal, its set-up events) are submitted without waiting
(:class:`~callwright.call.journal.CallJournal` with ``queue``,
:meth:`ari_app.call_setup.CallEventWriter.later`). An awaited write is shielded: cancelling the
waiter (the service stopping) does not take the write out of the queue. Reads are not queued.

A new call does not wait for its row either (its greeting must not wait on the store): when the
insert has not gone through within :data:`ROW_WAIT_S`, :meth:`QueuedCallRepository.start_call`
returns the call with its uid and start time as the row will have them and a *provisional* id (a
negative number, :func:`is_provisional`); the insert stays first in the queue, and every later
write for that id is applied to the row's id (the queue applies writes in order, so the insert is
done by then). Only the call path (this process, through this repository) ever sees a provisional
id; in normal operation the insert takes a millisecond and the id is the row's.
:meth:`QueuedCallRepository.create_call` still waits for the row (callers that hand the id to
another repository, an outbound call's, need the row's).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from callwright.errors import StoreError
from callwright.store.calls import Call, CallOrigin, CallRepository, new_call_uid
from callwright.store.clock import utc_now_iso, writing_as_of
from callwright.store.db import Database
from callwright.store.turns import NewTurn
from callwright.store.write_queue import WriteQueue

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How long a new call waits for its row before it goes on with a provisional id (seconds).
ROW_WAIT_S = 0.2


def is_provisional(call_id: int) -> bool:
    """Whether ``call_id`` is a provisional id (the call's row was not written yet)."""
    return call_id < 0


class QueuedCallRepository(CallRepository):
    def __init__(
        self, db: Database, queue: WriteQueue, inner: CallRepository | None = None
    ) -> None:
        inner = inner if inner is not None else CallRepository(db)
        super().__init__(db, origin=inner.origin)  # its reads (find_by_channel) as the inner's
        self.queue = queue
        self._inner = inner
        #: Provisional id -> the row's id, set when the row is inserted; dropped at the close.
        self._row_ids: dict[int, int] = {}
        self._last_provisional = 0

    def row_id(self, call_id: int) -> int:
        """The row's id for ``call_id`` (a provisional id is mapped once its row is inserted;
        StoreError before that, or when the insert failed for good)."""
        if not is_provisional(call_id):
            return call_id
        try:
            return self._row_ids[call_id]
        except KeyError:
            raise StoreError(f"call {call_id}: its row was not written") from None

    def _submit(self, what: str, write: Callable[[], Awaitable[T]]) -> asyncio.Future[T]:
        made_at = utc_now_iso()

        async def as_made() -> T:
            with writing_as_of(made_at):
                return await write()

        return self.queue.submit(what, as_made)

    async def _queued(self, what: str, write: Callable[[], Awaitable[T]]) -> T:
        if self.queue.applying():  # a queued write calling this one (a journal's turn): in place
            return await write()
        return await asyncio.shield(self._submit(what, write))

    async def create_call(
        self,
        org_id: int | None,
        assistant_id: int | None,
        number_id: int | None,
        dialed: str,
        caller_number: str,
        caller_name: str,
        channel_id: str,
        direction: str = "inbound",
        *,
        uid: str | None = None,
    ) -> Call:
        """The new call's row, waited for (however long the store stays locked)."""
        return await self._queued(f"new call on {channel_id}", lambda: self._inner.create_call(
            org_id, assistant_id, number_id, dialed, caller_number, caller_name, channel_id,
            direction, uid=uid,
        ))

    async def start_call(
        self,
        org_id: int | None,
        assistant_id: int | None,
        number_id: int | None,
        dialed: str,
        caller_number: str,
        caller_name: str,
        channel_id: str,
        direction: str = "inbound",
    ) -> Call:
        """The new call, its row waited for at most :data:`ROW_WAIT_S`: past that, with a
        provisional id (see the module's docstring). For a call path that writes everything of
        the call through this repository."""
        uid = new_call_uid()
        self._last_provisional -= 1
        provisional = self._last_provisional

        async def insert() -> Call:
            call = await self._inner.create_call(
                org_id, assistant_id, number_id, dialed, caller_number, caller_name, channel_id,
                direction, uid=uid,
            )
            self._row_ids[provisional] = call.id  # before any later write of the call is applied
            return call

        if self.queue.applying():
            call = await insert()
            del self._row_ids[provisional]
            return call
        started_at = utc_now_iso()
        inserted = self._submit(f"new call on {channel_id}", insert)
        try:
            call = await asyncio.wait_for(asyncio.shield(inserted), ROW_WAIT_S)
        except TimeoutError:
            log.warning("call %s: the store is busy; the call goes on, its row is written when "
                        "the store lets us", uid)
            origin = self.origin or CallOrigin("", "")
            return Call(
                id=provisional, uid=uid, org_id=org_id, assistant_id=assistant_id,
                number_id=number_id, dialed=dialed, caller_number=caller_number,
                caller_name=caller_name, direction=direction, channel_id=channel_id,
                started_at=started_at, answered_at=None, ended_at=None, duration_ms=None,
                status="in_progress", end_reason="", recording_path=None, recording_key_id=None,
                slots={}, legal_hold=False, node_id=origin.node_id, pbx=origin.pbx,
            )
        self._row_ids.pop(provisional, None)
        return call

    async def mark_answered(self, call_id: int) -> bool:
        return await self._queued(f"call {call_id} answered",
                                  lambda: self._inner.mark_answered(self.row_id(call_id)))

    async def add_event(
        self, call_id: int, kind: str, detail: dict[str, Any] | None = None
    ) -> int:
        return await self._queued(f"call {call_id} event {kind}",
                                  lambda: self._inner.add_event(self.row_id(call_id), kind, detail))

    async def add_turn(self, call_id: int, turn: NewTurn) -> int:
        return await self._queued(f"call {call_id} turn {turn.seq}",
                                  lambda: self._inner.add_turn(self.row_id(call_id), turn))

    async def update_turn_text(self, turn_id: int, text: str, interrupted: bool = True) -> bool:
        return await self._queued(f"turn {turn_id} text",
                                  lambda: self._inner.update_turn_text(turn_id, text, interrupted))

    async def set_recording(self, call_id: int, path: str, key_id: str | None) -> bool:
        return await self._queued(f"call {call_id} recording", lambda: self._inner.set_recording(
            self.row_id(call_id), path, key_id))

    async def set_slots(self, call_id: int, slots: dict[str, Any]) -> bool:
        return await self._queued(f"call {call_id} slots",
                                  lambda: self._inner.set_slots(self.row_id(call_id), slots))

    async def decline_recording(self, call_id: int) -> bool:
        return await self._queued(f"call {call_id} recording declined",
                                  lambda: self._inner.decline_recording(self.row_id(call_id)))

    async def close_call(self, call_id: int, status: str, end_reason: str) -> bool:
        async def close() -> bool:
            closed = await self._inner.close_call(self.row_id(call_id), status, end_reason)
            self._row_ids.pop(call_id, None)  # the call's last write
            return closed

        return await self._queued(f"call {call_id} end", close)

    async def reopen_call(self, call_id: int) -> bool:
        return await self._queued(f"call {call_id} reopened",
                                  lambda: self._inner.reopen_call(self.row_id(call_id)))
