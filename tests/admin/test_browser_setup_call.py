"""The setup wizard's test call through the PBX, followed live in real Chromium (issue 17): the
PBX is the project's simulator, the real call service takes the call on the same store, and the
wizard's page shows it ringing, answered with the assistant's words, then ended with its
outcome, without a reload."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from admin.handlers.setup import SETUP_SETTINGS
from ari_app.service import CallService
from ari_app.simulator.server import PbxSimulator
from callwright.config import load_config
from callwright.speech.vosk_stt import VoskModelCache
from callwright.store.assistants import AssistantRepository
from callwright.store.db import Database
from callwright.store.numbers import NumberRepository
from tests.admin.conftest import Admin
from tests.admin.test_browser import (  # noqa: F401  (fixtures)
    _playwright_warmed,
    browser,
    pytestmark,
)
from tests.admin.test_browser_try_it import sign_in

PASSWORD = "wizard-call-secret"
GOODBYE = "안녕하세요. 설정 시험 통화입니다. 잘 들리시면 설정이 끝났습니다. 안녕히 계세요."
FLOW = {
    "version": 1, "name": "setup test", "language": "ko", "start": "bye",
    "nodes": {"bye": {"kind": "hangup", "text": GOODBYE, "reason": "setup_test"}},
}


async def test_the_wizard_follows_its_pbx_test_call_live(
    tmp_path: Path, browser: Any, vosk_models: VoskModelCache  # noqa: F811
) -> None:
    settings = load_config(None, env={
        "CALLWRIGHT_SERVER_DATA_DIR": str(tmp_path),
        "CALLWRIGHT_STORE_PATH": str(tmp_path / "callwright.db"),
        "CALLWRIGHT_RECORDINGS_DIR": str(tmp_path / "recordings"),
        "CALLWRIGHT_SERVER_MASTER_KEY_FILE": str(tmp_path / "master.key"),
    })
    sim = PbxSimulator(username=settings.ari.username, password=PASSWORD)
    await sim.start()
    settings = replace(settings, ari=replace(settings.ari, url=sim.ari_url, password=PASSWORD))
    db = await Database.open(settings.store.path)
    admin = Admin(db, tmp_path)
    admin.app[SETUP_SETTINGS] = settings
    await admin.start()
    service: CallService | None = None
    try:
        org = await admin.org("acme", with_data=False)
        desk = await AssistantRepository(db).create(org.id, "Setup desk", "ko", flow=FLOW)
        await NumberRepository(db).create(org.id, "100", assistant_id=desk.id)
        service = CallService(settings, vosk_models=vosk_models, warm_streams=1)
        await service.start()

        page = await browser.new_page()
        page.set_default_timeout(30_000)
        base = await sign_in(page, admin, org.users["owner"])
        await page.goto(base + "/setup")
        await page.fill("#setup-try input[name=number]", "100")
        await page.click("text=Place a test call through the PBX")
        box = page.locator("#pbx-call-progress")
        await page.wait_for_selector("#pbx-call-progress li[data-step=ringing]")
        # Answered while the assistant still speaks (the page polls; no reload).
        await page.wait_for_selector("#pbx-call-progress[data-state=answered]")
        await page.wait_for_selector("#pbx-call-progress[data-state=ended]")
        steps = await box.locator("ol.progress li").evaluate_all(
            "items => items.map(i => [i.dataset.step, i.textContent])")
        assert [s for s, _ in steps] == ["ringing", "answered", "ended"]
        assert steps[-1][1] == "Ended: completed (setup_test)"
        said = await box.locator("ol.transcript li[data-speaker=assistant]").all_text_contents()
        assert said == [GOODBYE]
        row = await db.fetch_one("SELECT uid, channel_id, direction FROM calls")
        assert row is not None and row["channel_id"].startswith("setup-")
        assert row["direction"] == "inbound"
        assert await box.locator("a.call-page").get_attribute("href") == f"/calls/{row['uid']}"
        await page.close()
    finally:
        if service is not None:
            await service.stop()
        await admin.close()
        await db.close()
        await sim.stop()
