"""The calls row of an outbound call, whatever PBX dials it: made when dialing begins with the
callee's restrictions (:func:`callwright.privacy.call_privacy.caller_privacy`, under the number
called: ``store`` keeps it hashed), attached to the outbound row, and its first events."""

from __future__ import annotations

from callwright.privacy.call_privacy import CallPrivacy
from callwright.store.calls import Call, CallRepository
from callwright.store.outbound_calls import OutboundCall, OutboundCallRepository


async def create_outbound_row(
    calls: CallRepository, row: OutboundCall, privacy: CallPrivacy, *, caller_number: str,
    channel_id: str,
) -> Call:
    """The calls row for ``row``, its "dialed" number the callee's as ``privacy`` keeps it."""
    return await calls.create_call(
        org_id=row.org_id, assistant_id=row.assistant_id, number_id=row.number_id,
        dialed=privacy.stored_number, caller_number=caller_number, caller_name="",
        channel_id=channel_id, direction="outbound",
    )


async def note_origination(
    calls: CallRepository, outbound: OutboundCallRepository, row: OutboundCall, call: Call,
    privacy: CallPrivacy, detail: dict[str, str],
) -> None:
    """``call`` attached to ``row``; an ``originate`` event with ``detail`` (the PBX's own facts)
    and the endpoint only when the callee's calls may be stored (it names their number); a
    ``privacy_restriction`` event naming the kinds in force, if any. A callee who objected (on
    the do-not-call list) is the caller's to stop: see :attr:`CallPrivacy.objected`."""
    await outbound.attach_call(row.id, call.id)
    detail = dict(detail)
    if privacy.store:  # the endpoint names the callee's number
        detail["endpoint"] = row.endpoint
    await calls.add_event(call.id, "originate", detail)
    if privacy.kinds:
        await calls.add_event(call.id, "privacy_restriction", {"kinds": sorted(privacy.kinds)})
