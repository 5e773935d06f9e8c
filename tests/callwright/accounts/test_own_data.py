"""A staff member's own data (:mod:`callwright.accounts.own_data`), on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from callwright.accounts.audit import Actor, AuditWriter
from callwright.accounts.own_data import export_audited, export_own_data
from callwright.errors import NotFound
from callwright.store.audit import AuditRepo
from callwright.store.calls import CallRepository
from callwright.store.users import UserRepo
from tests.callwright.store.conftest import (  # noqa: F401  (fixtures used by these tests)
    MakeDb,
    MakeOrg,
    make_db,
    make_org,
)


async def test_the_export_holds_the_accounts_data_and_nobody_elses(
    make_db: MakeDb, make_org: MakeOrg  # noqa: F811
) -> None:
    db = await make_db()
    org = await make_org(db, "acme")
    users = UserRepo(db)
    me = await users.create("me@acme.example", "hash-of-mine")
    other = await users.create("other@acme.example", "hash-of-theirs")
    await users.add_membership(me, org.id, "admin")
    await users.add_membership(other, org.id, "owner")
    calls = CallRepository(db)
    call = await calls.create_call(org.id, None, None, "100", "+15550001", "Ada", "chan-1")
    for user_id, body in ((me, "mine"), (other, "theirs")):
        await db.execute("INSERT INTO call_notes (call_id, user_id, body, created_at)"
                         " VALUES (?, ?, ?, ?)", (call.id, user_id, body, call.started_at))
    audit = AuditWriter(AuditRepo(db))
    await audit.record(Actor("user", user_id=me, ip="192.0.2.1"), "assistant.update",
                       org_id=org.id, detail={"name": "Desk"})
    await audit.record(Actor("user", user_id=other, ip="192.0.2.2"), "org.update",
                       org_id=org.id)

    data = await export_audited(db, audit, Actor("user", user_id=me), me, org.id)
    assert data["account"]["email"] == "me@acme.example"
    assert [m["role"] for m in data["memberships"]] == ["admin"]
    assert [n["body"] for n in data["notes"]] == ["mine"]
    assert [(e["action"], e["detail"], e["ip"]) for e in data["audit_entries"]] == [
        ("assistant.update", {"name": "Desk"}, "192.0.2.1")]
    text = json.dumps(data)
    assert "hash-of-mine" not in text and "other@acme.example" not in text
    again = await export_own_data(db, me)  # the export itself is now one of my entries
    assert again["audit_entries"][-1]["action"] == "account.export"
    with pytest.raises(NotFound):
        await export_own_data(db, 99999)
