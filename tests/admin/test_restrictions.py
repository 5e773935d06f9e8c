"""Callers' restrictions in the admin (page and forms) and the API (issue 12, item 2)."""

from __future__ import annotations

from callwright.privacy.restrictions import CallerRestrictionRepository
from tests.admin.conftest import Admin, AdminFactory, OrgFixture

NUMBER = "+15557654321"


async def audit(admin: Admin, org: OrgFixture) -> list[tuple[str, str, str]]:
    rows = await admin.db.fetch_all(
        "SELECT actor, action, target FROM audit_log WHERE org_id = ?"
        " AND action LIKE 'restriction.%' ORDER BY id", (org.id,))
    return [(r["actor"], r["action"], r["target"]) for r in rows]


def repo(admin: Admin) -> CallerRestrictionRepository:
    return CallerRestrictionRepository(admin.db, admin.master_key)


async def test_restrict_through_the_api_and_lift_through_the_page(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    other = await admin.org("other")
    owner = await admin.login(org.users["owner"])

    response = await owner.api("POST", "/restrictions", {
        "number": NUMBER, "what": ["transcribe", "store"], "reason": "letter of 2 March"})
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["what"] == ["transcribe", "store"] and body["reason"] == "letter of 2 March"
    assert body["created_at"] and body["updated_at"]
    found = await repo(admin).get(org.id, NUMBER)
    assert found is not None and found.kinds == {"transcribe", "store"}
    assert await repo(admin).get(other.id, NUMBER) is None

    form = await owner.post_form("/restrictions", {"number": NUMBER, "object": "on",
                                                   "reason": "objected"})
    assert form.status == 303
    page = await (await owner.client.get("/restrictions")).text()
    assert NUMBER in page and "transcribe, store, object" in page and "objected" in page
    listed = await (await owner.api("GET", "/restrictions")).json()
    assert [r["what"] for r in listed["restrictions"]] == [["transcribe", "store", "object"]]
    other_owner = await admin.login(other.users["owner"])
    assert (await (await other_owner.api("GET", "/restrictions")).json())["restrictions"] == []
    assert (await other_owner.api("POST", "/restrictions/lift", {"number": NUMBER})).status \
        == 404

    assert "/restrictions/lift?number=%2B15557654321" in page  # a "+" kept through the URL
    lifted = await owner.post_form("/restrictions/lift?number=%2B15557654321")
    assert lifted.status == 303
    assert await repo(admin).get(org.id, NUMBER) is None
    assert (await owner.api("POST", "/restrictions/lift", {"number": NUMBER})).status == 404
    pseudonym = await repo(admin).pseudonym(org.id, NUMBER)
    assert [(a, t) for _, a, t in await audit(admin, org)] == [
        ("restriction.set", f"caller:{pseudonym}"), ("restriction.set", f"caller:{pseudonym}"),
        ("restriction.lift", f"caller:{pseudonym}")]
    assert all(actor.startswith("user:") for actor, _, _ in await audit(admin, org))


async def test_bad_restrictions_and_roles(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    owner = await admin.login(org.users["owner"])
    for body in ({}, {"number": NUMBER}, {"number": "  ", "what": "record"},
                 {"number": NUMBER, "what": "record,bogus"}, {"number": NUMBER, "what": []},
                 {"number": NUMBER, "what": ["bogus"]}, {"number": 5, "what": "record"},
                 {"number": NUMBER, "what": 3}, {"number": NUMBER, "what": "record",
                                                  "reason": "r" * 501}):
        response = await owner.api("POST", "/restrictions", body)
        assert response.status == 400, (body, await response.text())
    assert (await owner.post_form("/restrictions", {"number": NUMBER})).status == 400
    editor = await admin.login(org.users["editor"])
    assert (await editor.api("POST", "/restrictions",
                             {"number": NUMBER, "what": "record"})).status == 403
    assert (await editor.api("GET", "/restrictions")).status == 403
    assert await admin.db.fetch_value("SELECT count(*) FROM caller_restrictions") == 0
    assert await audit(admin, org) == []
