"""Consent settings and a call's restriction of processing in headless Chromium (issue 12): an
owner writes the org's consent and privacy notices and an assistant's own consent prompt through
the forms; an admin restricts a call's transcript and recording from its page, reveals the
transcript (audited) and lifts the restriction."""

from __future__ import annotations

from typing import Any

from tests.admin.conftest import PASSWORD, Admin, AdminFactory
from tests.admin.test_browser import (  # noqa: F401  (fixtures)
    _playwright_warmed,
    browser,
    pytestmark,
)

ORG_NOTICE = "Calls to Acme are recorded for quality. Press 9 or say don't record to refuse."
PRIVACY = "We keep recordings for 90 days. Write to privacy@acme.example to see them."
OWN = "This assistant records the call. Press 9 to refuse."
WORDS = "I would like to book a table"  # the caller's turn in the fixture's call


async def sign_in(admin: Admin, browser: Any, email: str) -> Any:  # noqa: F811
    assert admin.server is not None
    page = await browser.new_page()
    page.set_default_timeout(10_000)
    await page.goto(str(admin.server.make_url("/login")))
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_selector("h1:has-text('Dashboard')")
    return page


async def test_owner_sets_the_org_and_the_assistant_consent_notices(
    make_admin: AdminFactory, browser: Any  # noqa: F811
) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    page = await sign_in(admin, browser, org.users["owner"])

    await page.click("nav >> text=Consent on calls")
    await page.wait_for_selector("h1:has-text('Consent on calls')")
    await page.fill("textarea[name=consent_prompt]", ORG_NOTICE)
    await page.fill("textarea[name=privacy_notice]", PRIVACY)
    await page.click("form:has(textarea[name=consent_prompt]) button[type=submit]")
    await page.wait_for_url("**/org/consent**")
    assert await page.input_value("textarea[name=consent_prompt]") == ORG_NOTICE
    assert await page.input_value("textarea[name=privacy_notice]") == PRIVACY
    row = await admin.db.fetch_one("SELECT consent_prompt, privacy_notice FROM orgs WHERE id = ?",
                                   (org.id,))
    assert row is not None and (row[0], row[1]) == (ORG_NOTICE, PRIVACY)

    assert admin.server is not None
    await page.goto(str(admin.server.make_url(f"/assistants/{org.assistant_id}")))
    await page.fill("textarea[name=consent_prompt]", OWN)
    await page.click("form:has(textarea[name=consent_prompt]) button:has-text('Save')")
    await page.wait_for_load_state()
    assert await admin.db.fetch_value("SELECT consent_prompt FROM assistants WHERE id = ?",
                                      (org.assistant_id,)) == OWN
    await page.reload()
    assert await page.input_value("textarea[name=consent_prompt]") == OWN
    actions = [r[0] for r in await admin.db.fetch_all(
        "SELECT action FROM audit_log WHERE org_id = ? ORDER BY id", (org.id,))]
    assert "org.consent" in actions
    await page.close()


async def test_admin_restricts_a_call_reveals_its_transcript_and_lifts_it(
    make_admin: AdminFactory, browser: Any  # noqa: F811
) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    page = await sign_in(admin, browser, org.users["admin"])
    assert admin.server is not None
    await page.goto(str(admin.server.make_url(f"/calls/{org.call_uid}")))
    await page.wait_for_selector(f"text={WORDS}")

    await page.check("input[name=transcribe]")
    await page.check("input[name=record]")
    await page.fill("form:has(input[name=transcribe]) input[name=reason]", "accuracy contested")
    await page.click("text=Restrict processing of this call")
    await page.wait_for_selector("#transcript-restricted")
    assert await page.locator(f"text={WORDS}").count() == 0
    assert await page.locator("#recording").count() == 0
    assert await page.locator("#recording-restricted").count() == 1

    await page.click("#reveal")
    await page.wait_for_selector(f"text={WORDS}")
    assert "reveal=transcript" in page.url

    page.once("dialog", lambda dialog: dialog.accept())
    await page.click("text=Lift the restriction")
    await page.wait_for_selector("#recording")
    assert await page.locator("#transcript-restricted").count() == 0
    actions = [r[0] for r in await admin.db.fetch_all(
        "SELECT action FROM audit_log WHERE org_id = ? AND target = ? ORDER BY id",
        (org.id, f"call:{org.call_uid}"))]
    assert [a for a in actions if a not in ("call.view", "recording.play")] == [
        "call_restriction.set", "call.reveal", "call_restriction.lift"]
    await page.close()
