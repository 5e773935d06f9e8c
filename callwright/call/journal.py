"""Writes one call's turns and timeline to the store as they happen.

A failed write is logged and counted, never raised into the call: losing one turn row must not
drop the caller. The call row itself is created and closed by the session, not here.

With a ``queue`` (the service's :class:`~callwright.store.write_queue.WriteQueue`) the call does
not wait for the store at all: each write is queued and :meth:`CallJournal.turn` returns at once,
while the queue writes it in order, retrying while the store is locked (a locked store would
otherwise hold the caller's reply up to the store's busy timeout, then lose the turn).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from callwright.errors import StoreError
from callwright.store.turns import NewTurn
from callwright.store.write_queue import WriteQueue

log = logging.getLogger(__name__)


class TurnStore(Protocol):
    """The part of CallRepository the journal needs."""

    async def add_turn(self, call_id: int, turn: NewTurn) -> int: ...

    async def add_event(
        self, call_id: int, kind: str, detail: dict[str, Any] | None = None
    ) -> int: ...


@dataclass(slots=True)
class TurnRecord:
    """A turn as the pipeline saw it (also kept in memory for the live transcript)."""

    speaker: str
    text: str
    started_at: str
    ended_at: str
    interrupted: bool = False
    stt_ms: int | None = None
    dialog_ms: int | None = None
    tts_ms: int | None = None
    first_frame_ms: int | None = None
    confidence: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    #: The caller stopped speaking → the reply's first frame: the silence the caller heard
    #: (endpointing included). For metrics only: not stored with the turn.
    heard_gap_ms: int | None = None

    def stored(self, seq: int) -> NewTurn:
        """The turn as the store records it, numbered ``seq``."""
        return NewTurn(
            seq=seq, speaker=self.speaker, text=self.text, started_at=self.started_at,
            ended_at=self.ended_at, interrupted=self.interrupted, stt_ms=self.stt_ms,
            dialog_ms=self.dialog_ms, tts_ms=self.tts_ms, first_frame_ms=self.first_frame_ms,
            confidence=self.confidence, meta=self.meta,
        )


class CallJournal:
    """Appends turns (numbered in order) and events for one call."""

    def __init__(
        self,
        store: TurnStore,
        call_id: int,
        observer: Callable[[int, TurnRecord], None] | None = None,
        *,
        last_seq: int = 0,
        queue: WriteQueue | None = None,
    ) -> None:
        """``last_seq``: the turns already stored for this call (a call resumed after a restart
        numbers its turns on from there); ``queue``: write through it, without waiting."""
        self._store = store
        self._queue = queue
        self.call_id = call_id
        self._observer = observer
        self._seq = last_seq
        self.turns: list[TurnRecord] = []
        self.failed_writes = 0

    async def turn(self, record: TurnRecord) -> None:
        self._seq += 1
        self.turns.append(record)
        if self._observer is not None:
            self._observer(self.call_id, record)
        write = functools.partial(self._store.add_turn, self.call_id, record.stored(self._seq))
        await self._write(f"turn {self._seq}", write)

    async def event(self, kind: str, **detail: Any) -> None:
        await self._write(f"event {kind}", functools.partial(
            self._store.add_event, self.call_id, kind, detail
        ))

    async def _write(self, what: str, write: Callable[[], Awaitable[int]]) -> None:
        if self._queue is not None:
            self._queue.submit(f"call {self.call_id} {what}", write).add_done_callback(
                self._written
            )
            return
        try:
            await write()
        except StoreError as exc:
            self.failed_writes += 1
            log.error("call %s: could not store %s: %s", self.call_id, what, exc)

    def _written(self, future: asyncio.Future[int]) -> None:
        if future.cancelled() or future.exception() is not None:
            self.failed_writes += 1  # logged by the queue
