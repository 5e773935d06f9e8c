"""The dashboard's counts and the statistics page read the aggregate retention keeps plus the
calls still stored: retention deleting calls does not shrink them."""

from __future__ import annotations

from datetime import timedelta

from callwright.privacy.retention_job import RetentionJob
from callwright.store.clock import utc_now
from tests.admin.conftest import AdminFactory


async def test_figures_do_not_shrink_when_retention_deletes_the_calls(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin()
    org = await admin.org("acme")  # one completed call today
    await admin.call(org, status="failed", recording=False)
    await admin.db.execute("UPDATE calls SET duration_ms = 30000 WHERE org_id = ?", (org.id,))
    user = await admin.login(org.users["viewer"])
    today = utc_now().date().isoformat()

    async def figures() -> tuple[object, object, str]:
        dashboard = await (await user.api("GET", "/dashboard")).json()
        stats = await user.api("GET", f"/stats?since={today}&until={today}")
        assert stats.status == 200
        page = await user.client.get(f"/stats?since={today}")
        assert page.status == 200
        return dashboard["today"], (await stats.json())["total"], await page.text()

    before = await figures()
    assert before[0] == {"date": today, "total": 2, "by_status": {"completed": 1, "failed": 1}}
    assert before[1] == {"calls": 2, "by_status": {"completed": 1, "failed": 1},
                         "duration_ms": 60000, "mean_duration_ms": 30000, "turns": 6}
    assert "completed 1, failed 1" in before[2]

    later = utc_now() + timedelta(days=400)
    await RetentionJob(admin.db, lambda: later).run_once()
    assert await admin.db.fetch_value("SELECT count(*) FROM calls WHERE org_id = ?",
                                      (org.id,)) == 0
    assert await figures() == before


async def test_bad_periods_are_clear_errors(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme", with_data=False)
    user = await admin.login(org.users["viewer"])
    for query in ("since=yesterday", "until=2026-13-01", "since=2027-01-02&until=2027-01-01",
                  "since=1000-01-01&until=2027-01-01", "until=9999-12-31", "assistant=x"):
        response = await user.api("GET", f"/stats?{query}")
        assert response.status == 400, query
        assert "error" in await response.json()
    empty = await (await user.api("GET", "/stats?since=2027-01-01&until=2027-01-03")).json()
    assert empty == {"since": "2027-01-01", "until": "2027-01-04", "days": [],
                     "total": {"calls": 0, "by_status": {}, "duration_ms": 0,
                               "mean_duration_ms": None, "turns": 0}}
