"""Writes one call's turns and timeline to the store as they happen.

A failed write is logged and counted, never raised into the call: losing one turn row must not
drop the caller. The call row itself is created and closed by the session, not here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from callwright.errors import StoreError

log = logging.getLogger(__name__)


class TurnStore(Protocol):
    """The part of CallRepository the journal needs."""

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
    ) -> int: ...

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


class CallJournal:
    """Appends turns (numbered in order) and events for one call."""

    def __init__(
        self,
        store: TurnStore,
        call_id: int,
        observer: Callable[[int, TurnRecord], None] | None = None,
        *,
        last_seq: int = 0,
    ) -> None:
        """``last_seq``: the turns already stored for this call (a call resumed after a restart
        numbers its turns on from there)."""
        self._store = store
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
        try:
            await self._store.add_turn(
                self.call_id,
                self._seq,
                record.speaker,
                record.text,
                record.started_at,
                record.ended_at,
                record.interrupted,
                record.stt_ms,
                record.dialog_ms,
                record.tts_ms,
                record.first_frame_ms,
                record.confidence,
                record.meta,
            )
        except StoreError as exc:
            self.failed_writes += 1
            log.error("call %s: could not store turn %d: %s", self.call_id, self._seq, exc)

    async def event(self, kind: str, **detail: Any) -> None:
        try:
            await self._store.add_event(self.call_id, kind, detail)
        except StoreError as exc:
            self.failed_writes += 1
            log.error("call %s: could not store event %s: %s", self.call_id, kind, exc)
