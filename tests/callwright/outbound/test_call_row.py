"""The calls row of an outbound call (create_outbound_row, note_origination): the callee's number
as their restrictions keep it, the endpoint only when it may be stored, the restriction event."""

from __future__ import annotations

from pathlib import Path

from callwright.outbound.call_row import create_outbound_row, note_origination
from callwright.outbound.request import OutboundRequest
from callwright.privacy.call_privacy import CallPrivacy
from callwright.store.assistants import AssistantRepository
from callwright.store.calls import CallRepository
from callwright.store.db import Database
from callwright.store.orgs import OrgRepository
from callwright.store.outbound_calls import OutboundCallRepository

CALLEE = "+15550100199"


Events = list[tuple[str, dict[str, object]]]


async def _events(
    privacy: CallPrivacy, tmp_path: Path,
) -> tuple[str, str, Events, int | None]:
    db = await Database.open(tmp_path / "store.db")
    try:
        org = await OrgRepository(db).create("Acme", "acme")
        assistant = await AssistantRepository(db).create(org.id, "One", "en", "Hi")
        outbound = OutboundCallRepository(db)
        row = await outbound.enqueue(org.id, OutboundRequest(
            assistant.id, CALLEE, f"PJSIP/{CALLEE}@a", "Acme <+15550110>"))
        calls = CallRepository(db)
        call = await create_outbound_row(calls, row, privacy, caller_number="+15550110",
                                         channel_id="chan-1")
        detail = {"caller_id": row.caller_id, "outbound": row.uid}
        await note_origination(calls, outbound, row, call, privacy, detail)
        assert detail == {"caller_id": row.caller_id, "outbound": row.uid}  # not changed
        stored = await calls.get(call.id)
        events = [(e.kind, e.detail) for e in await calls.events(call.id)]
        return (stored.dialed, stored.direction, events, (await outbound.get(row.id)).call_id)
    finally:
        await db.close()


async def test_an_unrestricted_callee_s_row_names_the_endpoint(tmp_path: Path) -> None:
    dialed, direction, events, attached = await _events(
        CallPrivacy(frozenset(), CALLEE, ""), tmp_path)
    assert (dialed, direction, attached is not None) == (CALLEE, "outbound", True)
    assert [kind for kind, _ in events] == ["originate"]
    assert events[0][1]["endpoint"] == f"PJSIP/{CALLEE}@a"


async def test_a_callee_not_stored_keeps_no_number_and_the_kinds_are_noted(
    tmp_path: Path,
) -> None:
    dialed, _, events, attached = await _events(
        CallPrivacy(frozenset({"store", "record"}), "hashed", ""), tmp_path)
    assert dialed == "hashed" and attached is not None
    assert [kind for kind, _ in events] == ["originate", "privacy_restriction"]
    assert "endpoint" not in events[0][1]
    assert events[1][1] == {"kinds": ["record", "store"]}
    assert CALLEE not in repr(events)
