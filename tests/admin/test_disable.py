"""Owners and admins can disable a member of their org, and enable them again (issue 9).

A disabled member keeps their role but has no access to the org: they cannot sign in to it, their
sessions there end and their tokens there are revoked; each change is in the audit log. It is per
org: the same account keeps its access to its other orgs.
"""

from __future__ import annotations

import re

import pytest

from callwright.accounts.audit import Actor
from callwright.accounts.directory import TeamError
from callwright.store.users import UserRepo
from cli.accounts import directory_for
from tests.admin.conftest import FAST, PASSWORD, Admin, AdminFactory

_CSRF = re.compile(r'name="_csrf" value="([^"]+)"')


async def _id(admin: Admin, email: str) -> int:
    return int(await admin.db.fetch_value("SELECT id FROM users WHERE email = ?", (email,)))


async def _sign_in(admin: Admin, email: str) -> tuple[int, str]:
    client = await admin.client()
    token = _CSRF.search(await (await client.get("/login")).text())
    assert token is not None
    response = await client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "_csrf": token.group(1)},
        allow_redirects=False,
    )
    return response.status, await response.text()


async def test_a_disabled_member_loses_access_until_enabled(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    owner = await admin.login(org.users["owner"])
    member = await admin.login(org.users["admin"])
    made = await (await member.api("POST", "/tokens", {"name": "ci", "role": "admin"})).json()
    auth = {"Authorization": f"Bearer {made['token']}"}
    client = await admin.client()
    member_id = await _id(admin, org.users["admin"])

    disabled = await owner.api("POST", f"/team/{member_id}/disable")
    assert disabled.status == 200
    assert (await member.api("GET", "/calls")).status == 401
    assert (await client.get("/api/v1/calls", headers=auth)).status == 401
    status, text = await _sign_in(admin, org.users["admin"])
    assert status == 401 and "not a member" in text
    team = (await (await owner.api("GET", "/team")).json())["members"]
    shown = {m["email"]: m for m in team}[org.users["admin"]]
    assert shown["disabled"] is True and shown["role"] == "admin"
    page = await (await owner.client.get("/team")).text()
    assert f"/team/{member_id}/enable" in page

    enabled = await owner.api("POST", f"/team/{member_id}/enable")
    assert enabled.status == 200
    status, _ = await _sign_in(admin, org.users["admin"])
    assert status == 303
    # The token was revoked when the member was disabled: enabling does not bring it back.
    assert (await client.get("/api/v1/calls", headers=auth)).status == 401
    log = await admin.db.fetch_all(
        "SELECT action, target FROM audit_log WHERE action IN"
        " ('member.disable', 'member.enable', 'token.revoke') ORDER BY id"
    )
    assert [(r["action"], r["target"]) for r in log] == [
        ("member.disable", f"user:{member_id}"),
        ("token.revoke", f"token:{made['id']}"),
        ("member.enable", f"user:{member_id}"),
    ]


async def test_who_may_disable_whom(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme", with_data=False)
    owner = await admin.login(org.users["owner"])
    adm = await admin.login(org.users["admin"])
    owner_id = await _id(admin, org.users["owner"])
    admin_id = await _id(admin, org.users["admin"])
    editor_id = await _id(admin, org.users["editor"])
    assert (await adm.api("POST", f"/team/{owner_id}/disable")).status == 403
    yourself = await owner.api("POST", f"/team/{owner_id}/disable")
    assert yourself.status == 400 and "yourself" in (await yourself.json())["error"]["message"]
    assert (await adm.api("POST", f"/team/{editor_id}/disable")).status == 200
    assert (await _sign_in(admin, org.users["editor"]))[0] == 401
    viewer = await admin.login(org.users["viewer"])
    assert (await viewer.api("POST", f"/team/{admin_id}/disable")).status == 403
    assert (
        await admin.db.fetch_value(
            "SELECT disabled FROM memberships WHERE user_id = ?", (admin_id,)
        )
    ) == 0


async def test_disabling_in_one_org_leaves_the_others(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    alpha = await admin.org("alpha")
    bravo = await admin.org("bravo")
    users = UserRepo(admin.db)
    shared = await users.by_email(alpha.users["editor"])
    assert shared is not None
    await users.add_membership(shared.id, bravo.id, "viewer")
    editor = await admin.login(alpha.users["editor"])
    alpha_owner = await admin.login(alpha.users["owner"])
    assert (await alpha_owner.api("POST", f"/team/{shared.id}/disable")).status == 200
    # The session was in alpha: it ended. Signing in again lands in bravo, the org left to them.
    assert (await editor.api("GET", "/assistants")).status == 401
    again = await admin.login(alpha.users["editor"])
    calls = await (await again.api("GET", "/calls")).json()
    assert [c["uid"] for c in calls["calls"]] == [bravo.call_uid]
    refused = await again.post_form("/org/switch", {"org": "alpha"})
    assert refused.status == 404


async def test_the_cli_disables_an_account_in_every_org(make_admin: AdminFactory) -> None:
    """``callwright user disable`` (whoever runs the machine): every org, every session and token;
    the last owner of an org is refused; ``enable`` lets the account sign in again."""
    admin = await make_admin()
    alpha = await admin.org("alpha", with_data=False)
    bravo = await admin.org("bravo", with_data=False)
    users = UserRepo(admin.db)
    shared = await users.by_email(alpha.users["editor"])
    assert shared is not None
    await users.add_membership(shared.id, bravo.id, "admin")
    session = await admin.login(alpha.users["editor"])
    in_bravo = await admin.login(alpha.users["editor"])
    assert (await in_bravo.post_form("/org/switch", {"org": "bravo"})).status in (200, 303)
    made = await (await in_bravo.api("POST", "/tokens", {"name": "ci", "role": "admin"})).json()
    auth = {"Authorization": f"Bearer {made['token']}"}
    client = await admin.client()
    assert (await client.get("/api/v1/calls", headers=auth)).status == 200
    directory = directory_for(admin.db, FAST)

    assert await directory.set_account_disabled(Actor.cli(), shared.id, True) is True
    assert await directory.set_account_disabled(Actor.cli(), shared.id, True) is False
    assert (await session.api("GET", "/calls")).status == 401
    assert (await in_bravo.api("GET", "/calls")).status == 401
    assert (await client.get("/api/v1/calls", headers=auth)).status == 401
    assert (await _sign_in(admin, alpha.users["editor"]))[0] == 401
    owner = await users.by_email(alpha.users["owner"])
    assert owner is not None
    with pytest.raises(TeamError, match="last owner of org 'alpha'"):
        await directory.set_account_disabled(Actor.cli(), owner.id, True)

    assert await directory.set_account_disabled(Actor.cli(), shared.id, False) is True
    assert (await _sign_in(admin, alpha.users["editor"]))[0] == 303
    assert (await client.get("/api/v1/calls", headers=auth)).status == 401  # stays revoked
    log = await admin.db.fetch_all(
        "SELECT action, target FROM audit_log WHERE action IN"
        " ('user.disable', 'user.enable', 'token.revoke') ORDER BY id"
    )
    assert [(r["action"], r["target"]) for r in log] == [
        ("user.disable", f"user:{shared.id}"),
        ("token.revoke", f"token:{made['id']}"),
        ("user.enable", f"user:{shared.id}"),
    ]
