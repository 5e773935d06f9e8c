"""End to end in headless Chromium (Debian's /usr/bin/chromium): the admin as IT teams use it."""

from __future__ import annotations

import asyncio
import gc
import shutil
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pyotp
import pytest

from admin.keys import SERVICES
from callwright.accounts.totp import TotpVerifier
from callwright.privacy.recording_crypto import encrypt_file
from callwright.store.users import UserRepo
from tests.admin.conftest import PASSWORD, Admin, AdminFactory

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Debian's chromium is not installed"),
]


@pytest.fixture(scope="session")
def _playwright_warmed() -> None:
    """Start Playwright and Chromium once, and stop them, before any test's event loop runs.

    A cold start (a fresh checkout, or caches the system dropped) loads Playwright's modules,
    including those it imports lazily while it connects and builds its first objects, and reads
    Chromium from disk: hundreds of ms of synchronous work that would block the event loop of the
    first browser test. Done here, in a thread with its own event loop, it blocks no test's loop.

    Then the heap this built is collected and frozen, like the rest (see ``HeapSettler`` in
    tests/conftest.py).
    """
    failure: list[BaseException] = []

    def warm() -> None:
        try:
            asyncio.run(_start_and_stop())
        except BaseException as exc:  # re-raised in the test's thread below
            failure.append(exc)

    thread = threading.Thread(target=warm, name="playwright-warm-up")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    gc.collect()
    gc.freeze()


async def _start_and_stop() -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = await chromium.new_page()
        await page.set_content("<p>warm</p>")
        await page.locator("p").inner_text()
        await chromium.close()


@pytest.fixture
async def browser(_playwright_warmed: None) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        await chromium.close()


async def _assert_recording_plays(page: Any) -> None:
    await page.wait_for_selector("audio#recording")
    state = await page.evaluate(
        """async () => {
            const audio = document.getElementById('recording');
            await audio.play();
            await new Promise(r => setTimeout(r, 400));
            return {time: audio.currentTime, duration: audio.duration,
                    error: audio.error && audio.error.code, paused: audio.paused};
        }"""
    )
    assert state["error"] is None
    assert 0.9 < state["duration"] < 1.1
    assert state["time"] > 0


def _base(admin: Admin) -> str:
    assert admin.server is not None
    return str(admin.server.make_url("")).rstrip("/")


async def _enable_totp(admin: Admin, email: str) -> str:
    services = admin.app[SERVICES]
    user = await UserRepo(admin.db).by_email(email)
    assert user is not None
    enrollment = await services.second_factor.begin(user)
    user = await UserRepo(admin.db).by_email(email)
    assert user is not None
    # Confirm with the code of the previous 30 s step, so the current one stays usable for login.
    previous = pyotp.TOTP(enrollment.secret).at(int(time.time()) - 30)
    assert await services.second_factor.confirm(user, previous) is not None
    return enrollment.secret


async def test_owner_with_totp_creates_assistant_assigns_number_and_plays_a_recording(
    make_admin: AdminFactory, browser: Any
) -> None:
    admin = await make_admin(secure_cookies=True)
    org = await admin.org("acme", with_data=False)
    secret = await _enable_totp(admin, org.users["owner"])
    uid = await admin.call(org, text="I need a plumber tomorrow")  # a finished simulated call
    page = await browser.new_page()
    page.set_default_timeout(10_000)
    base = _base(admin)

    await page.goto(base + "/")
    assert "/login" in page.url
    await page.fill("input[name=email]", org.users["owner"])
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/login/totp**")
    await page.fill("input[name=code]", TotpVerifier().current_code(secret))
    await page.click("text=Continue")
    await page.wait_for_selector("h1:has-text('Dashboard')")

    await page.click("nav >> text=Assistants")
    await page.fill("input[name=name]", "Front desk")
    await page.fill("textarea[name=greeting]", "Hello, Acme plumbing.")
    await page.click("form:has(input[name=name]) button[type=submit]")
    await page.wait_for_selector("h1:has-text('Front desk')")
    assert "notice=created" in page.url

    await page.click("nav >> text=Numbers")
    await page.fill("input[name=number]", "+1 555 123 0000")
    await page.select_option(
        "form:has(input[name=number]) select[name=assistant_id]", label="Front desk"
    )
    await page.click("text=Add number")
    await page.wait_for_selector("td:has-text('+15551230000')")
    assigned = await admin.db.fetch_value(
        "SELECT a.name FROM numbers n JOIN assistants a ON a.id = n.assistant_id"
        " WHERE n.number = '+15551230000'"
    )
    assert assigned == "Front desk"

    await page.click("nav >> text=Calls")
    await page.click(f"a[href='/calls/{uid}']")
    await page.wait_for_selector("text=I need a plumber tomorrow")
    await _assert_recording_plays(page)

    # A recording encrypted at rest plays the same way (decrypted by range as the player asks).
    sealed_uid = await admin.call(org, text="Is the boiler covered?")
    plain = admin.recordings / f"{sealed_uid}.wav"
    sealed, key_id = await asyncio.to_thread(encrypt_file, plain, admin.master_key)
    await admin.db.execute(
        "UPDATE calls SET recording_path = ?, recording_key_id = ? WHERE uid = ?",
        (sealed.name, key_id, sealed_uid),
    )
    await page.goto(base + f"/calls/{sealed_uid}")
    await page.wait_for_selector("text=Is the boiler covered?")
    await _assert_recording_plays(page)
    await page.close()


async def test_viewer_cannot_open_credentials_nor_another_orgs_call_on_a_phone(
    make_admin: AdminFactory, browser: Any
) -> None:
    admin = await make_admin()
    alpha = await admin.org("alpha")
    bravo = await admin.org("bravo")
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    page = await context.new_page()
    page.set_default_timeout(10_000)
    base = _base(admin)
    await page.goto(base + "/login")
    await page.fill("input[name=email]", alpha.users["viewer"])
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_selector("h1:has-text('Dashboard')")
    assert await page.locator("nav >> text=Credentials").count() == 0

    response = await page.goto(base + "/credentials")
    assert response is not None and response.status == 403
    assert "Not allowed" in await page.inner_text("h1")

    response = await page.goto(base + f"/calls/{bravo.call_uid}")
    assert response is not None and response.status == 404
    assert "Not found" in await page.inner_text("h1")

    response = await page.goto(base + f"/calls/{alpha.call_uid}")
    assert response is not None and response.status == 200
    await page.wait_for_selector("text=I would like to book a table")
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1, "the call page must fit a phone's width"
    await context.close()
