"""The call path's :class:`CallRepository`: every write goes through the process's
:class:`~callwright.store.write_queue.WriteQueue`, so the writes of all calls keep their order and
a write refused because the store is locked is tried again until it goes through, instead of
failing the call (a call whose row could not be created was hung up, one whose end could not be
written stayed "in progress").

The writes are made by ``inner`` (the service's repository, which may do more: post-call
events), as of the time they were submitted (:func:`~callwright.store.clock.writing_as_of`): a
call's start, answer, events and end keep their times however long the lock held them. Each write
still returns its result when awaited: a caller that must have it (the new call's id) waits while
the store is locked. Writes the call must not wait for (the turns and events of its journal) are
submitted to the queue without waiting (:class:`~callwright.call.journal.CallJournal` with
``queue``). An awaited write is shielded: cancelling the waiter (the service stopping) does not
take the write out of the queue. Reads are not queued.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from callwright.store.calls import Call, CallRepository
from callwright.store.clock import utc_now_iso, writing_as_of
from callwright.store.db import Database
from callwright.store.write_queue import WriteQueue

T = TypeVar("T")


class QueuedCallRepository(CallRepository):
    def __init__(
        self, db: Database, queue: WriteQueue, inner: CallRepository | None = None
    ) -> None:
        inner = inner if inner is not None else CallRepository(db)
        super().__init__(db, origin=inner.origin)  # its reads (find_by_channel) as the inner's
        self.queue = queue
        self._inner = inner

    async def _queued(self, what: str, write: Callable[[], Awaitable[T]]) -> T:
        if self.queue.applying():  # a queued write calling this one (a journal's turn): in place
            return await write()
        made_at = utc_now_iso()

        async def as_made() -> T:
            with writing_as_of(made_at):
                return await write()

        return await asyncio.shield(self.queue.submit(what, as_made))

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
    ) -> Call:
        return await self._queued(f"new call on {channel_id}", lambda: self._inner.create_call(
            org_id, assistant_id, number_id, dialed, caller_number, caller_name, channel_id,
            direction,
        ))

    async def mark_answered(self, call_id: int) -> bool:
        return await self._queued(f"call {call_id} answered",
                                  lambda: self._inner.mark_answered(call_id))

    async def add_event(
        self, call_id: int, kind: str, detail: dict[str, Any] | None = None
    ) -> int:
        return await self._queued(f"call {call_id} event {kind}",
                                  lambda: self._inner.add_event(call_id, kind, detail))

    async def add_turn(
        self,
        call_id: int,
        seq: int,
        speaker: str,
        text: str,
        started_at: str,
        ended_at: str | None = None,
        interrupted: bool = False,
        stt_ms: int | None = None,
        dialog_ms: int | None = None,
        tts_ms: int | None = None,
        first_frame_ms: int | None = None,
        confidence: float | None = None,
        meta: dict[str, Any] | None = None,
    ) -> int:
        return await self._queued(f"call {call_id} turn {seq}", lambda: self._inner.add_turn(
            call_id, seq, speaker, text, started_at, ended_at, interrupted, stt_ms, dialog_ms,
            tts_ms, first_frame_ms, confidence, meta,
        ))

    async def update_turn_text(self, turn_id: int, text: str, interrupted: bool = True) -> bool:
        return await self._queued(f"turn {turn_id} text",
                                  lambda: self._inner.update_turn_text(turn_id, text, interrupted))

    async def set_recording(self, call_id: int, path: str, key_id: str | None) -> bool:
        return await self._queued(f"call {call_id} recording",
                                  lambda: self._inner.set_recording(call_id, path, key_id))

    async def set_slots(self, call_id: int, slots: dict[str, Any]) -> bool:
        return await self._queued(f"call {call_id} slots",
                                  lambda: self._inner.set_slots(call_id, slots))

    async def close_call(self, call_id: int, status: str, end_reason: str) -> bool:
        return await self._queued(f"call {call_id} end",
                                  lambda: self._inner.close_call(call_id, status, end_reason))

    async def reopen_call(self, call_id: int) -> bool:
        return await self._queued(f"call {call_id} reopened",
                                  lambda: self._inner.reopen_call(call_id))
