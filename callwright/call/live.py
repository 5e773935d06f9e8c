"""Calls in progress, for the live transcript (demo, admin dashboard) and graceful shutdown."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from callwright.call.journal import TurnRecord

log = logging.getLogger(__name__)

TurnObserver = Callable[[str, TurnRecord], None]
EndObserver = Callable[[str, str, str], None]  # call uid, status, reason


@dataclass(slots=True)
class LiveCall:
    uid: str
    call_id: int
    dialed: str
    caller: str
    turns: list[TurnRecord] = field(default_factory=list)


class LiveCalls:
    def __init__(self) -> None:
        self.calls: dict[int, LiveCall] = {}
        self.turn_observers: list[TurnObserver] = []
        self.end_observers: list[EndObserver] = []

    def started(self, uid: str, call_id: int, dialed: str, caller: str) -> None:
        self.calls[call_id] = LiveCall(uid, call_id, dialed, caller)

    def on_turn(self, call_id: int, record: TurnRecord) -> None:
        live = self.calls.get(call_id)
        if live is None:
            return
        live.turns.append(record)
        for observer in self.turn_observers:
            try:
                observer(live.uid, record)
            except Exception:  # an observer (printing, websockets) must not break the call
                log.exception("turn observer failed")

    def ended(self, call_id: int, status: str, reason: str) -> None:
        live = self.calls.pop(call_id, None)
        if live is None:
            return
        for observer in self.end_observers:
            try:
                observer(live.uid, status, reason)
            except Exception:  # see above
                log.exception("end observer failed")
