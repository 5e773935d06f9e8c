"""The assistant page's LLM model box in real Chromium (issue 17): the page is drawn without
waiting for the LLM server and fills the model choices in itself when that server answers."""

from __future__ import annotations

from typing import Any

from tests.admin.conftest import AdminFactory
from tests.admin.test_browser import (  # noqa: F401  (fixtures)
    _playwright_warmed,
    browser,
    pytestmark,
)
from tests.admin.test_browser_try_it import sign_in
from tests.admin.test_speech_choices import SilentLlmServer
from tests.fakes.openai_server import ScriptedOpenAI


async def test_the_page_fills_the_model_choices_in_when_the_llm_server_answers(
    make_admin: AdminFactory, browser: Any  # noqa: F811
) -> None:
    async with ScriptedOpenAI(model="qwen2.5-7b") as server:
        admin = await make_admin(llm_base_url=server.base_url)
        org = await admin.org("acme")
        page = await browser.new_page()
        page.set_default_timeout(10_000)
        base = await sign_in(page, admin, org.users["editor"])
        await page.goto(base + f"/assistants/{org.assistant_id}")
        await page.wait_for_selector("[data-llm-models][data-llm-models-state=done]",
                                     state="attached")
        options = await page.locator("datalist#llm-models option").evaluate_all(
            "os => os.map(o => o.value)")
        assert options == ["qwen2.5-7b"]
        hint = page.locator("label:has(input[name=llm_model]) small.hint")
        assert await hint.text_content() == \
            "1 model(s) on the LLM server: start typing, or pick one."
        await page.close()


async def test_the_page_is_usable_while_the_llm_server_never_answers(
    make_admin: AdminFactory, browser: Any  # noqa: F811
) -> None:
    async with SilentLlmServer() as server:
        admin = await make_admin(llm_base_url=server.base_url)
        org = await admin.org("acme")
        page = await browser.new_page()
        page.set_default_timeout(10_000)
        base = await sign_in(page, admin, org.users["editor"])
        # The page loads in full (its "load" event) though the LLM server has not answered.
        await page.goto(base + f"/assistants/{org.assistant_id}", wait_until="load")
        assert server.asked <= 1  # only the page's own request, still waiting
        hint = page.locator("label:has(input[name=llm_model]) small.hint")
        assert "Asking the LLM server for its models" in (await hint.text_content() or "")
        await page.fill("input[name=llm_model]", "my-local-model")  # a free-text box
        assert await page.input_value("input[name=llm_model]") == "my-local-model"
        # When the page's request gives up (the server's short timeout), it says so.
        await page.wait_for_selector("[data-llm-models][data-llm-models-state=done]",
                                     state="attached")
        assert "did not list its models" in (await hint.text_content() or "")
        await page.close()
