"""API tokens are worth no more than their issuer is worth now (issue 9, defect 1).

The issuer's membership and role are checked on every request; removing or demoting a member also
revokes their tokens (audited), and a token made with a token is bound to the same person.
"""

from __future__ import annotations

from typing import Any

from tests.admin.conftest import Admin, AdminFactory, LoggedIn, OrgFixture


async def _user_id(admin: Admin, email: str) -> int:
    return int(await admin.db.fetch_value("SELECT id FROM users WHERE email = ?", (email,)))


async def _token(who: LoggedIn, role: str, name: str = "script") -> tuple[int, dict[str, str]]:
    made = await who.api("POST", "/tokens", {"name": name, "role": role})
    assert made.status == 201, await made.text()
    body = await made.json()
    return int(body["id"]), {"Authorization": f"Bearer {body['token']}"}


async def _setup(make_admin: AdminFactory) -> tuple[Admin, OrgFixture, LoggedIn, LoggedIn]:
    admin = await make_admin()
    org = await admin.org("acme")
    owner = await admin.login(org.users["owner"])
    member = await admin.login(org.users["admin"])
    return admin, org, owner, member


async def _audit(admin: Admin, action: str) -> list[Any]:
    return await admin.db.fetch_all(
        "SELECT target, detail FROM audit_log WHERE action = ? ORDER BY id", (action,)
    )


async def test_a_demoted_issuers_token_loses_the_role_it_no_longer_has(
    make_admin: AdminFactory,
) -> None:
    admin, org, owner, member = await _setup(make_admin)
    admin_token_id, admin_token = await _token(member, "admin")
    _, viewer_token = await _token(member, "viewer", "read-only")
    client = await admin.client()
    assert (await client.get("/api/v1/credentials", headers=admin_token)).status == 200
    member_id = await _user_id(admin, org.users["admin"])
    demoted = await owner.api("POST", f"/team/{member_id}/role", {"role": "viewer"})
    assert demoted.status == 200
    # The session already drops to viewer; the admin token must not keep what the session lost.
    assert (await member.api("GET", "/credentials")).status == 403
    refused = await client.get("/api/v1/credentials", headers=admin_token)
    assert refused.status in (401, 403)
    # The token above the new role was revoked, and the log says so; the viewer token still works.
    assert (await client.get("/api/v1/calls", headers=viewer_token)).status == 200
    revoked = await _audit(admin, "token.revoke")
    assert [r["target"] for r in revoked] == [f"token:{admin_token_id}"]
    assert "demoted" in revoked[0]["detail"]


async def test_a_token_acts_with_the_lesser_of_its_role_and_its_issuers_current_role(
    make_admin: AdminFactory,
) -> None:
    admin, org, _, member = await _setup(make_admin)
    _, admin_token = await _token(member, "admin")
    client = await admin.client()
    member_id = await _user_id(admin, org.users["admin"])
    # A role changed without going through the team page (another admin process, the store):
    # the per-request check alone must bound the token.
    await admin.db.execute(
        "UPDATE memberships SET role = 'editor' WHERE user_id = ? AND org_id = ?",
        (member_id, org.id),
    )
    assert (await client.get("/api/v1/credentials", headers=admin_token)).status == 403
    assert (await client.get("/api/v1/assistants", headers=admin_token)).status == 200
    await admin.db.execute(
        "UPDATE memberships SET role = 'admin' WHERE user_id = ? AND org_id = ?",
        (member_id, org.id),
    )
    assert (await client.get("/api/v1/credentials", headers=admin_token)).status == 200


async def test_a_removed_issuers_tokens_stop_working_and_are_revoked(
    make_admin: AdminFactory,
) -> None:
    admin, org, owner, member = await _setup(make_admin)
    first_id, first = await _token(member, "admin")
    client = await admin.client()
    # A token made with a token belongs to the same person (it is not an orphan with no issuer).
    made = await client.post(
        "/api/v1/tokens", json={"name": "child", "role": "admin"}, headers=first
    )
    assert made.status == 201
    child = await made.json()
    member_id = await _user_id(admin, org.users["admin"])
    assert (
        await admin.db.fetch_value("SELECT user_id FROM api_tokens WHERE id = ?", (child["id"],))
        == member_id
    )
    child_auth = {"Authorization": f"Bearer {child['token']}"}
    removed = await owner.api("POST", f"/team/{member_id}/remove")
    assert removed.status == 200
    for auth in (first, child_auth):
        assert (await client.get("/api/v1/credentials", headers=auth)).status == 401
        adding = await client.post(
            "/api/v1/team", json={"email": "mallory@x.example", "role": "admin"}, headers=auth
        )
        assert adding.status == 401
        again = await client.post(
            "/api/v1/tokens", json={"name": "again", "role": "admin"}, headers=auth
        )
        assert again.status == 401
    revoked = {r["target"] for r in await _audit(admin, "token.revoke")}
    assert revoked == {f"token:{first_id}", f"token:{child['id']}"}
    live = await admin.db.fetch_value(
        "SELECT count(*) FROM api_tokens WHERE user_id = ? AND revoked_at IS NULL", (member_id,)
    )
    assert live == 0


async def test_a_token_is_refused_once_its_issuer_has_no_membership_or_is_disabled(
    make_admin: AdminFactory,
) -> None:
    admin, org, _, member = await _setup(make_admin)
    _, auth = await _token(member, "viewer")
    client = await admin.client()
    member_id = await _user_id(admin, org.users["admin"])
    # Behind the team page's back: the row goes, but the token is not revoked.
    await admin.db.execute(
        "DELETE FROM memberships WHERE user_id = ? AND org_id = ?", (member_id, org.id)
    )
    assert (await client.get("/api/v1/calls", headers=auth)).status == 401
    await admin.db.execute(
        "INSERT INTO memberships (user_id, org_id, role, created_at) VALUES (?, ?, 'admin', '')",
        (member_id, org.id),
    )
    assert (await client.get("/api/v1/calls", headers=auth)).status == 200
    await admin.db.execute("UPDATE users SET disabled = 1 WHERE id = ?", (member_id,))
    assert (await client.get("/api/v1/calls", headers=auth)).status == 401


async def test_a_token_without_an_issuer_is_refused(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme", with_data=False)
    from callwright.accounts.roles import Role
    from callwright.accounts.tokens import ApiTokens
    from callwright.store.tokens import TokenRepo

    issued = await ApiTokens(TokenRepo(admin.db)).issue(
        org_id=org.id, user_id=None, name="orphan", role=Role.OWNER
    )
    client = await admin.client()
    auth = {"Authorization": f"Bearer {issued.token}"}
    assert (await client.get("/api/v1/calls", headers=auth)).status == 401
