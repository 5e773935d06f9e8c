"""Retention of notes and webhook delivery logs in the admin and the API."""

from __future__ import annotations

from tests.admin.conftest import AdminFactory


async def test_org_and_assistant_log_retention_through_the_api_and_the_form(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    owner = await admin.login(org.users["owner"])

    response = await owner.api("POST", "/retention/logs",
                               {"notes_days": 30, "webhook_log_days": None})
    assert response.status == 200, await response.text()
    shown = await (await owner.api("GET", "/retention")).json()
    assert (shown["org"]["notes_days"], shown["org"]["webhook_log_days"]) == (30, None)

    for body in ({"notes_days": 30}, {"notes_days": 0, "webhook_log_days": None},
                 {"notes_days": "x", "webhook_log_days": 5}, {"notes_days": 5,
                 "webhook_log_days": 36501}):
        assert (await owner.api("POST", "/retention/logs", body)).status == 400, body
    body = {"assistant_id": org.assistant_id, "notes_days": None, "webhook_log_days": 7}
    assert (await owner.api("POST", "/retention/assistant/logs", body)).status == 200
    shown = await (await owner.api("GET", "/retention")).json()
    [own] = shown["assistants"]
    assert (own["notes_days"], own["webhook_log_days"], own["metadata_days"]) == (None, 7, 365)

    page = await (await owner.client.get("/retention")).text()
    assert "Webhook delivery log (days)" in page and "with the call" in page
    response = await owner.post_form("/retention/logs", {"notes_days": " ",
                                                         "webhook_log_days": "14"})
    assert response.status == 303
    shown = await (await owner.api("GET", "/retention")).json()
    assert (shown["org"]["notes_days"], shown["org"]["webhook_log_days"]) == (None, 14)
    rows = await admin.db.fetch_all(
        "SELECT target FROM audit_log WHERE org_id = ? AND action = 'retention.set_logs'"
        " ORDER BY id", (org.id,))
    assert [r["target"] for r in rows] == ["org", f"assistant:{org.assistant_id}", "org"]

    editor = await admin.login(org.users["editor"])
    assert (await editor.api("POST", "/retention/logs",
                             {"notes_days": 1, "webhook_log_days": 1})).status == 403
