"""Every settings route changes only what it was sent (issue 9, defect 2).

An update either changes only the keys in its body (the others stay as they were), or its schema
demands every key and a body without one is refused with a 400 that names it, changing nothing.
``test_every_settings_route_is_checked_here`` keeps the list below complete: a new route that
updates something has to say here which of the two it does.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from admin.app import all_routes
from callwright.dialog.demo_flow import DEMO_FLOW_EN
from callwright.store.credentials import CredentialRepository
from tests.admin.conftest import PASSWORD, Admin, AdminFactory, LoggedIn, OrgFixture

# POST routes with a body that change something that already exists, and how each one treats
# a body without some keys: "partial" (only the keys sent change) or "required" (400).
SETTINGS_ROUTES = {
    "/org": "partial",
    "/org/consent": "partial",  # tested in test_org_consent.py (one key sent, the other kept)
    "/assistants/{assistant_id}": "partial",
    "/retention": "required",
    "/retention/assistant": "required",
    "/retention/logs": "required",
    "/retention/assistant/logs": "required",
    "/numbers/{number_id}/assign": "required",
    "/team/{user_id}/role": "required",
    "/credentials/{credential_id}/replace": "required",
    "/assistants/{assistant_id}/flow": "required",
    "/webhooks/{endpoint_id}": "partial",
    # An assistant's answering-machine settings: a key not sent keeps its stored value.
    "/assistants/{assistant_id}/outbound": "partial",
}
# POST routes with a body that only create new things (nothing existing can be half-changed).
CREATE_ROUTES = {
    "/assistants",
    "/numbers",
    "/credentials",
    "/team",
    "/tokens",
    "/calls/{uid}/notes",
    "/assistants/{assistant_id}/knowledge",
    "/assistants/{assistant_id}/knowledge/qa",
    "/org/switch",
    "/webhooks",
    "/holds",  # a legal hold: created, or left as it was if it exists
    "/holds/lift",  # removes a hold whole
    "/requests",  # a data-subject request
    # Carries out an open request once (the body is a rectification's input): it closes the
    # request, nothing stays half-changed.
    "/requests/{request_id}/execute",
    "/requests/{request_id}/refuse",  # closes an open request, with its one required reason
    # A caller's restriction: created, or the kinds sent added (the others kept, never
    # cleared by a missing key); number and what are refused with a 400 when missing.
    "/restrictions",
    "/restrictions/lift",  # removes a caller's restriction whole
    "/models/download",  # starts a model's download (its one key required)
    "/assistants/{assistant_id}/prompts",  # adds a recorded prompt
    "/calls",  # queues a new outbound call
    "/campaigns",  # creates a campaign
    "/pbx/hangup",  # hangs up one channel on the PBX; nothing stored is changed
    # A stored call's restriction: created, or the kinds sent added (as /restrictions).
    "/calls/{uid}/restrict",
}


def test_every_settings_route_is_checked_here() -> None:
    writes = {
        r.path
        for r in all_routes()
        if r.method == "POST" and r.body is not None and r.body.get("properties")
    }
    unlisted = writes - set(SETTINGS_ROUTES) - CREATE_ROUTES
    assert not unlisted, f"say how these treat a partial body: {sorted(unlisted)}"
    for route in all_routes():
        if route.path in SETTINGS_ROUTES and route.method == "POST" and route.api:
            assert route.body is not None
            required = set(route.body.get("required", []))
            if SETTINGS_ROUTES[route.path] == "required":
                assert required == set(route.body["properties"]), route.path


@pytest.fixture
async def owner_of(make_admin: AdminFactory) -> tuple[Admin, OrgFixture, LoggedIn]:
    admin = await make_admin()
    org = await admin.org("acme")
    return admin, org, await admin.login(org.users["owner"])


async def _json(who: LoggedIn, path: str) -> Any:
    response = await who.api("GET", path)
    assert response.status == 200, await response.text()
    return await response.json()


async def test_org_settings_change_only_the_keys_sent(
    owner_of: tuple[Admin, OrgFixture, LoggedIn],
) -> None:
    admin, _, owner = owner_of
    # An owner token: once two-step sign-in is required, this owner's session (no TOTP) is
    # sent to set it up first.
    made = await (await owner.api("POST", "/tokens", {"name": "ops", "role": "owner"})).json()
    client = await admin.client()
    auth = {"Authorization": f"Bearer {made['token']}"}

    async def save(body: dict[str, Any]) -> Any:
        response = await client.post("/api/v1/org", json=body, headers=auth)
        assert response.status == 200, await response.text()
        return await response.json()

    async def shown() -> Any:
        return await (await client.get("/api/v1/org", headers=auth)).json()

    await save({"require_totp": True, "viewers_hear_recordings": True})
    # The attack in the issue: a body without require_totp turned it off.
    answer = await save({"viewers_hear_recordings": False})
    assert answer == {"require_totp": True, "viewers_hear_recordings": False,
                      "encrypt_recordings": True}
    assert (await shown())["require_totp"] is True
    answer = await save({"require_totp": False})
    assert answer == {"require_totp": False, "viewers_hear_recordings": False,
                      "encrypt_recordings": True}
    await save({"viewers_hear_recordings": True})
    unchanged = await shown()
    assert await save({}) == {"require_totp": False, "viewers_hear_recordings": True,
                              "encrypt_recordings": True}
    assert await shown() == unchanged
    answer = await save({"encrypt_recordings": False})
    assert answer == {"require_totp": False, "viewers_hear_recordings": True,
                      "encrypt_recordings": False}


async def test_org_settings_form_still_turns_an_unticked_box_off(
    owner_of: tuple[Admin, OrgFixture, LoggedIn],
) -> None:
    _, _, owner = owner_of
    await owner.api("POST", "/org", {"require_totp": False, "viewers_hear_recordings": True})
    saved = await owner.post_form("/org", {})  # the form with every box unticked
    assert saved.status == 303
    assert await _json(owner, "/org") == {
        "name": "Acme",
        "slug": "acme",
        "require_totp": False,
        "viewers_hear_recordings": False,
        "encrypt_recordings": False,
    }


def _without(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in keys and k != "updated_at"}


async def test_assistant_update_changes_only_the_fields_and_keys_sent(
    owner_of: tuple[Admin, OrgFixture, LoggedIn],
) -> None:
    _, org, owner = owner_of
    path = f"/assistants/{org.assistant_id}"
    full = {
        "greeting": "Hello",
        "system_prompt": "Be kind",
        "record_calls": True,
        "stt": {"engine": "vosk", "model": "small"},
        "tts": {"engine": "espeak-ng", "voice": "en-gb", "rate": 150},
        "llm": {"enabled": True, "model": "local", "credential_id": org.credential_id},
        "media": {"format": "ulaw"},
        "tools": [{"name": "lookup"}],
    }
    assert (await owner.api("POST", path, full)).status == 200
    before = await _json(owner, path)
    for partial, changed in (
        ({"greeting": "Hi"}, ("greeting",)),
        ({"record_calls": False}, ("record_calls",)),
        ({"tools": []}, ("tools",)),
        ({}, ()),
    ):
        response = await owner.api("POST", path, partial)
        assert response.status == 200, await response.text()
        after = await _json(owner, path)
        assert _without(after, *changed) == _without(before, *changed), partial
        for key in changed:
            assert after[key] == partial[key]
        before = after
    # Inside the settings objects too: a model change keeps the LLM on and its credential.
    response = await owner.api("POST", path, {"llm": {"model": "bigger"}})
    after = await response.json()
    assert after["llm"] == {"enabled": True, "model": "bigger", "credential_id": org.credential_id}
    assert _without(after, "llm") == _without(before, "llm")
    response = await owner.api("POST", path, {"tts": {"rate": None}})  # null removes a key
    assert (await response.json())["tts"] == {"engine": "espeak-ng", "voice": "en-gb"}


async def test_assistant_llm_credential_must_be_this_orgs(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    alpha = await admin.org("alpha")
    bravo = await admin.org("bravo")
    editor = await admin.login(alpha.users["editor"])
    path = f"/assistants/{alpha.assistant_id}"
    for bad in (bravo.credential_id, 10**6, "1", True):
        response = await editor.api("POST", path, {"llm": {"credential_id": bad}})
        assert response.status == 400, bad
        error = (await response.json())["error"]
        assert error["field"] == "llm.credential_id" and "credential" in error["message"]
    made = await editor.api(
        "POST", "/assistants", {"name": "Other", "llm": {"credential_id": bravo.credential_id}}
    )
    assert made.status == 400
    assert await admin.db.fetch_value("SELECT count(*) FROM assistants WHERE name = 'Other'") == 0
    stored = await _json(editor, path)
    assert "credential_id" not in stored["llm"] or stored["llm"]["credential_id"] is None
    ok = await editor.api("POST", path, {"llm": {"credential_id": alpha.credential_id}})
    assert ok.status == 200
    assert (await ok.json())["llm"]["credential_id"] == alpha.credential_id


async def _refused(who: LoggedIn, path: str, body: dict[str, Any], field: str) -> None:
    response = await who.api("POST", path, body)
    assert response.status == 400, (path, body, await response.text())
    assert (await response.json())["error"]["field"] == field, (path, body)


async def test_retention_routes_demand_every_key(
    owner_of: tuple[Admin, OrgFixture, LoggedIn],
) -> None:
    _, org, owner = owner_of
    days = {"metadata_days": 300, "transcript_days": 200, "recording_days": 100}
    assert (await owner.api("POST", "/retention", days)).status == 200
    mine = {**days, "assistant_id": org.assistant_id}
    assert (await owner.api("POST", "/retention/assistant", mine)).status == 200
    before = await _json(owner, "/retention")
    for key in days:
        await _refused(owner, "/retention", _without(days, key), key)
        await _refused(owner, "/retention/assistant", _without(mine, key), key)
    await _refused(owner, "/retention/assistant", _without(mine, "assistant_id"), "assistant_id")
    assert await _json(owner, "/retention") == before


async def test_number_assign_demands_the_assistant(
    owner_of: tuple[Admin, OrgFixture, LoggedIn],
) -> None:
    _, org, owner = owner_of
    path = f"/numbers/{org.number_id}/assign"
    await _refused(owner, path, {}, "assistant_id")  # it used to unassign the number
    numbers = (await _json(owner, "/numbers"))["numbers"]
    assert [n["assistant_id"] for n in numbers] == [org.assistant_id]
    cleared = await owner.api("POST", path, {"assistant_id": None})
    assert cleared.status == 200 and (await cleared.json())["assistant_id"] is None


async def test_role_credential_and_flow_routes_demand_their_key(
    owner_of: tuple[Admin, OrgFixture, LoggedIn],
) -> None:
    admin, org, owner = owner_of
    viewer_id = await admin.db.fetch_value(
        "SELECT id FROM users WHERE email = ?", (org.users["viewer"],)
    )
    await _refused(owner, f"/team/{viewer_id}/role", {}, "role")
    roles = {m["email"]: m["role"] for m in (await _json(owner, "/team"))["members"]}
    assert roles[org.users["viewer"]] == "viewer"
    await _refused(owner, f"/credentials/{org.credential_id}/replace", {}, "secret")
    secret = await CredentialRepository(admin.db, admin.master_key).reveal(org.id, "openai")
    assert secret == "sk-secret-acme-ABCD"
    flow = f"/assistants/{org.assistant_id}/flow"
    saved = await owner.api("POST", flow, {"definition": copy.deepcopy(DEMO_FLOW_EN)})
    assert saved.status == 201
    await _refused(owner, flow, {}, "definition")
    assert (await _json(owner, flow))["version"] == 1


async def test_password_change_demands_the_current_password(
    owner_of: tuple[Admin, OrgFixture, LoggedIn],
) -> None:
    admin, org, owner = owner_of
    response = await owner.post_form("/account/password", {"new": "a brand new passphrase"})
    assert response.status == 400
    again = await admin.login(org.users["owner"], PASSWORD)  # the old password still works
    assert (await again.client.get("/account")).status == 200
