"""The org's consent notice and privacy notice in the admin and the API (issue 12, item 1)."""

from __future__ import annotations

import json

from tests.admin.conftest import AdminFactory


async def test_owners_set_the_notices_by_form_and_api_audited(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    other = await admin.org("other")
    owner = await admin.login(org.users["owner"])
    assert await (await owner.api("GET", "/org/consent")).json() == {
        "consent_prompt": "", "privacy_notice": ""}

    form = await owner.post_form("/org/consent", {"consent_prompt": " Calls are recorded. ",
                                                  "privacy_notice": "We keep them 90 days."})
    assert form.status == 303
    page = await (await owner.client.get("/org/consent")).text()
    assert "Calls are recorded." in page and "We keep them 90 days." in page

    response = await owner.api("POST", "/org/consent", {"privacy_notice": ""})
    assert response.status == 200
    assert await response.json() == {"consent_prompt": "Calls are recorded.",
                                      "privacy_notice": ""}
    stored = await admin.db.fetch_one("SELECT consent_prompt, privacy_notice FROM orgs"
                                      " WHERE id = ?", (org.id,))
    assert stored is not None and tuple(stored) == ("Calls are recorded.", "")
    untouched = await admin.db.fetch_one("SELECT consent_prompt FROM orgs WHERE id = ?",
                                         (other.id,))
    assert untouched is not None and untouched[0] == ""
    rows = await admin.db.fetch_all("SELECT detail FROM audit_log WHERE action = 'org.consent'"
                                    " AND org_id = ? ORDER BY id", (org.id,))
    assert [json.loads(r[0]) for r in rows] == [
        {"consent_prompt": 19, "privacy_notice": 21}, {"privacy_notice": 0}]


async def test_bad_notices_and_roles(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    owner = await admin.login(org.users["owner"])
    for body in ({"consent_prompt": 5}, {"privacy_notice": "x" * 2001},
                 {"consent_prompt": None}):
        response = await owner.api("POST", "/org/consent", body)
        assert response.status == 400, (body, await response.text())
    too_long = await owner.post_form("/org/consent", {"consent_prompt": "x" * 2001})
    assert too_long.status == 400
    admin_user = await admin.login(org.users["admin"])
    assert (await admin_user.api("POST", "/org/consent", {"consent_prompt": "x"})).status == 403
    assert await admin.db.fetch_value("SELECT count(*) FROM audit_log WHERE action ="
                                      " 'org.consent'") == 0
