"""The Call button and a campaign upload in real Chromium (issue 15)."""

from __future__ import annotations

from typing import Any

from callwright.store.campaigns import CampaignRepository
from callwright.store.numbers import NumberRepository
from callwright.store.outbound_calls import OutboundCallRepository
from tests.admin.conftest import AdminFactory
from tests.admin.test_browser import (  # noqa: F401  (fixtures)
    _playwright_warmed,
    browser,
    pytestmark,
)
from tests.admin.test_browser_try_it import sign_in


async def test_the_call_button_and_a_campaign_upload(
    make_admin: AdminFactory, browser: Any, tmp_path: Any  # noqa: F811
) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    await NumberRepository(admin.db).create(org.id, "+15550100111", None, "outbound", "Acme",
                                            org.assistant_id,
                                            outbound_endpoint="PJSIP/{number}@trunk")
    page = await browser.new_page()
    page.set_default_timeout(10_000)
    base = await sign_in(page, admin, org.users["editor"])
    await page.goto(base + "/outbound")
    form = page.locator("form:has(input[name=to])")
    await form.locator("input[name=to]").fill("+1 555 010 0199")
    await form.locator("textarea[name=variables]").fill("first_name=Ana")
    await form.locator("button:has-text('Call')").click()
    await page.wait_for_selector("h1:has-text('Outbound call')")
    assert "queued" in await page.locator("main").inner_text()
    [row] = await OutboundCallRepository(admin.db).list_recent(org.id)
    assert (row.to_number, row.endpoint, row.variables) == (
        "+15550100199", "PJSIP/+15550100199@trunk", {"first_name": "Ana"})

    contacts = tmp_path / "contacts.csv"
    contacts.write_text("number,first_name\n+15550100100,Ana\n+15550100101,Bo\n")
    await page.goto(base + "/campaigns")
    form = page.locator("form:has(input[name=contacts])")
    await form.locator("input[name=name]").fill("Flu shots")
    await form.locator("input[name=contacts]").set_input_files(str(contacts))
    await form.locator("button:has-text('Create campaign')").click()
    await page.wait_for_selector("h1:has-text('Campaign: Flu shots')")
    await page.locator("button:has-text('Start')").click()
    await page.wait_for_selector("text=Status: running")
    [campaign] = await CampaignRepository(admin.db).list_for_org(org.id)
    assert campaign.status == "running"
    assert [c.number for c in await CampaignRepository(admin.db).contacts(campaign.id)] == [
        "+15550100100", "+15550100101"]
    await page.close()
