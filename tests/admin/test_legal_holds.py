"""Legal holds in the admin and the API, and the retention dry run page."""

from __future__ import annotations

from datetime import timedelta

from callwright.privacy.retention_job import RetentionJob
from callwright.store.clock import format_iso, utc_now
from tests.admin.conftest import Admin, AdminFactory, OrgFixture

NUMBER = "+15557654321"  # the caller of the fixture's calls


async def age(admin: Admin, uid: str, days: int) -> None:
    await admin.db.execute("UPDATE calls SET started_at = ? WHERE uid = ?",
                           (format_iso(utc_now() - timedelta(days=days)), uid))


async def audit(admin: Admin, org: OrgFixture) -> list[tuple[str, str]]:
    rows = await admin.db.fetch_all(
        "SELECT action, target FROM audit_log WHERE org_id = ? AND action LIKE 'legal_hold.%'"
        " ORDER BY id", (org.id,))
    return [(r["action"], r["target"]) for r in rows]


async def test_a_call_is_held_from_its_page_and_survives_retention_until_lifted(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    await age(admin, org.call_uid, 800)
    owner = await admin.login(org.users["owner"])

    page = await owner.client.get(f"/calls/{org.call_uid}")
    assert "Put on legal hold" in await page.text()
    response = await owner.post_form("/holds", {"call": org.call_uid, "reason": "dispute 42"})
    assert response.status == 303 and response.headers["Location"].startswith(
        f"/calls/{org.call_uid}")
    text = await (await owner.client.get(f"/calls/{org.call_uid}")).text()
    assert "this call (dispute 42)" in text and "Lift legal hold" in text
    listing = await (await owner.client.get("/holds")).text()
    assert f"call {org.call_uid}" in listing and "dispute 42" in listing

    report = await RetentionJob(admin.db).run_once()
    assert report.for_org(org.id).held == 1
    assert await admin.db.fetch_value("SELECT count(*) FROM calls WHERE uid = ?",
                                      (org.call_uid,)) == 1

    response = await owner.post_form(f"/holds/lift?call={org.call_uid}")
    assert response.status == 303
    assert "Put on legal hold" in await (await owner.client.get(f"/calls/{org.call_uid}")).text()
    assert (await RetentionJob(admin.db).run_once()).for_org(org.id).calls_deleted == 1
    assert await audit(admin, org) == [("legal_hold.set", f"call:{org.call_uid}"),
                                       ("legal_hold.lift", f"call:{org.call_uid}")]


async def test_a_number_is_held_through_the_api_and_the_dry_run_reports_it(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    other = await admin.org("other")
    await age(admin, org.call_uid, 800)
    second = await admin.call(org)
    await age(admin, second, 120)
    owner = await admin.login(org.users["owner"])

    before = await (await owner.api("GET", "/retention/dry-run")).json()
    assert before["calls_deleted"] == 1 and before["turns_deleted"] == 3
    assert before["recordings_deleted"] == 2  # the old call's, and the 120-day one's (90 days)
    assert (before["notes_deleted"], before["deliveries_deleted"]) == (0, 0)
    assert before["oldest_call"][:10] == format_iso(utc_now() - timedelta(days=800))[:10]

    response = await owner.api("POST", "/holds", {"number": NUMBER, "reason": "litigation"})
    assert response.status == 201, await response.text()
    hold = await response.json()
    assert hold["target"] == f"number:{NUMBER}" and hold["set_by"] == org.users["owner"]
    assert (await owner.api("POST", "/holds", {"number": NUMBER})).status == 200  # already
    listed = await (await owner.api("GET", "/holds")).json()
    assert [h["target"] for h in listed["holds"]] == [f"number:{NUMBER}"]
    detail = await (await owner.api("GET", f"/calls/{second}")).json()
    assert [h["caller_number"] for h in detail["legal_holds"]] == [NUMBER]

    held = await (await owner.api("GET", "/retention/dry-run")).json()
    assert (held["calls_deleted"], held["recordings_deleted"], held["held"]) == (0, 0, 2)
    page = await (await owner.client.get("/retention/dry-run")).text()
    assert "Kept: on legal hold" in page and "Webhook deliveries of calls kept" in page
    real = (await RetentionJob(admin.db).run_once()).for_org(org.id)
    assert (real.calls_deleted, real.recordings_deleted, real.held) == (0, 0, 2)

    other_owner = await admin.login(other.users["owner"])
    assert (await (await other_owner.api("GET", "/holds")).json())["holds"] == []
    assert (await other_owner.api("POST", "/holds/lift", {"number": NUMBER})).status == 404

    response = await owner.api("POST", "/holds/lift", {"number": NUMBER})
    assert response.status == 200
    after = await (await owner.api("GET", "/retention/dry-run")).json()
    assert {k: after[k] for k in ("calls_deleted", "recordings_deleted", "held")} == {
        k: before[k] for k in ("calls_deleted", "recordings_deleted", "held")}
    assert await audit(admin, org) == [("legal_hold.set", f"number:{NUMBER}"),
                                       ("legal_hold.lift", f"number:{NUMBER}")]


async def test_bad_hold_requests_and_roles(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    other = await admin.org("other")
    owner = await admin.login(org.users["owner"])
    for body in ({}, {"call": org.call_uid, "number": NUMBER}, {"number": "+1 555"},
                 {"number": "   "}, {"number": 5}, {"call": "x", "reason": "r" * 501}):
        response = await owner.api("POST", "/holds", body)
        assert response.status == 400, (body, await response.text())
    assert (await owner.api("POST", "/holds", {"call": other.call_uid})).status == 404
    assert (await owner.api("POST", "/holds/lift", {"call": org.call_uid})).status == 404
    form = await owner.post_form("/holds", {"number": ""})
    assert form.status == 400
    editor = await admin.login(org.users["editor"])
    assert (await editor.api("POST", "/holds", {"number": NUMBER})).status == 403
    assert (await editor.api("GET", "/retention/dry-run")).status == 403
    assert "Put on legal hold" not in await (
        await editor.client.get(f"/calls/{org.call_uid}")).text()
    assert await admin.db.fetch_value("SELECT count(*) FROM legal_holds") == 0


async def test_a_number_hold_is_lifted_through_the_list_page(make_admin: AdminFactory) -> None:
    """The list's Lift button keeps the number's "+" (it used to arrive as a space: 404)."""
    admin = await make_admin()
    org = await admin.org("acme")
    owner = await admin.login(org.users["owner"])
    assert (await owner.api("POST", "/holds", {"number": NUMBER})).status == 201
    page = await (await owner.client.get("/holds")).text()
    assert "/holds/lift?number=%2B15557654321" in page
    lifted = await owner.post_form("/holds/lift?number=%2B15557654321")
    assert lifted.status == 303
    assert (await (await owner.api("GET", "/holds")).json())["holds"] == []
    assert await audit(admin, org) == [("legal_hold.set", f"number:{NUMBER}"),
                                       ("legal_hold.lift", f"number:{NUMBER}")]
