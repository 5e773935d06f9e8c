"""The per-org "encrypt recordings" setting: on for a new org, owners only, page and API,
audited; the org row the call path reads follows it."""

from __future__ import annotations

import json

from callwright.store.orgs import OrgRepository
from tests.admin.conftest import AdminFactory


async def test_owner_turns_recording_encryption_off_and_on(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    assert (await OrgRepository(admin.db).get(org.id)).encrypt_recordings is True
    owner = await admin.login(org.users["owner"])
    page = await (await owner.client.get("/org")).text()
    assert 'name="encrypt_recordings" checked' in page
    response = await owner.api("POST", "/org", {"encrypt_recordings": False})
    assert response.status == 200
    assert (await response.json())["encrypt_recordings"] is False
    assert (await OrgRepository(admin.db).get(org.id)).encrypt_recordings is False
    shown = await (await owner.api("GET", "/org")).json()
    assert shown["encrypt_recordings"] is False and shown["require_totp"] is False
    # The form: a ticked box turns it back on.
    saved = await owner.post_form("/org", {"encrypt_recordings": "on"})
    assert saved.status == 303
    assert (await OrgRepository(admin.db).get(org.id)).encrypt_recordings is True
    rows = await admin.db.fetch_all(
        "SELECT detail FROM audit_log WHERE action = 'org.settings' ORDER BY id"
    )
    assert [json.loads(row["detail"]).get("encrypt_recordings") for row in rows] == [False, True]


async def test_only_owners_may_change_it(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    for role in ("admin", "editor", "viewer"):
        who = await admin.login(org.users[role])
        response = await who.api("POST", "/org", {"encrypt_recordings": False})
        assert response.status == 403, role
    assert (await OrgRepository(admin.db).get(org.id)).encrypt_recordings is True


async def test_a_non_boolean_is_refused(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    owner = await admin.login(org.users["owner"])
    response = await owner.api("POST", "/org", {"encrypt_recordings": "no"})
    assert response.status == 400
    assert (await OrgRepository(admin.db).get(org.id)).encrypt_recordings is True
