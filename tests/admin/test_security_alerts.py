"""Security alerts (issue 12): a lock-out after failed sign-ins and an admin's or owner's
sign-in from a new address queue a ``security.alert`` event for the org's endpoints, audited."""

from __future__ import annotations

import json
import re
from typing import Any

from callwright.store.audit import AuditRepo
from callwright.store.credentials import CredentialRepository
from callwright.store.webhook_deliveries import DeliveryRepository
from callwright.store.webhook_endpoints import EndpointRepository
from tests.admin.conftest import Admin, AdminFactory, OrgFixture

_CSRF = re.compile(r'name="_csrf" value="([^"]+)"')


async def sign_in(admin: Admin, email: str, password: str) -> int:
    client = await admin.client()
    token = _CSRF.search(await (await client.get("/login")).text())
    assert token is not None
    response = await client.post(
        "/login", data={"email": email, "password": password, "_csrf": token.group(1)},
        allow_redirects=False)
    return int(response.status)


async def endpoints(admin: Admin, org: OrgFixture) -> tuple[int, int]:
    """A Slack endpoint subscribed to security alerts and a webhook that is not."""
    creds = CredentialRepository(admin.db, admin.master_key)
    repo = EndpointRepository(admin.db, admin.master_key)
    await creds.put(org.id, "webhook_url", "slack-url", "https://hooks.slack.example/T/1")
    await creds.put(org.id, "webhook_url", "crm-url", "https://crm.example/hook")
    slack, _ = await repo.create(org.id, "security", target="slack", credential_name="slack-url",
                                 events=["security.alert"])
    crm, _ = await repo.create(org.id, "crm", target="webhook", credential_name="crm-url",
                               events=["call.ended"])
    return slack.id, crm.id


async def alerts(admin: Admin, org: OrgFixture) -> list[dict[str, Any]]:
    rows = await DeliveryRepository(admin.db).list(org.id)
    return [{"endpoint": d.endpoint_id, "status": d.status, **json.loads(d.body)}
            for d in rows if d.event == "security.alert"]


async def audited(admin: Admin, org: OrgFixture) -> list[dict[str, Any]]:
    rows = await admin.db.fetch_all(
        "SELECT actor, target, detail FROM audit_log WHERE org_id = ? AND action = ?"
        " ORDER BY id", (org.id, "security.alert"))
    return [{"actor": r["actor"], "target": r["target"], **json.loads(r["detail"])}
            for r in rows]


async def test_a_burst_of_failed_sign_ins_alerts_the_org(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme", with_data=False)
    other = await admin.org("other", with_data=False)
    slack, _ = await endpoints(admin, org)
    editor = org.users["editor"]
    for _ in range(4):
        assert await sign_in(admin, editor, "wrong password!") == 401
    assert await alerts(admin, org) == []
    assert await sign_in(admin, editor, "wrong password!") == 429
    [alert] = await alerts(admin, org)
    assert alert["endpoint"] == slack and alert["status"] == "pending"
    assert alert["type"] == "security.alert"
    assert alert["data"]["kind"] == "login_lockout"
    assert alert["data"]["user"]["email"] == editor and alert["data"]["ip"] == "127.0.0.1"
    [entry] = await audited(admin, org)
    assert entry["kind"] == "login_lockout" and entry["endpoints"] == 1
    assert entry["event_id"] == alert["id"] and entry["actor"] == "system"
    assert await alerts(admin, other) == []  # the editor is no member there
    # an unknown e-mail locked out: no account, no org to tell, nothing queued
    for _ in range(5):
        await sign_in(admin, "nobody@acme.example", "wrong password!")
    assert len(await alerts(admin, org)) == 1


async def test_an_owner_signing_in_from_a_new_address_alerts_the_org(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin()
    org = await admin.org("acme", with_data=False)
    slack, _ = await endpoints(admin, org)
    owner, viewer = org.users["owner"], org.users["viewer"]
    await admin.login(org.users["admin"])  # a first sign-in ever: nothing to compare with
    assert await alerts(admin, org) == []
    audit = AuditRepo(admin.db)  # the owner's and viewer's earlier sign-ins came from elsewhere
    for email in (owner, viewer):
        user = await admin.db.fetch_value("SELECT id FROM users WHERE email = ?", (email,))
        await audit.append(org_id=org.id, user_id=int(user), actor=f"user:{user}",
                           action="login.succeeded", target="", detail={}, ip="203.0.113.9")
    await admin.login(owner)
    await admin.login(viewer)  # a viewer: no alert
    [alert] = await alerts(admin, org)
    assert alert["data"]["kind"] == "new_address" and alert["data"]["user"]["role"] == "owner"
    [entry] = await audited(admin, org)
    assert entry["kind"] == "new_address" and entry["ip"] == "127.0.0.1"
    await admin.login(owner)  # the same address again: known now
    assert len(await alerts(admin, org)) == 1
