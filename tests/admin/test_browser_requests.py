"""The data-subject requests page in headless Chromium (issue 12, item 3): an admin registers an
access request, makes the export, downloads the ZIP once, then carries out an erasure."""

from __future__ import annotations

import asyncio
import json
import zipfile
from pathlib import Path
from typing import Any

from tests.admin.conftest import PASSWORD, AdminFactory
from tests.admin.test_browser import (  # noqa: F401  (fixtures)
    _playwright_warmed,
    browser,
    pytestmark,
)

CALLER = "+15557654321"


def _manifest(path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(path) as archive:
        data: dict[str, Any] = json.loads(archive.read("manifest.json"))
    return data


async def test_admin_exports_then_erases_a_caller(make_admin: AdminFactory, browser: Any) -> None:  # noqa: F811
    admin = await make_admin()
    org = await admin.org("acme")
    assert admin.server is not None
    base = str(admin.server.make_url("")).rstrip("/")
    page = await browser.new_page()
    page.set_default_timeout(10_000)
    await page.goto(base + "/login")
    await page.fill("input[name=email]", org.users["admin"])
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_selector("h1:has-text('Dashboard')")

    await page.click("nav >> text=Requests")
    await page.wait_for_selector("h1:has-text('Data-subject requests')")
    await page.select_option("select[name=kind]", "export")
    await page.fill("input[name=subject]", CALLER)
    await page.click("text=Register request")
    await page.wait_for_selector("h1:has-text('Request #')")
    assert "notice=created" in page.url
    await page.click("text=Make the export")
    await page.wait_for_selector("a#download")
    async with page.expect_download() as info:
        await page.click("a#download")
    download = await info.value
    saved = await download.path()
    assert saved is not None
    manifest = await asyncio.to_thread(_manifest, Path(saved))
    assert manifest["subject"] == {"kind": "caller", "value": CALLER}
    assert manifest["counts"]["recordings"] == 1
    link = await page.get_attribute("a#download", "href")
    assert link is not None
    again = await page.request.get(base + link)
    assert again.status == 410

    await page.goto(base + "/requests")
    await page.select_option("select[name=kind]", "erase")
    await page.fill("input[name=subject]", CALLER)
    await page.click("text=Register request")
    await page.wait_for_selector("text=Erase now")
    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.click("text=Erase now")
    await page.wait_for_selector("text=calls_anonymised")
    assert not (admin.recordings / f"{org.call_uid}.wav").exists()
    assert await admin.db.fetch_value(
        "SELECT caller_number FROM calls WHERE uid = ?", (org.call_uid,)) == "erased"
    await page.goto(base + "/requests")
    assert await page.locator("td:has-text('completed')").count() == 2
    await page.close()
