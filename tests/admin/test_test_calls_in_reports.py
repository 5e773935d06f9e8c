"""Test calls (from the browser panel) are stored like any call but left out of reports unless
asked for (issue 17): the dashboard's counts and lists, the calls list and its API."""

from __future__ import annotations

from tests.admin.conftest import AdminFactory


async def test_test_calls_are_left_out_unless_asked_for(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")  # one finished call already
    test_uid = await admin.call(org, text="just trying", status="failed")
    await admin.db.execute("UPDATE calls SET direction = 'test' WHERE uid = ?", (test_uid,))
    await admin.call(org, text="a real failure", status="failed")
    viewer = await admin.login(org.users["viewer"])

    dashboard = await (await viewer.api("GET", "/dashboard")).json()
    assert dashboard["today"]["total"] == 2
    assert dashboard["today"]["by_status"] == {"completed": 1, "failed": 1}
    assert test_uid not in {c["uid"] for c in dashboard["failures"]}

    listed = await (await viewer.api("GET", "/calls")).json()
    assert test_uid not in {c["uid"] for c in listed["calls"]} and len(listed["calls"]) == 2
    with_tests = await (await viewer.api("GET", "/calls?tests=1")).json()
    directions = {c["uid"]: c["direction"] for c in with_tests["calls"]}
    assert directions[test_uid] == "test" and len(directions) == 3
    page = await (await viewer.client.get("/calls?tests=1")).text()
    assert '<span class="badge">test</span>' in page
    page = await (await viewer.client.get("/calls")).text()
    assert "Include test calls" in page and '<span class="badge">test</span>' not in page
