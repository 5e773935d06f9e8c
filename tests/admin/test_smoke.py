from __future__ import annotations

from tests.admin.conftest import AdminFactory


async def test_owner_logs_in_and_sees_the_dashboard(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    owner = await admin.login(org.users["owner"])
    page = await owner.client.get("/")
    assert page.status == 200
    text = await page.text()
    assert "Dashboard" in text and "Acme" in text
