"""A staff member downloads their own data (issue 12: access and portability for staff)."""

from __future__ import annotations

import json

from tests.admin.conftest import AdminFactory


async def test_a_member_exports_their_own_data_audited(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    other = await admin.org("other")
    editor = await admin.login(org.users["editor"])
    response = await editor.api("POST", f"/calls/{org.call_uid}/notes",
                                {"body": "called back, all fine"})
    assert response.status in (200, 201), await response.text()
    page = await editor.client.get("/account")
    assert 'href="/account/export"' in await page.text()

    download = await editor.client.get("/account/export")
    assert download.status == 200
    assert "attachment" in download.headers["Content-Disposition"]
    text = await download.text()
    data = json.loads(text)
    assert data["format"] == "callwright-account-export/1"
    assert data["account"]["email"] == org.users["editor"]
    assert data["account"]["second_factor"] is False
    assert [(m["slug"], m["role"]) for m in data["memberships"]] == [("acme", "editor")]
    assert data["sessions"] and all(s["ip"] == "127.0.0.1" for s in data["sessions"])
    assert [n["body"] for n in data["notes"]] == ["called back, all fine"]
    assert data["notes"][0]["call_uid"] == org.call_uid
    actions = {e["action"] for e in data["audit_entries"]}
    assert {"login.succeeded", "call.note"} <= actions
    # no secret of the account nor anyone else's data
    password_hash = await admin.db.fetch_value("SELECT password_hash FROM users WHERE email = ?",
                                               (org.users["editor"],))
    assert str(password_hash) not in text and "csrf" not in text.lower()
    assert org.users["owner"] not in text and other.slug not in text

    api = await editor.api("GET", "/account/export")
    assert api.status == 200 and (await api.json())["account"]["email"] == org.users["editor"]
    rows = await admin.db.fetch_all(
        "SELECT org_id, target, detail FROM audit_log WHERE action = 'account.export'")
    assert len(rows) == 2 and all(r["org_id"] == org.id for r in rows)
    assert json.loads(rows[0]["detail"])["notes"] == 1


async def test_an_api_token_has_no_account_to_export(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    owner = await admin.login(org.users["owner"])
    made = await owner.api("POST", "/tokens", {"name": "ci", "role": "viewer"})
    assert made.status == 201
    client = await admin.client()
    response = await client.get(
        "/api/v1/account/export",
        headers={"Authorization": f"Bearer {(await made.json())['token']}"})
    assert response.status == 403
    assert "error" in await response.json()
