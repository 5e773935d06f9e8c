"""Restriction of processing of one stored call in the admin and the API (issue 12, item 2,
"per call"): set from the call's page or the API, with reason and date, audited; the transcript is
then hidden from search and from the page and API (an admin's reveal is audited), the recording
cannot be played, the call's webhook deliveries are withheld and cannot be redelivered; lifting
gives it all back."""

from __future__ import annotations

import json

from callwright.store.calls import CallRepository
from callwright.store.webhook_deliveries import DeliveryRepository
from tests.admin.conftest import Admin, AdminFactory, OrgFixture

WORDS = "I would like to book a table"  # the caller's turn in the fixture's call


Entry = tuple[str, str, dict[str, object]]


async def audit(admin: Admin, org: OrgFixture, like: str) -> list[Entry]:
    rows = await admin.db.fetch_all(
        "SELECT action, target, detail FROM audit_log WHERE org_id = ? AND action LIKE ?"
        " ORDER BY id", (org.id, like))
    return [(r["action"], r["target"], json.loads(r["detail"] or "{}")) for r in rows]


async def test_an_admin_restricts_a_call_from_its_page_and_lifts_it(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    uid = org.call_uid
    owner = await admin.login(org.users["admin"])
    page = await (await owner.client.get(f"/calls/{uid}")).text()
    assert "Restrict processing of this call" in page and WORDS in page
    assert 'id="recording"' in page

    response = await owner.post_form(f"/calls/{uid}/restrict", {
        "transcribe": "on", "record": "on", "reason": "art. 18: accuracy contested"})
    assert response.status == 303 and response.headers["Location"].startswith(f"/calls/{uid}")
    page = await (await owner.client.get(f"/calls/{uid}")).text()
    assert WORDS not in page and 'id="transcript-restricted"' in page
    assert 'id="recording-restricted"' in page and 'id="recording"' not in page
    assert "transcript and recording since" in page and "art. 18: accuracy contested" in page
    assert (await owner.client.get(f"/calls/{uid}/recording")).status == 403
    found = await (await owner.client.get("/calls?q=book+table")).text()
    assert uid not in found, "a restricted transcript is not searched"

    # An admin may reveal the transcript: shown, and written to the audit log.
    revealed = await (await owner.client.get(f"/calls/{uid}?reveal=transcript")).text()
    assert WORDS in revealed
    assert [a for a, _, _ in await audit(admin, org, "call.reveal")] == ["call.reveal"]

    response = await owner.post_form(f"/calls/{uid}/unrestrict")
    assert response.status == 303
    page = await (await owner.client.get(f"/calls/{uid}")).text()
    assert WORDS in page and 'id="recording"' in page
    assert uid in await (await owner.client.get("/calls?q=book+table")).text()
    assert await audit(admin, org, "call_restriction.%") == [
        ("call_restriction.set", f"call:{uid}", {
            "kinds": ["record", "transcribe"], "now": ["record", "transcribe"],
            "reason": "art. 18: accuracy contested"}),
        ("call_restriction.lift", f"call:{uid}", {
            "lifted": ["record", "transcribe"], "reason": "art. 18: accuracy contested"}),
    ]


async def test_the_api_restricts_a_transcript_and_withholds_its_webhooks(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    uid = org.call_uid
    call_id = (await CallRepository(admin.db).get_by_uid(uid)).id
    deliveries = DeliveryRepository(admin.db)
    await deliveries.enqueue(org.id, [org.endpoint_id], event_id=f"evt_{uid}", event="call.ended",
                             call_uid=uid, call_id=call_id, body="{}",
                             now="2027-03-01T12:00:00.000Z", expires_at="2999-01-01T00:00:00.000Z")
    owner = await admin.login(org.users["owner"])

    response = await owner.api("POST", f"/calls/{uid}/restrict",
                               {"what": ["transcribe"], "reason": "objection pending"})
    assert response.status == 200, await response.text()
    body = await response.json()
    assert (body["call"], body["what"], body["reason"]) == (uid, ["transcribe"],
                                                            "objection pending")
    assert body["created_at"] and body["set_by"] == org.users["owner"]

    detail = await (await owner.api("GET", f"/calls/{uid}")).json()
    assert detail["turns"] == [] and detail["transcript_restricted"] is True
    assert detail["restriction"]["what"] == ["transcribe"]
    assert detail["recording_url"] is not None  # only what was asked: the recording plays
    revealed = await (await owner.api("GET", f"/calls/{uid}?reveal=transcript")).json()
    assert [t["text"] for t in revealed["turns"]][1] == WORDS

    [queued] = [d for d in await deliveries.list(org.id) if d.call_uid == uid]
    assert queued.status == "failed" and queued.last_error.startswith("withheld")
    again = await owner.api("POST", f"/webhooks/deliveries/{queued.id}/redeliver")
    assert again.status == 409, await again.text()
    assert (await deliveries.get(org.id, queued.id)).status == "failed"
    other = await owner.api("POST", f"/webhooks/deliveries/{org.delivery_id}/redeliver")
    assert other.status == 200  # another call's delivery goes again as before


async def test_bad_input_roles_and_other_orgs(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    other = await admin.org("other")
    owner = await admin.login(org.users["owner"])
    for what, message in (("store", "restrict the number"), ("", "at least one"),
                          ("sing", "unknown restriction"), (["sing"], "not valid"),
                          (7, "not valid")):
        response = await owner.api("POST", f"/calls/{org.call_uid}/restrict", {"what": what})
        assert response.status == 400, (what, await response.text())
        assert message in (await response.text()).lower(), what
    long = await owner.api("POST", f"/calls/{org.call_uid}/restrict",
                           {"what": "record", "reason": "x" * 501})
    assert long.status == 400
    assert (await owner.api("POST", f"/calls/{other.call_uid}/restrict",
                            {"what": "record"})).status == 404
    assert (await owner.api("POST", "/calls/nope/restrict", {"what": "record"})).status == 404
    assert (await owner.api("POST", f"/calls/{org.call_uid}/unrestrict")).status == 404

    editor = await admin.login(org.users["editor"])
    assert (await editor.api("POST", f"/calls/{org.call_uid}/restrict",
                             {"what": "record"})).status == 403
    assert (await owner.api("POST", f"/calls/{org.call_uid}/restrict",
                            {"what": "transcribe"})).status == 200
    page = await (await editor.client.get(f"/calls/{org.call_uid}")).text()
    assert WORDS not in page and 'id="reveal"' not in page  # no reveal for an editor
    assert (await editor.client.get(f"/calls/{org.call_uid}?reveal=transcript")).status == 403
    assert await audit(admin, org, "call.reveal") == []
