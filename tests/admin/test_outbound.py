"""The Call form and POST /api/v1/calls, outbound calls listed with their outcomes."""

from __future__ import annotations

from callwright.outbound.dial_result import DialResult
from callwright.store.numbers import NumberRepository
from callwright.store.outbound_calls import OutboundCallRepository
from tests.admin.conftest import AdminFactory


async def test_place_a_call_from_the_api_and_the_form(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    other = await admin.org("other")
    await NumberRepository(admin.db).create(org.id, "+15550100111", None, "outbound", "Acme",
                                            org.assistant_id,
                                            outbound_endpoint="PJSIP/{number}@trunk")
    editor = await admin.login(org.users["editor"])
    response = await editor.api("POST", "/calls", {
        "assistant_id": org.assistant_id, "to": "+1 555 010 0199",
        "variables": {"first_name": "Ana", "visits": 3}})
    assert response.status == 201, await response.text()
    placed = await response.json()
    assert (placed["to"], placed["endpoint"], placed["status"]) == (
        "+15550100199", "PJSIP/+15550100199@trunk", "queued")
    assert placed["variables"] == {"first_name": "Ana", "visits": "3"}
    await OutboundCallRepository(admin.db).finish(
        (await OutboundCallRepository(admin.db).get_by_uid(placed["uid"])).id,
        DialResult("busy", 17, "User busy", 420))
    shown = await (await editor.api("GET", f"/outbound/{placed['uid']}")).json()
    assert (shown["outcome"], shown["cause"], shown["ring_ms"]) == ("busy", 17, 420)
    page = await (await editor.client.get("/outbound")).text()
    assert "busy (cause 17 User busy)" in page and '<button type="submit">Call</button>' in page

    form = await editor.post_form("/calls", {
        "assistant_id": str(org.assistant_id), "to": "201", "from": "+15550100111",
        "variables": "first_name=Bo\n\nappointment=Tuesday 3 pm"})
    assert form.status == 303 and form.headers["Location"].startswith("/outbound/")
    listed = await (await editor.api("GET", "/outbound")).json()
    assert [c["to"] for c in listed["calls"]] == ["201", "+15550100199"]
    assert listed["calls"][0]["variables"] == {"first_name": "Bo",
                                               "appointment": "Tuesday 3 pm"}

    for body, status in (
        ({"assistant_id": org.assistant_id, "to": "abc"}, 400),
        ({"assistant_id": org.assistant_id, "to": "+15550100199", "from": "+1555"}, 400),
        ({"assistant_id": org.assistant_id, "to": "+15550100199", "variables": ["x"]}, 400),
        ({"assistant_id": org.assistant_id, "to": "+15550100199",
          "variables": {"bad name": "x"}}, 400),
        ({"assistant_id": other.assistant_id, "to": "+15550100199"}, 404),
        ({"to": "+15550100199"}, 400),
    ):
        response = await editor.api("POST", "/calls", body)
        assert response.status == status, (body, await response.text())
    viewer = await admin.login(org.users["viewer"])
    assert (await viewer.api("POST", "/calls", {"assistant_id": org.assistant_id,
                                                "to": "+15550100199"})).status == 403
    assert "Place a call" not in await (await viewer.client.get("/outbound")).text()
    other_owner = await admin.login(other.users["owner"])
    assert (await other_owner.api("GET", f"/outbound/{placed['uid']}")).status == 404
    audit = await admin.db.fetch_all(
        "SELECT action FROM audit_log WHERE org_id = ? AND action = 'call.place'", (org.id,))
    assert len(audit) == 2


async def test_answering_machine_settings(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    other = await admin.org("other")
    editor = await admin.login(org.users["editor"])
    path = f"/assistants/{org.assistant_id}/outbound"
    assert (await (await editor.api("GET", path)).json())["on_machine"] == "hangup"
    saved = await editor.api("POST", path, {"on_machine": "leave_message",
                                            "machine_message": "Hi {first_name}, call us."})
    assert saved.status == 200, await saved.text()
    assert (await saved.json())["machine_message"] == "Hi {first_name}, call us."
    form = await editor.post_form(path, {"on_machine": "continue"})
    assert form.status == 303
    page = await (await editor.client.get(path)).text()
    assert 'value="continue" selected' in page and "Hi {first_name}, call us." in page
    assert (await editor.api("POST", path, {"on_machine": "sing"})).status == 400
    assert (await editor.api("GET", f"/assistants/{other.assistant_id}/outbound")).status == 404
    viewer = await admin.login(org.users["viewer"])
    assert (await viewer.api("POST", path, {"on_machine": "hangup"})).status == 403
