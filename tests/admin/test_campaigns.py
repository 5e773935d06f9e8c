"""Campaigns in the admin and the API: CSV upload with errors by line, controls, progress,
outcome chart, CSV export, roles and org scoping."""

from __future__ import annotations

import aiohttp

from callwright.store.campaigns import CampaignRepository
from tests.admin.conftest import AdminFactory

CSV = "number,first_name\n+15550100100,Ana\n+15550100101,Bo\n"


async def test_campaign_upload_controls_progress_export(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    other = await admin.org("other")
    editor = await admin.login(org.users["editor"])
    bad = await editor.api("POST", "/campaigns", {
        "name": "Flu", "assistant_id": org.assistant_id,
        "contacts_csv": "number,first_name\n+15550100100,Ana\nabc,Bo\n+15550100100,Cy\n"})
    assert bad.status == 400
    message = (await bad.json())["error"]["message"]
    assert "2 bad line(s)" in message and "line 3:" in message and "line 4:" in message
    made = await editor.api("POST", "/campaigns", {
        "name": "Flu", "assistant_id": org.assistant_id, "contacts_csv": CSV,
        "calls_per_minute": 20, "timezone": "Europe/Paris"})
    assert made.status == 201, await made.text()
    campaign = await made.json()
    assert (campaign["status"], campaign["contacts"], campaign["calls_per_minute"]) == (
        "draft", 2, 20)
    cid = campaign["id"]
    assert (await editor.api("POST", f"/campaigns/{cid}/pause")).status == 400
    assert (await (await editor.api("POST", f"/campaigns/{cid}/start")).json())[
        "status"] == "running"
    repo = CampaignRepository(admin.db)
    [first, _] = await repo.contacts(cid)
    await repo.settle(first.id, "pending", "busy", "17 User busy", None)
    page = await (await editor.client.get(f"/campaigns/{cid}")).text()
    assert "<svg" in page and "busy" in page and ">Pause</button>" in page
    export = await editor.client.get(f"/campaigns/{cid}/export")
    assert export.headers["Content-Type"].startswith("text/csv")
    text = await export.text()
    assert text.splitlines()[0] == ("line,number,status,attempts,last_outcome,last_cause,"
                                    "next_attempt_at,timezone,first_name")
    assert "+15550100100,pending,0,busy,17 User busy" in text
    detail = await (await editor.api("GET", f"/campaigns/{cid}")).json()
    assert detail["counts"]["outcome:busy"] == 1 and len(detail["contacts"]) == 2

    # the form: a multipart CSV upload
    data = aiohttp.FormData()
    data.add_field("_csrf", await editor.csrf())
    for key, value in (("name", "Reminders"), ("assistant_id", str(org.assistant_id)),
                       ("calls_per_minute", "5"), ("window_start", "10:00"),
                       ("window_end", "18:00"), ("window_days", "1,2,3")):
        data.add_field(key, value)
    data.add_field("contacts", CSV.encode(), filename="c.csv", content_type="text/csv")
    response = await editor.client.post("/campaigns", data=data, allow_redirects=False)
    assert response.status == 303, await response.text()
    listing = await (await editor.client.get("/campaigns")).text()
    assert "Reminders" in listing and "Flu" in listing

    viewer = await admin.login(org.users["viewer"])
    assert (await viewer.api("GET", "/campaigns")).status == 403
    other_owner = await admin.login(other.users["owner"])
    assert (await other_owner.api("GET", f"/campaigns/{cid}")).status == 404
    assert (await other_owner.api("POST", f"/campaigns/{cid}/cancel")).status == 404
    assert (await editor.api("POST", f"/campaigns/{cid}/explode")).status == 404
    for body in ({"name": "X", "assistant_id": org.assistant_id, "contacts_csv": CSV,
                  "window_start": "9am"},
                 {"name": "X", "assistant_id": org.assistant_id, "contacts_csv": CSV,
                  "max_concurrent": 0},
                 {"name": "X", "assistant_id": org.assistant_id, "contacts_csv": ""},
                 {"name": "", "assistant_id": org.assistant_id, "contacts_csv": CSV}):
        response = await editor.api("POST", "/campaigns", body)
        assert response.status == 400, (body, await response.text())
    assert (await editor.api("POST", f"/campaigns/{cid}/cancel")).status == 200
