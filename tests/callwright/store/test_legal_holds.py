from __future__ import annotations

import pytest

from callwright.errors import NotFound
from callwright.store.calls import CallRepository
from callwright.store.legal_holds import LegalHoldRepository
from tests.callwright.store.conftest import MakeDb, MakeOrg

NUMBER = "+15550104444"


async def test_a_call_hold_sets_the_flag_and_lifting_clears_it(
    make_db: MakeDb, make_org: MakeOrg
) -> None:
    db = await make_db()
    org = await make_org(db)
    calls = CallRepository(db)
    call = await calls.create_call(org.id, None, None, "100", NUMBER, "Pat", "ch-1")
    holds = LegalHoldRepository(db, now=lambda: "2027-03-01T12:00:00.000Z")

    hold, created = await holds.hold_call(org.id, call.uid, "  dispute\n 42 ", "alice@example.org")
    assert created and hold.call_id == call.id and hold.reason == "dispute 42"
    assert hold.target == f"call:{call.uid}" and hold.set_by == "alice@example.org"
    assert (await calls.get(call.id)).legal_hold is True
    again, created_again = await holds.hold_call(org.id, call.uid, "other")
    assert not created_again and again.id == hold.id and again.reason == "dispute 42"
    assert [h.id for h in await holds.for_call(org.id, call.id)] == [hold.id]

    lifted = await holds.lift_call(org.id, call.uid)
    assert lifted is not None and lifted.id == hold.id
    assert (await calls.get(call.id)).legal_hold is False
    assert await holds.list_holds(org.id) == []
    assert await holds.lift_call(org.id, call.uid) is None


async def test_a_number_hold_covers_its_calls_and_is_one_per_org(
    make_db: MakeDb, make_org: MakeOrg
) -> None:
    db = await make_db()
    org, other = await make_org(db), await make_org(db)
    calls = CallRepository(db)
    call = await calls.create_call(org.id, None, None, "100", NUMBER, "Pat", "ch-1")
    holds = LegalHoldRepository(db)

    hold, created = await holds.hold_number(org.id, f" {NUMBER} ", "litigation")
    assert created and hold.caller_number == NUMBER and hold.target == f"number:{NUMBER}"
    assert not (await holds.hold_number(org.id, NUMBER))[1]
    assert [h.id for h in await holds.for_call(org.id, call.id)] == [hold.id]
    assert await holds.list_holds(other.id) == []
    assert await holds.lift_number(other.id, NUMBER) is None

    lifted = await holds.lift_number(org.id, NUMBER)
    assert lifted is not None and lifted.id == hold.id
    assert await holds.for_call(org.id, call.id) == []


async def test_bad_targets_are_refused(make_db: MakeDb, make_org: MakeOrg) -> None:
    db = await make_db()
    org, other = await make_org(db), await make_org(db)
    call = await CallRepository(db).create_call(other.id, None, None, "1", NUMBER, "", "c")
    holds = LegalHoldRepository(db)
    with pytest.raises(NotFound):
        await holds.hold_call(org.id, call.uid)  # another org's call
    with pytest.raises(NotFound):
        await holds.lift_call(org.id, "no-such-call")
    with pytest.raises(NotFound):
        await holds.hold_number(9999, NUMBER)
    for bad in ("", "   ", "+1 555", "9" * 65):
        with pytest.raises(ValueError):
            await holds.hold_number(org.id, bad)
    with pytest.raises(ValueError):
        await holds.hold_call(other.id, call.uid, "x" * 501)
    assert await holds.list_holds(other.id) == []
    assert (await CallRepository(db).get(call.id)).legal_hold is False
