"""Adding someone is an invitation their account accepts (issue 9, defect 3).

Org A's admin used to attach any existing account (of any org) with ``POST /team`` and see its
two-step status, while an unknown address answered "has no account yet". Now every address gets
the same answer, a pending invitation shows nothing of any account, and only the account itself
(signed in, or through the invitation link with its password and second factor) can accept; a
new address accepts by choosing a password through the link.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from admin.keys import SERVICES
from tests.admin.conftest import PASSWORD, Admin, AdminFactory, LoggedIn, OrgFixture

_CSRF = re.compile(r'name="_csrf" value="([^"]+)"')


async def _invite(who: LoggedIn, email: str, role: str = "viewer") -> dict[str, Any]:
    response = await who.api("POST", "/team", {"email": email, "role": role})
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def _two_orgs(make_admin: AdminFactory) -> tuple[Admin, OrgFixture, OrgFixture, LoggedIn]:
    admin = await make_admin()
    alpha = await admin.org("alpha")
    bravo = await admin.org("bravo")
    return admin, alpha, bravo, await admin.login(alpha.users["admin"])


async def _members(who: LoggedIn) -> dict[str, Any]:
    return {m["email"]: m for m in (await (await who.api("GET", "/team")).json())["members"]}


async def test_known_and_unknown_addresses_get_the_same_answer_and_nothing_is_attached(
    make_admin: AdminFactory,
) -> None:
    admin, alpha, bravo, adm = await _two_orgs(make_admin)
    outsider = bravo.users["viewer"]
    await admin.db.execute(  # the outsider uses two-step sign-in: that must not show in org A
        "UPDATE users SET totp_secret_enc = x'00' WHERE email = ?", (outsider,)
    )
    known = await _invite(adm, outsider)
    unknown = await _invite(adm, "nobody-yet@elsewhere.example")
    assert (
        set(known)
        == set(unknown)
        == {
            "invitation_id",
            "status",
            "role",
            "expires_at",
            "invitation_url",
        }
    )
    assert known["status"] == unknown["status"] == "pending"
    # Not a member of org A, and no account was made for the unknown address.
    assert outsider not in await _members(adm)
    assert (
        await admin.db.fetch_value(
            "SELECT count(*) FROM users WHERE email = 'nobody-yet@elsewhere.example'"
        )
        == 0
    )
    team = await (await adm.api("GET", "/team")).json()
    shown = {i["email"]: i for i in team["invitations"]}
    assert set(shown[outsider]) == {"id", "org", "email", "role", "created_at", "expires_at"}
    page = await (await adm.client.get("/team")).text()
    row = page[page.index(outsider) :].split("</tr>")[0]
    assert ">on<" not in row and ">off<" not in row  # no two-step status for an invitee
    actions = [
        r["action"] for r in await admin.db.fetch_all("SELECT action FROM audit_log ORDER BY id")
    ]
    assert actions.count("invitation.create") == 2 and "member.add" not in actions


async def test_the_invited_account_accepts_or_declines_when_signed_in(
    make_admin: AdminFactory,
) -> None:
    admin, alpha, bravo, adm = await _two_orgs(make_admin)
    outsider = bravo.users["editor"]
    first = await _invite(adm, outsider, "editor")
    invitee = await admin.login(outsider)
    mine = await (await invitee.api("GET", "/account/invitations")).json()
    assert [(i["org"], i["role"]) for i in mine["invitations"]] == [("Alpha", "editor")]
    assert "invitation" in await (await invitee.client.get("/account")).text()
    page = await (await invitee.client.get("/account/invitations")).text()
    assert f"/account/invitations/{first['invitation_id']}/accept" in page
    # Someone else cannot answer it.
    other = await admin.login(bravo.users["viewer"])
    stolen = await other.api("POST", f"/account/invitations/{first['invitation_id']}/accept")
    assert stolen.status == 404
    accepted = await invitee.api("POST", f"/account/invitations/{first['invitation_id']}/accept")
    assert accepted.status == 200
    assert (await _members(adm))[outsider]["role"] == "editor"
    again = await invitee.api("POST", f"/account/invitations/{first['invitation_id']}/accept")
    assert again.status == 404  # answered once
    switched = await invitee.post_form("/org/switch", {"org": "alpha"})
    assert switched.status == 303
    assert (await invitee.api("GET", "/assistants")).status == 200

    declined_one = await _invite(adm, bravo.users["viewer"])
    declined = await other.post_form(
        f"/account/invitations/{declined_one['invitation_id']}/decline"
    )
    assert declined.status == 303
    assert bravo.users["viewer"] not in await _members(adm)
    log = await admin.db.fetch_all(
        "SELECT action, org_id, actor FROM audit_log WHERE action LIKE 'invitation.%' ORDER BY id"
    )
    assert [r["action"] for r in log] == [
        "invitation.create",
        "invitation.accept",
        "invitation.create",
        "invitation.decline",
    ]
    assert all(r["org_id"] == alpha.id for r in log)


async def test_a_new_address_chooses_a_password_through_the_link(
    make_admin: AdminFactory,
) -> None:
    admin, alpha, _, adm = await _two_orgs(make_admin)
    invited = await _invite(adm, "fresh@alpha.example", "editor")
    link = urlsplit(invited["invitation_url"]).path
    assert link.startswith("/invite/cwi_")
    client = await admin.client()
    shown = await client.get(link)
    assert shown.status == 200 and "Alpha" in await shown.text()
    weak = await client.post(link, data={"password": "short"})
    assert weak.status == 400 and "at least 10" in await weak.text()
    foreign = await client.post(
        link, data={"password": "a long password"}, headers={"Origin": "http://evil.example"}
    )
    assert foreign.status == 403
    made = await client.post(link, data={"password": "a long password"})
    assert made.status == 201 and "Sign in" in await made.text()
    joined = await admin.login("fresh@alpha.example", "a long password")
    assert (await joined.api("GET", "/assistants")).status == 200
    assert (await client.post(link, data={"password": "another password"})).status == 404
    assert (await client.get(link)).status == 404
    actions = [
        r["action"]
        for r in await admin.db.fetch_all(
            "SELECT action FROM audit_log WHERE org_id = ? ORDER BY id", (alpha.id,)
        )
    ]
    assert [a for a in actions if a.startswith(("user.", "invitation."))] == [
        "invitation.create",
        "user.create",
        "invitation.accept",
    ]


async def test_through_the_link_an_existing_account_must_prove_it_is_itself(
    make_admin: AdminFactory,
) -> None:
    admin, alpha, bravo, adm = await _two_orgs(make_admin)
    outsider = bravo.users["owner"]
    services = admin.app[SERVICES]
    user = await services.users.by_email(outsider)
    assert user is not None
    enrollment = await services.second_factor.begin(user)
    user = await services.users.by_email(outsider)
    assert user is not None
    codes = await services.second_factor.confirm(user, admin.totp.current_code(enrollment.secret))
    assert codes is not None
    link = urlsplit((await _invite(adm, outsider))["invitation_url"]).path
    client = await admin.client()
    # Whoever holds the link (the inviting admin too) cannot take the account over.
    guessed = await client.post(link, data={"password": "attacker password"})
    assert guessed.status == 401 and "Wrong e-mail or password" in await guessed.text()
    no_code = await client.post(link, data={"password": PASSWORD})
    assert no_code.status == 401
    assert outsider not in await _members(adm)
    failed = await admin.db.fetch_value(
        "SELECT count(*) FROM audit_log WHERE action = 'login.failed'"
    )
    assert failed == 2  # counted against the account's sign-in limit, as at the login form
    joined = await client.post(link, data={"password": PASSWORD, "code": codes[0]})
    assert joined.status == 201, await joined.text()
    assert (await _members(adm))[outsider]["role"] == "viewer"
    assert await services.users.by_email(outsider) is not None
    assert (await client.post(link, data={"password": PASSWORD})).status == 404


async def test_an_account_in_no_org_accepts_through_the_link(make_admin: AdminFactory) -> None:
    admin, alpha, bravo, adm = await _two_orgs(make_admin)
    loner = bravo.users["viewer"]
    await admin.db.execute(
        "DELETE FROM memberships WHERE org_id = ? AND user_id ="
        " (SELECT id FROM users WHERE email = ?)",
        (bravo.id, loner),
    )
    link = urlsplit((await _invite(adm, loner))["invitation_url"]).path
    joined = await (await admin.client()).post(link, data={"password": PASSWORD})
    assert joined.status == 201
    signed_in = await admin.login(loner)
    calls = await (await signed_in.api("GET", "/calls")).json()
    assert [c["uid"] for c in calls["calls"]] == [alpha.call_uid]


async def test_an_invitation_is_only_as_good_as_its_inviter(make_admin: AdminFactory) -> None:
    admin, alpha, bravo, adm = await _two_orgs(make_admin)
    owner = await admin.login(alpha.users["owner"])
    invited = await _invite(adm, bravo.users["admin"], "admin")
    admin_id = await admin.db.fetch_value(
        "SELECT id FROM users WHERE email = ?", (alpha.users["admin"],)
    )
    assert (await owner.api("POST", f"/team/{admin_id}/role", {"role": "editor"})).status == 200
    invitee = await admin.login(bravo.users["admin"])
    refused = await invitee.api("POST", f"/account/invitations/{invited['invitation_id']}/accept")
    assert refused.status == 404
    assert bravo.users["admin"] not in await _members(owner)


async def test_withdrawn_expired_and_replaced_invitations_cannot_be_accepted(
    make_admin: AdminFactory,
) -> None:
    admin, alpha, bravo, adm = await _two_orgs(make_admin)
    invitee = await admin.login(bravo.users["viewer"])
    withdrawn = await _invite(adm, bravo.users["viewer"])
    revoked = await adm.api("POST", f"/team/invitations/{withdrawn['invitation_id']}/revoke")
    assert revoked.status == 200
    path = f"/account/invitations/{withdrawn['invitation_id']}/accept"
    assert (await invitee.api("POST", path)).status == 404
    first = await _invite(adm, bravo.users["viewer"])
    second = await _invite(adm, bravo.users["viewer"], "editor")  # replaces the first
    path = f"/account/invitations/{first['invitation_id']}/accept"
    assert (await invitee.api("POST", path)).status == 404
    await admin.db.execute(
        "UPDATE invitations SET expires_at = '2000-01-01T00:00:00.000Z' WHERE id = ?",
        (second["invitation_id"],),
    )
    listed = await (await invitee.api("GET", "/account/invitations")).json()
    assert listed["invitations"] == []
    path = f"/account/invitations/{second['invitation_id']}/accept"
    assert (await invitee.api("POST", path)).status == 404
    assert bravo.users["viewer"] not in await _members(adm)
    assert "invitation.revoke" in [
        r["action"] for r in await admin.db.fetch_all("SELECT action FROM audit_log")
    ]


async def test_invitations_refuse_what_the_old_add_accepted(make_admin: AdminFactory) -> None:
    admin, alpha, bravo, adm = await _two_orgs(make_admin)
    with_password = await adm.api(
        "POST", "/team", {"email": "x@y.example", "role": "viewer", "password": "initial pass"}
    )
    assert with_password.status == 400
    assert (await with_password.json())["error"]["field"] == "password"
    member = await adm.api("POST", "/team", {"email": alpha.users["viewer"], "role": "viewer"})
    assert member.status == 400 and "already a member" in await member.text()
    owner_invite = await adm.api("POST", "/team", {"email": "boss@y.example", "role": "owner"})
    assert owner_invite.status == 403
    made = await (await adm.api("POST", "/tokens", {"name": "t", "role": "admin"})).json()
    client = await admin.client()
    by_token = await client.get(
        "/api/v1/account/invitations", headers={"Authorization": f"Bearer {made['token']}"}
    )
    assert by_token.status == 403
    assert bravo.users["viewer"] not in await _members(adm)
