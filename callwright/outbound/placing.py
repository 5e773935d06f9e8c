"""Asking for an outbound call: the checks every entry point shares (CLI, API, admin, campaigns).

:meth:`OutboundPlacer.queue` checks the assistant is the org's, picks the number calls go out
from (the one given, else the org's outbound number assigned to the assistant, else its first
outbound number), takes the endpoint template from it unless one is given, refuses a callee on
the org's do-not-call list (a caller restriction of kind ``object``, or processing restricted)
and queues the row the call service places (:mod:`callwright.store.outbound_calls`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from callwright.outbound.request import RequestError, build_request
from callwright.privacy.restrictions import CallerRestrictionRepository
from callwright.store.assistants import AssistantRepository
from callwright.store.numbers import InvalidNumber, Number, NumberRepository, normalise_number
from callwright.store.outbound_calls import OutboundCall, OutboundCallRepository

OUTBOUND_DIRECTIONS = ("outbound", "both")


class DoNotCall(Protocol):
    async def blocks(self, org_id: int, number: str) -> bool:
        """True if ``number`` must not be called by ``org_id``."""


class RestrictionsDoNotCall:
    """The caller restrictions as the do-not-call list: an objection, or restricted processing."""

    def __init__(self, restrictions: CallerRestrictionRepository) -> None:
        self._restrictions = restrictions

    async def blocks(self, org_id: int, number: str) -> bool:
        found = await self._restrictions.get(org_id, number)
        return found is not None and (found.object or found.processing_restricted)


class OutboundPlacer:
    def __init__(
        self,
        assistants: AssistantRepository,
        numbers: NumberRepository,
        outbound: OutboundCallRepository,
        do_not_call: DoNotCall | None = None,
    ) -> None:
        self._assistants = assistants
        self._numbers = numbers
        self._outbound = outbound
        self._do_not_call = do_not_call

    async def caller_number(
        self, org_id: int, assistant_id: int, from_number: str | None
    ) -> Number | None:
        """The number the call goes out from; RequestError if ``from_number`` is not the org's
        outbound number. None when the org has no outbound number at all."""
        if from_number:
            try:
                found = await self._numbers.find(org_id, from_number)
            except InvalidNumber as exc:
                raise RequestError(f"from: {exc}") from None
            if found is None:
                raise RequestError(f"from: {from_number} is not one of the org's numbers")
            if found.direction not in OUTBOUND_DIRECTIONS:
                raise RequestError(
                    f"from: {found.number} is an inbound-only number (set its direction to "
                    "outbound or both)")
            return found
        candidates = [n for n in await self._numbers.list(org_id)
                      if n.direction in OUTBOUND_DIRECTIONS]
        mine = [n for n in candidates if n.assistant_id == assistant_id]
        chosen = mine or candidates
        return chosen[0] if chosen else None

    async def queue(
        self,
        org_id: int,
        assistant_id: int,
        to: str,
        *,
        from_number: str | None = None,
        endpoint: str | None = None,
        variables: Mapping[str, object] | None = None,
        campaign_id: int | None = None,
        contact_id: int | None = None,
        check_do_not_call: bool = True,
    ) -> OutboundCall:
        """Queue the call; RequestError (bad input, do-not-call), NotFound (no such assistant)."""
        await self._assistants.get(org_id, assistant_id)
        number = await self.caller_number(org_id, assistant_id, from_number)
        template = endpoint if endpoint else (number.outbound_endpoint if number else "")
        request = build_request(
            assistant_id=assistant_id, to=to, caller_number=number.number if number else "",
            endpoint_template=template or "", variables=variables,
            caller_name=number.label if number else "",
        )
        if check_do_not_call and self._do_not_call is not None and \
                await self._do_not_call.blocks(org_id, request.to_number):
            raise RequestError(f"{request.to_number} is on the do-not-call list")
        return await self._outbound.enqueue(
            org_id, request, number_id=number.id if number else None,
            campaign_id=campaign_id, contact_id=contact_id)


def destination(raw: str) -> str:
    """``raw`` normalised (E.164 or an extension); RequestError with the reason."""
    try:
        return normalise_number(raw)
    except InvalidNumber as exc:
        raise RequestError(str(exc)) from None
