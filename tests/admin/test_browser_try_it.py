"""A test call from the assistant's page in real Chromium (issue 17), with a fake microphone fed
from a WAV file: the page hears the greeting, the caller's 안녕하세요 (espeak-ng) is recognised
by the Korean Vosk model (the flow's grammar), the reply is heard, and the transcript is live."""

from __future__ import annotations

import asyncio
import subprocess
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soxr

from tests.admin.conftest import PASSWORD, Admin, AdminFactory
from tests.admin.test_browser import (  # noqa: F401  (fixtures)
    ARGS,
    CHROMIUM,
    _playwright_warmed,
    browser,
    pytestmark,
)
from tests.admin.try_call_data import HELLO, korean_assistant, tries_factory

RATE = 16000


def caller_wav(path: Path, text: str, lead_s: float, tail_s: float) -> Path:
    """``text`` said by espeak-ng (Korean) between ``lead_s`` and ``tail_s`` of silence, as a
    16 kHz mono WAV (Chromium loops the file as the microphone)."""
    wav = subprocess.run(
        ["espeak-ng", "-v", "ko", "--stdout", "--", text], check=True, capture_output=True
    ).stdout
    body = wav[wav.index(b"data") + 8:]
    samples = np.frombuffer(body[: len(body) - len(body) % 2], dtype="<i2")
    speech = soxr.resample(samples.astype(np.float32) / 32768.0, 22050, RATE, "HQ")
    pcm = (np.clip(speech, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(bytes(int(RATE * lead_s) * 2) + pcm + bytes(int(RATE * tail_s) * 2))
    return path


@pytest.fixture
async def microphone_browser(
    _playwright_warmed: None, tmp_path: Path  # noqa: F811
) -> AsyncIterator[Any]:
    """Chromium whose microphone says 안녕하세요 four seconds in, then is silent for eight."""
    from playwright.async_api import async_playwright

    wav = await asyncio.to_thread(caller_wav, tmp_path / "caller.wav", HELLO, 4.0, 8.0)
    args = [
        *ARGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}",
    ]
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        yield chromium
        await chromium.close()


async def sign_in(page: Any, admin: Admin, email: str) -> str:
    assert admin.server is not None
    base = str(admin.server.make_url("")).rstrip("/")
    await page.goto(base + "/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_selector("h1:has-text('Dashboard')")
    return base


async def test_a_spoken_test_call_from_the_assistant_page(
    make_admin: AdminFactory, microphone_browser: Any
) -> None:
    admin = await make_admin(try_calls=tries_factory())
    org = await admin.org("acme", with_data=False)
    assistant_id = await korean_assistant(admin, org)
    page = await microphone_browser.new_page()
    page.set_default_timeout(20_000)
    base = await sign_in(page, admin, org.users["editor"])
    await page.goto(base + f"/assistants/{assistant_id}")
    await page.click("text=Start test call")

    greeting = page.locator("#try-transcript li[data-speaker=assistant]").first
    await greeting.wait_for()
    assert "안녕하세요 라고" in await greeting.inner_text()
    heard_greeting = await page.evaluate("window.cwTryIt.receivedBytes")
    assert heard_greeting > RATE  # more than half a second of the greeting's audio
    caller = page.locator("#try-transcript li[data-speaker=caller]").first
    await caller.wait_for()
    assert HELLO in await caller.inner_text()
    assert await caller.locator("[data-latency=stt_ms]").count() == 1
    reply = page.locator("#try-transcript li[data-speaker=assistant]").nth(1)
    await reply.wait_for()
    assert "반갑습니다" in await reply.inner_text()
    assert await reply.locator("[data-latency=first_frame_ms]").count() == 1
    await page.wait_for_function("() => window.cwTryIt.ended !== null")
    state = await page.evaluate("window.cwTryIt")
    assert state["microphone"] is True and state["sentFrames"] > 100
    assert state["ended"]["reason"] == "said_hello"
    assert state["receivedBytes"] > heard_greeting + RATE  # the reply's audio came too
    assert state["playedSamples"] > RATE  # and the page played it
    assert "Call ended" in await page.inner_text("#try-status")

    row = await admin.db.fetch_one(
        "SELECT direction, status, end_reason FROM calls WHERE uid = ?", (state["callUid"],)
    )
    assert row is not None and (row["direction"], row["status"]) == ("test", "completed")
    await page.close()


async def test_typing_instead_of_speaking_without_a_microphone_on_a_phone_sized_page(
    make_admin: AdminFactory, browser: Any  # noqa: F811
) -> None:
    admin = await make_admin(try_calls=tries_factory())
    org = await admin.org("acme", with_data=False)
    assistant_id = await korean_assistant(admin, org)
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    page = await context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    base = await sign_in(page, admin, org.users["editor"])
    await page.goto(base + f"/assistants/{assistant_id}")
    await page.click("text=Start test call")
    await page.locator("#try-transcript li[data-speaker=assistant]").first.wait_for()
    assert await page.evaluate("window.cwTryIt.microphone") is False
    await page.fill("#try-text", HELLO)
    await page.click("#try-type button[type=submit]")
    await page.wait_for_function("() => window.cwTryIt.ended !== null")
    speakers = await page.eval_on_selector_all(
        "#try-transcript li[data-speaker]", "items => items.map(i => i.dataset.speaker)"
    )
    assert speakers == ["assistant", "caller", "assistant"]
    assert HELLO in await page.inner_text("#try-transcript li[data-speaker=caller]")
    # Once the socket closes the panel is ready for another call, its audio closed cleanly.
    await page.wait_for_selector("#try-stop", state="hidden", timeout=5_000)
    assert await page.is_enabled("#try-start") and errors == []
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    wide = await page.evaluate(
        """() => [...document.querySelectorAll('main *')]
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
            .slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + (e.name || e.id))"""
    )
    assert overflow <= 1, f"the assistant page must fit a phone's width; too wide: {wide}"
    await context.close()
