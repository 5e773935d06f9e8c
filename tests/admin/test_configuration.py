"""Assistants (settings, flow), numbers, credentials, retention, team, OpenAPI."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from admin.app import all_routes, build_admin_app
from admin.keys import SERVICES
from callwright.config import LlmSettings, Settings
from callwright.dialog.demo_flow import DEMO_FLOW_EN
from callwright.privacy.secrets import MasterKey
from callwright.store.credentials import CredentialRepository
from callwright.store.db import Database
from tests.admin.conftest import AdminFactory


async def test_editor_creates_and_edits_an_assistant_through_the_form(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin()
    org = await admin.org("acme", with_data=False)
    editor = await admin.login(org.users["editor"])
    created = await editor.post_form(
        "/assistants",
        {
            "name": "Reception",
            "language": "en-GB",
            "greeting": "Hello!",
            "system_prompt": "Be brief",
            "stt_model": "vosk-small",
            "tts_voice": "en-gb",
            "tts_rate": "160",
            "llm_enabled": "on",
            "llm_model": "local",
            "record_calls": "on",
            "tools": '[{"name": "lookup"}]',
            "transfer_targets": '[{"name": "sales"}]',
        },
    )
    assert created.status == 303
    location = created.headers["Location"]
    assistant_id = int(re.search(r"/assistants/(\d+)", location).group(1))  # type: ignore[union-attr]
    data = await (await editor.api("GET", f"/assistants/{assistant_id}")).json()
    assert data["language"] == "en-GB" and data["record_calls"] is True
    assert data["tts"] == {"engine": "espeak-ng", "voice": "en-gb", "rate": 160}
    assert data["llm"]["enabled"] is True and data["tools"] == [{"name": "lookup"}]
    bad = await editor.post_form(f"/assistants/{assistant_id}", {"name": "R", "tools": "[oops"})
    assert bad.status == 400 and "tools" in await bad.text()
    bad_lang = await editor.api("POST", f"/assistants/{assistant_id}", {"language": "english!"})
    assert bad_lang.status == 400
    dup = await editor.api("POST", "/assistants", {"name": "Reception"})
    assert dup.status == 400 and "already" in (await dup.json())["error"]["message"]
    patched = await editor.api("POST", f"/assistants/{assistant_id}", {"greeting": "Hi"})
    assert (await patched.json())["greeting"] == "Hi"


async def test_flow_editor_shows_problems_where_they_are_and_saves_versions(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    editor = await admin.login(org.users["editor"])
    broken = copy.deepcopy(DEMO_FLOW_EN)
    broken["nodes"]["offer"]["routes"]["yes"] = "nowhere"
    response = await editor.post_form(
        f"/assistants/{org.assistant_id}/flow", {"definition": json.dumps(broken)}
    )
    assert response.status == 422
    page = await response.text()
    assert 'data-node="offer"' in page and "nowhere" in page
    assert "nowhere" in page.split('id="flow"')[1]  # the text is kept for fixing
    api = await editor.api("POST", f"/assistants/{org.assistant_id}/flow", {"definition": broken})
    problems = (await api.json())["error"]["problems"]
    assert api.status == 422 and any(p["node"] == "offer" for p in problems)
    not_json = await editor.post_form(
        f"/assistants/{org.assistant_id}/flow", {"definition": "{nope"}
    )
    assert not_json.status == 422 and "not valid JSON" in await not_json.text()
    ok = await editor.post_form(
        f"/assistants/{org.assistant_id}/flow", {"definition": json.dumps(DEMO_FLOW_EN)}
    )
    assert ok.status == 303
    again = await editor.api(
        "POST", f"/assistants/{org.assistant_id}/flow", {"definition": DEMO_FLOW_EN}
    )
    assert (await again.json())["version"] == 2
    shown = await (await editor.api("GET", f"/assistants/{org.assistant_id}/flow")).json()
    assert shown["version"] == 2 and shown["definition"]["start"] == "greet"


def _flow_with_llm_node() -> dict[str, Any]:
    flow = copy.deepcopy(DEMO_FLOW_EN)
    flow["nodes"]["offer"]["routes"]["no"] = "helper"
    flow["nodes"]["helper"] = {"kind": "llm", "goal": "Find out what the caller needs."}
    del flow["nodes"]["declined"]
    return flow


async def test_flow_with_an_llm_node_saves_only_when_assistant_and_server_have_an_llm(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin(llm_base_url="http://127.0.0.1:8000/v1")
    org = await admin.org("acme")
    editor = await admin.login(org.users["editor"])
    path = f"/assistants/{org.assistant_id}/flow"
    flow = _flow_with_llm_node()
    # The assistant's own switch is off: refused, naming the node and what to change.
    refused = await editor.api("POST", path, {"definition": flow})
    problems = (await refused.json())["error"]["problems"]
    assert refused.status == 422
    assert [(p["node"], p["field"]) for p in problems] == [("helper", "kind")]
    assert "needs an LLM" in problems[0]["message"] and "Use an LLM" in problems[0]["message"]
    page = await editor.post_form(path, {"definition": json.dumps(flow)})
    text = await page.text()
    assert page.status == 422 and 'data-node="helper"' in text and "needs an LLM" in text
    switched = await editor.api(
        "POST", f"/assistants/{org.assistant_id}", {"llm": {"enabled": True, "model": "local"}}
    )
    assert switched.status == 200
    saved = await editor.api("POST", path, {"definition": flow})
    assert saved.status == 201, await saved.text()
    shown = await (await editor.api("GET", path)).json()
    assert shown["definition"]["nodes"]["helper"]["kind"] == "llm"
    truthy = await editor.api(
        "POST", f"/assistants/{org.assistant_id}", {"llm": {"enabled": "yes"}}
    )
    assert truthy.status == 200  # only a JSON true turns the LLM on
    assert (await editor.api("POST", path, {"definition": flow})).status == 422


async def test_flow_with_an_llm_node_is_refused_when_the_server_has_no_llm(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin()  # no [llm] base_url
    org = await admin.org("acme")
    editor = await admin.login(org.users["editor"])
    await editor.api("POST", f"/assistants/{org.assistant_id}", {"llm": {"enabled": True}})
    path = f"/assistants/{org.assistant_id}/flow"
    flow = _flow_with_llm_node()
    flow["nodes"]["helper"] = {
        "kind": "intent",
        "intents": [
            {"label": "booking", "description": "wants a booking", "next": "booked"},
            {"label": "other", "next": "give_up"},
        ],
        "default": "give_up",
    }
    refused = await editor.api("POST", path, {"definition": flow})
    assert refused.status == 422, await refused.text()
    problems = (await refused.json())["error"]["problems"]
    assert [(p["node"], p["field"]) for p in problems] == [("helper", "kind")]
    assert "intent node needs an LLM" in problems[0]["message"]
    assert "[llm]" in problems[0]["message"]
    page = await editor.post_form(path, {"definition": json.dumps(flow)})
    assert page.status == 422 and "[llm]" in await page.text()
    assert await admin.db.fetch_value("SELECT count(*) FROM flows") == 0
    # A flow without llm or intent nodes still saves on this server.
    assert (await editor.api("POST", path, {"definition": DEMO_FLOW_EN})).status == 201


async def test_the_server_has_an_llm_when_its_settings_give_a_base_url(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "settings.db")
    try:
        key = MasterKey.generate()
        with_llm = Settings(llm=LlmSettings(base_url="http://127.0.0.1:8000/v1", model="m"))
        app = build_admin_app(db, with_llm, key, tmp_path)
        assert app[SERVICES].options.llm_base_url == "http://127.0.0.1:8000/v1"
        assert app[SERVICES].options.session_hours == with_llm.admin.session_hours
        assert build_admin_app(db, Settings(), key, tmp_path)[SERVICES].options.llm_base_url == ""
        section_only = build_admin_app(db, with_llm.admin, key, tmp_path)
        assert section_only[SERVICES].options.llm_base_url == ""
    finally:
        await db.close()


async def test_numbers_refuse_invalid_numbers_with_a_clear_message(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    owner = await admin.login(org.users["admin"])
    for bad in ("1", "123456789", "+0123456789", "555-CALL-NOW", "+1234", ""):
        response = await owner.api("POST", "/numbers", {"number": bad})
        assert response.status == 400, bad
        error = (await response.json())["error"]
        assert error["field"] == "number" and error["message"].startswith("Invalid number")
    page = await owner.post_form("/numbers", {"number": "abc"})
    assert page.status == 400 and "Invalid number" in await page.text()
    made = await owner.api(
        "POST", "/numbers", {"number": "+44 20 7946 0958", "direction": "both", "region": "UK"}
    )
    number = await made.json()
    assert made.status == 201 and number["number"] == "+442079460958"
    ext = await owner.post_form(
        "/numbers",
        {"number": "200", "direction": "outbound", "assistant_id": str(org.assistant_id)},
    )
    assert ext.status == 303
    again = await owner.api("POST", "/numbers", {"number": "+442079460958"})
    assert again.status == 400 and "already" in (await again.json())["error"]["message"]
    assigned = await owner.api(
        "POST", f"/numbers/{number['id']}/assign", {"assistant_id": org.assistant_id}
    )
    assert (await assigned.json())["assistant_id"] == org.assistant_id
    listing = await (await owner.client.get("/numbers")).text()
    assert "+442079460958" in listing and "outbound" in listing


async def test_credentials_are_write_only(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme", with_data=False)
    owner = await admin.login(org.users["admin"])
    secret = "sk-live-0123456789abcdefWXYZ"
    made = await owner.api(
        "POST", "/credentials", {"name": "llm", "kind": "api_key", "secret": secret}
    )
    assert made.status == 201
    created = await made.json()
    assert created["last_four"] == "WXYZ" and "secret" not in created
    for path in ("/credentials", "/api/v1/credentials"):
        text = await (await owner.client.get(path)).text()
        assert secret not in text and secret[:-4] not in text and "WXYZ" in text
    replaced = await owner.post_form(
        f"/credentials/{created['id']}/replace", {"secret": "another-secret-9876"}
    )
    assert replaced.status == 303
    repo = CredentialRepository(admin.db, admin.master_key)
    assert await repo.reveal(org.id, "llm") == "another-secret-9876"
    raw = await admin.db.fetch_value("SELECT secret_enc FROM credentials")
    assert b"another-secret" not in raw
    log = await admin.db.fetch_all("SELECT detail FROM audit_log")
    assert not any("another-secret" in r["detail"] or secret in r["detail"] for r in log)
    viewer = await admin.login(org.users["viewer"])
    assert (await viewer.client.get("/credentials")).status == 403


async def test_retention_per_org_and_per_assistant(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    owner = await admin.login(org.users["admin"])
    base = await (await owner.api("GET", "/retention")).json()
    assert base["org"]["source"] == "default"
    saved = await owner.post_form(
        "/retention", {"metadata_days": "200", "transcript_days": "100", "recording_days": "30"}
    )
    assert saved.status == 303
    own = await owner.api(
        "POST",
        "/retention/assistant",
        {
            "assistant_id": org.assistant_id,
            "metadata_days": 60,
            "transcript_days": 60,
            "recording_days": 7,
        },
    )
    assert own.status == 200
    data = await (await owner.api("GET", "/retention")).json()
    assert data["org"]["metadata_days"] == 200 and data["assistants"][0]["recording_days"] == 7
    bad = await owner.api(
        "POST", "/retention", {"metadata_days": 10, "transcript_days": 20, "recording_days": 1}
    )
    assert bad.status == 400 and "longer" in (await bad.json())["error"]["message"]
    cleared = await owner.api("POST", f"/retention/assistant/{org.assistant_id}/clear")
    assert cleared.status == 200
    assert (await (await owner.api("GET", "/retention")).json())["assistants"] == []


async def test_team_roles_and_the_last_owner(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme", with_data=False)
    adm = await admin.login(org.users["admin"])
    added = await adm.api("POST", "/team", {"email": "new@acme.example", "role": "editor"})
    assert added.status == 201
    link = urlsplit((await added.json())["invitation_url"]).path
    joined = await (await admin.client()).post(link, data={"password": "initial password"})
    assert joined.status == 201
    new_id = await admin.db.fetch_value(
        "SELECT id FROM users WHERE email = ?", ("new@acme.example",)
    )
    no_owner = await adm.api("POST", "/team", {"email": "boss@acme.example", "role": "owner"})
    assert no_owner.status == 403
    owner_id = await admin.db.fetch_value(
        "SELECT id FROM users WHERE email = ?", (org.users["owner"],)
    )
    demote = await adm.api("POST", f"/team/{owner_id}/role", {"role": "viewer"})
    assert demote.status == 403
    assert (await adm.api("POST", f"/team/{new_id}/role", {"role": "viewer"})).status == 200
    owner = await admin.login(org.users["owner"])
    last = await owner.api("POST", f"/team/{owner_id}/role", {"role": "admin"})
    assert last.status == 400 and "owner" in (await last.json())["error"]["message"]
    assert (await owner.api("POST", f"/team/{owner_id}/remove")).status == 400
    assert (await owner.api("POST", f"/team/{new_id}/remove")).status == 200
    members = await (await owner.api("GET", "/team")).json()
    assert "new@acme.example" not in {m["email"] for m in members["members"]}
    bad = await owner.api("POST", "/team", {"email": "not-an-email", "role": "viewer"})
    assert bad.status == 400


async def test_openapi_describes_every_api_route(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    client = await admin.client()
    spec = await (await client.get("/api/v1/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    described = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    expected = {(r.method, r.path) for r in all_routes() if r.api}
    assert described == expected
    app_routes = {
        (r.method, r.resource.canonical[len("/api/v1") :])
        for r in admin.app.router.routes()
        if r.resource is not None
        and r.resource.canonical.startswith("/api/v1/")
        and r.method != "HEAD"
        and not r.resource.canonical.endswith("openapi.json")
    }
    assert app_routes == expected
    for ops in spec["paths"].values():
        for op in ops.values():
            assert op["x-required-role"] in ("viewer", "editor", "admin", "owner")


async def test_api_bodies_are_checked_against_the_documented_schema(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    owner = await admin.login(org.users["owner"])
    wrong_type = await owner.api("POST", "/numbers", {"number": 5551234})
    error = (await wrong_type.json())["error"]
    assert wrong_type.status == 400 and error["field"] == "number"
    missing = await owner.api("POST", "/credentials", {"name": "x", "kind": "api_key"})
    error = (await missing.json())["error"]
    assert missing.status == 400 and error["field"] == "secret"
    bad_enum = await owner.api("POST", "/tokens", {"name": "x", "role": "root"})
    assert bad_enum.status == 400 and (await bad_enum.json())["error"]["field"] == "role"
    not_object = await owner.client.post(
        "/api/v1/assistants",
        data=b"[1, 2]",
        headers={"Content-Type": "application/json", "X-CSRF-Token": await owner.csrf()},
    )
    assert not_object.status == 400 and "JSON object" in await not_object.text()
