"""Answered outbound calls waiting for the dialplan's ``socket`` to hand them to us.

An outbound call (fs_app.outbound_call) is placed from the inbound ESL; once the callee answers,
its channel is sent with ``uuid_transfer`` to the outbound extension, whose ``socket`` connects
to our socket server like any inbound call. The attempt leaves a :class:`Handoff` under the
channel's uuid (ours: ``origination_uuid``); the session that gets that channel takes it
(:meth:`OutboundHandoffs.take`) and runs the call as outbound, and says when it is over.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from callwright.call.outcome import CallOutcome
from callwright.outbound.start import OutboundStart


@dataclass(slots=True)
class Handoff:
    start: OutboundStart
    taken: asyncio.Event = field(default_factory=asyncio.Event)
    over: asyncio.Event = field(default_factory=asyncio.Event)
    #: How the session ended the call (None until it has).
    outcome: CallOutcome | None = None

    def ended(self, outcome: CallOutcome | None) -> None:
        self.outcome = outcome
        self.over.set()


class OutboundHandoffs:
    def __init__(self) -> None:
        self._waiting: dict[str, Handoff] = {}

    def expect(self, uuid: str, start: OutboundStart) -> Handoff:
        handoff = Handoff(start)
        self._waiting[uuid] = handoff
        return handoff

    def take(self, uuid: str) -> Handoff | None:
        """The answered outbound call on channel ``uuid`` (once: None afterwards, and for a
        channel that is no outbound call of ours)."""
        handoff = self._waiting.pop(uuid, None)
        if handoff is not None:
            handoff.taken.set()
        return handoff

    def forget(self, uuid: str) -> None:
        self._waiting.pop(uuid, None)

    def __len__(self) -> int:
        return len(self._waiting)
