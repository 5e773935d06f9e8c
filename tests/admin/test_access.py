"""Access control, walked over every route of the route table.

For each route: without a session or token it answers 401 (API) or sends to the login form
(pages); with a role below the route's minimum it answers 403; with another org's ids it answers
404 and changes nothing there; and page writes without the CSRF token are refused.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from admin.app import all_routes
from admin.routing import Route
from callwright.accounts.roles import Role
from callwright.campaigns.contacts_csv import Contact
from callwright.prompts.audio import PromptAudio
from callwright.store.campaigns import Campaign, CampaignRepository
from callwright.store.credentials import CredentialRepository
from callwright.store.prompts import PromptRepository
from tests.admin.conftest import Admin, AdminFactory, LoggedIn, OrgFixture

ROUTES = all_routes()
_PARAM = re.compile(r"\{(\w+)\}")
_BELOW = {Role.EDITOR: Role.VIEWER, Role.ADMIN: Role.EDITOR, Role.OWNER: Role.ADMIN}


#: org id -> the id of a campaign / a recorded prompt of that org (made by two_orgs).
CAMPAIGNS: dict[int, int] = {}
PROMPTS: dict[int, int] = {}


def fill(path: str, org: OrgFixture, user_id: int = 0) -> str:
    values = {
        "uid": org.call_uid,
        "assistant_id": org.assistant_id,
        "number_id": org.number_id,
        "credential_id": org.credential_id,
        "doc_id": org.doc_id,
        "token_id": org.token_id,
        "invitation_id": org.invitation_id,
        "endpoint_id": org.endpoint_id,
        "delivery_id": org.delivery_id,
        "request_id": org.request_id,
        "token": "not-a-link",
        "user_id": user_id,
        "campaign_id": CAMPAIGNS.get(org.id, 0),
        "prompt_id": PROMPTS.get(org.id, 0),
        "action": "start",
        "channel": "cw-setup-0123456789ab",  # a wizard test call's id (none placed here)
    }
    return _PARAM.sub(lambda m: str(values[m.group(1)]), path)


def body_for(route: Route, org: OrgFixture) -> dict[str, Any]:
    """A body that would be valid in ``org`` (so only scoping or roles can refuse it)."""
    bodies: dict[str, dict[str, Any]] = {
        "/calls/{uid}/notes": {"body": "a note"},
        "/assistants": {"name": "New one"},
        "/assistants/{assistant_id}": {"greeting": "Hi"},
        "/assistants/{assistant_id}/flow": {"definition": {}},
        "/assistants/{assistant_id}/knowledge": {"title": "T", "body": "Body text"},
        "/assistants/{assistant_id}/knowledge/qa": {"question": "Q?", "answer": "A."},
        "/assistants/{assistant_id}/prompts": {"text": "Hi", "audio_base64": "AAAA"},
        "/numbers": {"number": "+15559990000"},
        "/numbers/{number_id}/assign": {"assistant_id": org.assistant_id},
        "/credentials": {"name": "k", "kind": "api_key", "secret": "0123456789"},
        "/credentials/{credential_id}/replace": {"secret": "replacement-secret"},
        "/retention": {"metadata_days": 30, "transcript_days": 30, "recording_days": 30},
        "/retention/assistant": {
            "metadata_days": 30,
            "transcript_days": 30,
            "recording_days": 30,
            "assistant_id": org.assistant_id,
        },
        "/team": {"email": "new@x.example", "role": "viewer"},
        "/team/{user_id}/role": {"role": "viewer"},
        "/tokens": {"name": "t", "role": "viewer"},
        "/org": {"require_totp": False},
        "/webhooks/{endpoint_id}": {"enabled": False},
        "/requests": {"kind": "export", "subject": "+15550001"},
        "/requests/{request_id}/refuse": {"reason": "identity not proven"},
    }
    return bodies.get(route.path, {})


async def _member_id(admin: Admin, email: str) -> int:
    return int(await admin.db.fetch_value("SELECT id FROM users WHERE email = ?", (email,)))


@pytest.fixture
async def two_orgs(make_admin: AdminFactory) -> tuple[Admin, OrgFixture, OrgFixture]:
    admin = await make_admin()
    alpha = await admin.org("alpha")
    bravo = await admin.org("bravo")
    for org in (alpha, bravo):
        CAMPAIGNS[org.id] = (await CampaignRepository(admin.db).create(
            Campaign(0, org.id, f"{org.slug} campaign", org.assistant_id),
            [Contact(2, "+15550100100")])).id
        PROMPTS[org.id] = (await PromptRepository(admin.db).save(
            org.id, org.assistant_id, "Hello.", "hello.wav",
            PromptAudio(b"\0\0" * 800, b"\0\0" * 1600, b"\xff" * 800, b"\xd5" * 800, 100))).id
    return admin, alpha, bravo


async def test_every_route_needs_a_session_or_token(
    two_orgs: tuple[Admin, OrgFixture, OrgFixture],
) -> None:
    admin, alpha, _ = two_orgs
    client = await admin.client()
    for route in ROUTES:
        path = fill(route.path, alpha)
        if route.api:
            response = await client.request(route.method, "/api/v1" + path, json={})
            assert response.status == 401, (route.method, path)
            assert "error" in await response.json()
        if route.page:
            response = await client.request(route.method, path, allow_redirects=False)
            assert response.status == 303, (route.method, path)
            assert response.headers["Location"].startswith("/login"), path


async def test_a_bad_or_revoked_token_is_refused(
    two_orgs: tuple[Admin, OrgFixture, OrgFixture],
) -> None:
    admin, _, _ = two_orgs
    client = await admin.client()
    for header in ("Bearer cwt_nope", "Basic abc", "Bearer "):
        response = await client.get("/api/v1/calls", headers={"Authorization": header})
        assert response.status == 401


async def test_every_route_refuses_roles_below_its_minimum(
    two_orgs: tuple[Admin, OrgFixture, OrgFixture],
) -> None:
    admin, alpha, _ = two_orgs
    sessions: dict[Role, LoggedIn] = {}
    checked = 0
    for route in ROUTES:
        if route.minimum is Role.VIEWER:
            continue
        below = _BELOW[route.minimum]
        if below not in sessions:
            sessions[below] = await admin.login(alpha.users[below.value])
        who = sessions[below]
        user_id = await _member_id(admin, alpha.users["viewer"])
        path = fill(route.path, alpha, user_id)
        if route.api:
            response = await who.api(route.method, path, body_for(route, alpha))
            assert response.status == 403, (below, route.method, path, await response.text())
            checked += 1
        if route.page:
            if route.method == "GET":
                response = await who.client.get(path, allow_redirects=False)
            else:
                response = await who.post_form(path, {})
            assert response.status == 403, (below, route.method, path)
            assert "Not allowed" in await response.text()
    assert checked > 15


async def test_every_route_with_an_id_hides_other_orgs(
    two_orgs: tuple[Admin, OrgFixture, OrgFixture],
) -> None:
    admin, alpha, bravo = two_orgs
    owner = await admin.login(alpha.users["owner"])
    bravo_member = await _member_id(admin, bravo.users["viewer"])
    checked = 0
    for route in ROUTES:
        if not _PARAM.search(route.path):
            continue
        path = fill(route.path, bravo, bravo_member)
        body = body_for(route, alpha)
        if route.api:
            response = await owner.api(route.method, path, body)
            assert response.status == 404, (route.method, path, await response.text())
            checked += 1
        if route.page:
            if route.method == "GET":
                response = await owner.client.get(path)
            else:
                response = await owner.post_form(path, body)
            assert response.status == 404, (route.method, path)
    assert checked >= 15
    # Nothing of bravo's changed:
    row = await admin.db.fetch_one(
        "SELECT name, greeting FROM assistants WHERE id = ?", (bravo.assistant_id,)
    )
    assert row is not None and row["name"] == "bravo bot" and row["greeting"] == ""
    assert (
        await admin.db.fetch_value(
            "SELECT assistant_id FROM numbers WHERE id = ?", (bravo.number_id,)
        )
        == bravo.assistant_id
    )
    secret = await CredentialRepository(admin.db, admin.master_key).reveal(bravo.id, "openai")
    assert secret == "sk-secret-bravo-ABCD"
    assert await admin.db.fetch_value("SELECT count(*) FROM call_notes") == 0
    assert (
        await admin.db.fetch_value(
            "SELECT revoked_at FROM api_tokens WHERE id = ?", (bravo.token_id,)
        )
        is None
    )
    assert (
        await admin.db.fetch_value(
            "SELECT role FROM memberships WHERE user_id = ? AND org_id = ?",
            (bravo_member, bravo.id),
        )
        == "viewer"
    )
    assert (
        await admin.db.fetch_value(
            "SELECT count(*) FROM knowledge_docs WHERE id = ?", (bravo.doc_id,)
        )
        == 1
    )
    assert await admin.db.fetch_value("SELECT count(*) FROM flows") == 0


async def test_lists_never_show_another_orgs_rows(
    two_orgs: tuple[Admin, OrgFixture, OrgFixture],
) -> None:
    admin, alpha, bravo = two_orgs
    owner = await admin.login(alpha.users["owner"])
    markers = ["bravo", bravo.call_uid, "sk-secret", "+1" + str(5550000000 + bravo.id * 1000)]
    for route in ROUTES:
        if route.method != "GET" or _PARAM.search(route.path):
            continue
        if route.api:
            text = await (await owner.api("GET", route.path)).text()
            for marker in markers:
                assert marker not in text, (route.path, marker)
        if route.page:
            text = await (await owner.client.get(route.path)).text()
            for marker in markers[1:]:
                assert marker not in text, (route.path, marker)


async def test_ids_of_another_org_in_bodies_and_filters_are_refused(
    two_orgs: tuple[Admin, OrgFixture, OrgFixture],
) -> None:
    admin, alpha, bravo = two_orgs
    owner = await admin.login(alpha.users["owner"])
    response = await owner.api(
        "POST", f"/numbers/{alpha.number_id}/assign", {"assistant_id": bravo.assistant_id}
    )
    assert response.status == 404
    response = await owner.api(
        "POST", "/numbers", {"number": "+15551112222", "assistant_id": bravo.assistant_id}
    )
    assert response.status == 404
    response = await owner.api(
        "POST",
        "/retention/assistant",
        {
            "assistant_id": bravo.assistant_id,
            "metadata_days": 5,
            "transcript_days": 5,
            "recording_days": 5,
        },
    )
    assert response.status == 404
    response = await owner.post_form(
        "/assistants",
        {"name": "x", "language": "en", "llm_credential_id": str(bravo.credential_id)},
    )
    assert response.status == 404
    listed = await (await owner.api("GET", f"/calls?assistant={bravo.assistant_id}")).json()
    assert listed["calls"] == []


async def test_page_writes_need_the_csrf_token(
    two_orgs: tuple[Admin, OrgFixture, OrgFixture],
) -> None:
    admin, alpha, _ = two_orgs
    owner = await admin.login(alpha.users["owner"])
    response = await owner.client.post(
        "/assistants", data={"name": "Sneaky"}, allow_redirects=False
    )
    assert response.status == 403
    response = await owner.client.post(
        "/assistants", data={"name": "Sneaky", "_csrf": "wrong"}, allow_redirects=False
    )
    assert response.status == 403
    response = await owner.client.post(
        "/api/v1/assistants", json={"name": "Sneaky"}, allow_redirects=False
    )
    assert response.status == 403
    response = await owner.client.post(
        "/assistants",
        data={"name": "Sneaky", "_csrf": await owner.csrf()},
        headers={"Origin": "http://evil.example"},
        allow_redirects=False,
    )
    assert response.status == 403
    assert await admin.db.fetch_value("SELECT count(*) FROM assistants WHERE name = 'Sneaky'") == 0
    response = await owner.post_form("/assistants", {"name": "Fine", "language": "en"})
    assert response.status == 303


async def test_api_tokens_act_with_their_role_in_their_org(
    two_orgs: tuple[Admin, OrgFixture, OrgFixture],
) -> None:
    admin, alpha, bravo = two_orgs
    owner = await admin.login(alpha.users["owner"])
    made = await owner.api("POST", "/tokens", {"name": "ci", "role": "editor"})
    assert made.status == 201
    token = (await made.json())["token"]
    auth = {"Authorization": f"Bearer {token}"}
    client = await admin.client()
    assert (await client.get("/api/v1/assistants", headers=auth)).status == 200
    created = await client.post("/api/v1/assistants", json={"name": "By token"}, headers=auth)
    assert created.status == 201  # no CSRF for tokens
    assert (await client.get("/api/v1/credentials", headers=auth)).status == 403
    other = await client.get(f"/api/v1/calls/{bravo.call_uid}", headers=auth)
    assert other.status == 404
    assert (await client.get("/assistants", headers=auth, allow_redirects=False)).status == 303
    stored = await admin.db.fetch_value(
        "SELECT token_hash FROM api_tokens WHERE name = 'ci' AND org_id = ?", (alpha.id,)
    )
    assert token not in str(stored) and len(stored) == 64
    revoked = await owner.api("POST", f"/tokens/{(await made.json())['id']}/revoke")
    assert revoked.status == 200
    assert (await client.get("/api/v1/assistants", headers=auth)).status == 401
    too_high = await owner.api("POST", "/tokens", {"name": "x", "role": "owner"})
    assert too_high.status == 201  # owners may make owner tokens
    admin_user = await admin.login(alpha.users["admin"])
    refused = await admin_user.api("POST", "/tokens", {"name": "x", "role": "owner"})
    assert refused.status == 403


async def test_every_change_is_audited_and_the_log_cannot_be_edited(
    two_orgs: tuple[Admin, OrgFixture, OrgFixture],
) -> None:
    admin, alpha, _ = two_orgs
    owner = await admin.login(alpha.users["owner"])
    await owner.api("POST", "/assistants", {"name": "Audited"})
    log = await (await owner.api("GET", "/audit")).json()
    actions = [e["action"] for e in log["entries"]]
    assert "assistant.create" in actions and "login.succeeded" in actions
    entry = next(e for e in log["entries"] if e["action"] == "assistant.create")
    assert entry["actor"].startswith("user:") and entry["ip"] == "127.0.0.1"
    from callwright.errors import StoreError

    with pytest.raises(StoreError):
        await admin.db.execute("UPDATE audit_log SET action = 'x'")
    with pytest.raises(StoreError):
        await admin.db.execute("DELETE FROM audit_log")
    assert not any(r.path.startswith("/audit") and r.method != "GET" for r in ROUTES)
