"""The "Try it" panel in real Firefox (Debian's firefox-esr over WebDriver BiDi, see
tests/admin/firefox_bidi.py), as test_browser_try_it.py does in Chromium (issue 17).

Firefox's fake microphone is a tone (1 kHz), not a file: what is checked is that it reaches the
server as PCM at the call's rate, through the panel's AudioWorklet, which resamples from the
audio device's rate (44.1 or 48 kHz here, set with ``media.cubeb.force_sample_rate``). The
machine has no sound card: ``media.cubeb.force_mock_context`` gives Firefox the audio device its
own tests use, which plays (and so pulls the page's audio graph) in real time, as headless
Chromium's fake output does; without it, the panel must go on without sound.

Each page is also checked for console errors, failed requests and CSP violations (Firefox's own
log events, and a ``securitypolicyviolation`` listener).
"""

from __future__ import annotations

import io
import shutil
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from callwright.store.assistants import AssistantRepository
from tests.admin.conftest import PASSWORD, Admin, AdminFactory, OrgFixture
from tests.admin.firefox_bidi import FIREFOX, MEDIA_PREFS, Firefox, Tab
from tests.admin.try_call_data import FLOW, HELLO, tries_factory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which(FIREFOX) is None,
                       reason="Debian's firefox-esr is not installed (make browser-deps)"),
]

#: Firefox's fake microphone: a sine at 1 kHz.
TONE_HZ = 1000.0
#: What no sound card needs: the audio device Firefox's own tests use (see the module's text).
NO_SOUND_CARD: dict[str, bool | int | str] = {"media.cubeb.force_mock_context": True}

FirefoxFactory = Callable[..., Awaitable[Firefox]]


@pytest.fixture
async def make_firefox(tmp_path: Path) -> AsyncIterator[FirefoxFactory]:
    """Starts headless Firefox with a fake microphone, each on a fresh profile; closes them."""
    started: list[Firefox] = []

    async def factory(prefs: dict[str, bool | int | str] | None = None) -> Firefox:
        firefox = await Firefox.launch(tmp_path / f"firefox{len(started)}",
                                       {**MEDIA_PREFS, **NO_SOUND_CARD, **(prefs or {})})
        started.append(firefox)
        return firefox

    yield factory
    for firefox in started:
        await firefox.close()


async def sign_in(tab: Tab, admin: Admin, email: str) -> str:
    assert admin.server is not None
    base = str(admin.server.make_url("")).rstrip("/")
    await tab.goto(base + "/login")
    await tab.fill("input[name=email]", email)
    await tab.fill("input[name=password]", PASSWORD)
    await tab.click("button[type=submit]")
    await tab.wait_for("document.querySelector('h1')?.innerText === 'Dashboard'")
    return base


async def assert_no_page_errors(tab: Tab) -> None:
    # The browser asks for /favicon.ico by itself; the admin's pages link none.
    requests = [problem for problem in tab.problems.requests
                if not problem.split(": ", 1)[0].endswith("/favicon.ico")]
    assert tab.problems.console == [], tab.problems.console
    assert requests == [], requests
    assert await tab.csp_violations() == []


async def tone_assistant(admin: Admin, org: OrgFixture, *, record: bool = False) -> int:
    """The Korean test flow (tests/admin/try_call_data.py) without barge-in: the fake
    microphone's tone starts with the call and never stops, and the VAD would hear a caller
    talking over every line (barge-in is tested on its own elsewhere)."""
    created = await AssistantRepository(admin.db).create(
        org.id, "Korean front desk", "ko", flow=FLOW, media={"barge_in": False},
        record_calls=record)
    return created.id


def dominant_hz(samples: np.ndarray[Any, np.dtype[np.int16]], rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.argmax(spectrum[1:]) + 1) * rate / len(samples)


@pytest.mark.parametrize(("rate", "device_rate"), [(16000, 44100), (8000, 48000)])
async def test_a_test_call_in_firefox_hears_the_greeting_sends_the_microphone_and_takes_typing(
    make_admin: AdminFactory, make_firefox: FirefoxFactory, rate: int, device_rate: int
) -> None:
    admin = await make_admin(try_calls=tries_factory())
    org = await admin.org("acme", with_data=False)
    assistant_id = await tone_assistant(admin, org, record=True)
    firefox = await make_firefox({"media.cubeb.force_sample_rate": device_rate})
    tab = await firefox.tab()
    base = await sign_in(tab, admin, org.users["editor"])
    await tab.goto(base + f"/assistants/{assistant_id}")
    await assert_no_page_errors(tab)

    await tab.fill("#try-rate", str(rate))
    await tab.click("#try-start")
    await tab.wait_for("""[...document.querySelectorAll('#try-transcript li[data-speaker]')]
        .some(li => li.dataset.speaker === 'assistant'
                    && li.innerText.includes('안녕하세요 라고'))""")
    # The greeting's audio came and the page's player played it (call-rate samples).
    await tab.wait_for(f"window.cwTryIt.playedSamples > {rate // 2}")
    assert await tab.evaluate("[window.cwTryIt.microphone, window.cwTryIt.sound]") == [True, True]
    assert await tab.text("#try-status") == "Connected: speak, or type below."
    await tab.wait_for("window.cwTryIt.sentFrames > 150")  # three seconds of the microphone

    await tab.fill("#try-text", "네")  # not what the flow asks for: it asks again
    await tab.click("#try-type button[type=submit]")
    await tab.wait_for("""(() => {
        const lines = [...document.querySelectorAll('#try-transcript li[data-speaker]')];
        const typed = lines.findIndex(li => li.dataset.speaker === 'caller'
                                            && li.innerText.includes('네'));
        return typed >= 0 && lines.slice(typed + 1).some(li => li.dataset.speaker === 'assistant'
                                                          && li.innerText.includes('다시'));
    })()""")
    await tab.click("#try-stop")
    ended = await tab.wait_for("window.cwTryIt.ended")
    assert (ended["status"], ended["reason"]) == ("completed", "caller_hangup")
    assert "Call ended" in await tab.text("#try-status")
    # The panel is ready for another call (the page's audio closed without an error).
    assert await tab.evaluate("[document.getElementById('try-start').disabled,"
                              " document.getElementById('try-stop').hidden]") == [False, True]
    state = await tab.evaluate("window.cwTryIt")
    assert state["receivedBytes"] > rate  # over half a second of the assistant's audio
    await assert_no_page_errors(tab)

    row = await admin.db.fetch_one(
        "SELECT direction, status, end_reason FROM calls WHERE uid = ?", (state["callUid"],))
    assert row is not None
    assert (row["direction"], row["status"], row["end_reason"]) == ("test", "completed",
                                                                     "caller_hangup")
    # The server got the microphone: the call's recording (the caller on the left) is at the
    # call's rate and holds the tone, at its pitch only if the worklet resampled it right.
    owner = await admin.login(org.users["admin"])
    response = await owner.client.get(f"/calls/{state['callUid']}/recording")
    assert response.status == 200
    with wave.open(io.BytesIO(await response.read())) as recording:
        assert (recording.getframerate(), recording.getnchannels()) == (rate, 2)
        caller = np.frombuffer(recording.readframes(recording.getnframes()), "<i2")[0::2]
    sounding = np.flatnonzero(caller)
    heard = caller[sounding[0]:sounding[-1] + 1]  # from the tone's first sample to its last
    assert len(heard) >= state["sentFrames"] * (rate // 50) // 2, (len(heard), state)  # half
    assert abs(dominant_hz(heard[: rate * 2], rate) - TONE_HZ) < 10


async def test_a_typed_hello_in_firefox_gets_the_flow_s_reply_and_ends_the_call(
    make_admin: AdminFactory, make_firefox: FirefoxFactory
) -> None:
    admin = await make_admin(try_calls=tries_factory())
    org = await admin.org("acme", with_data=False)
    assistant_id = await tone_assistant(admin, org)
    firefox = await make_firefox()
    tab = await firefox.tab()
    base = await sign_in(tab, admin, org.users["editor"])
    await tab.goto(base + f"/assistants/{assistant_id}")
    await tab.click("#try-start")
    await tab.wait_for("!!document.querySelector('#try-transcript li[data-speaker=assistant]')")
    assert await tab.evaluate("window.cwTryIt.microphone") is True
    before = await tab.evaluate("window.cwTryIt.playedSamples")
    await tab.fill("#try-text", HELLO)
    await tab.click("#try-type button[type=submit]")
    ended = await tab.wait_for("window.cwTryIt.ended")
    assert ended["reason"] == "said_hello"
    speakers = await tab.evaluate(
        "[...document.querySelectorAll('#try-transcript li[data-speaker]')]"
        ".map(li => [li.dataset.speaker, li.innerText])")
    assert [speaker for speaker, _ in speakers] == ["assistant", "caller", "assistant"]
    assert HELLO in speakers[1][1] and "반갑습니다" in speakers[2][1]
    # The reply was played (over half a second of it, at the call's 16 kHz).
    await tab.wait_for(f"window.cwTryIt.playedSamples > {before + 16000 // 2}")
    await tab.wait_for("!document.getElementById('try-start').disabled")
    await assert_no_page_errors(tab)


async def test_a_firefox_with_no_sound_output_still_takes_a_typed_call(
    make_admin: AdminFactory, make_firefox: FirefoxFactory
) -> None:
    """Without a sound card (and no mock one) Firefox's AudioContext never starts: the panel
    must not wait for it forever but connect, say so, and let the caller type."""
    admin = await make_admin(try_calls=tries_factory())
    org = await admin.org("acme", with_data=False)
    assistant_id = await tone_assistant(admin, org)
    firefox = await make_firefox({"media.cubeb.force_mock_context": False})
    tab = await firefox.tab()
    base = await sign_in(tab, admin, org.users["editor"])
    await tab.goto(base + f"/assistants/{assistant_id}")
    await tab.click("#try-start")
    await tab.wait_for("!document.getElementById('try-type').hidden", timeout_s=10)
    assert "no sound" in await tab.text("#try-status")
    assert await tab.evaluate("window.cwTryIt.sound") is False
    await tab.wait_for("!!document.querySelector('#try-transcript li[data-speaker=assistant]')")
    await tab.fill("#try-text", HELLO)
    await tab.click("#try-type button[type=submit]")
    ended = await tab.wait_for("window.cwTryIt.ended")
    assert ended["reason"] == "said_hello"
    speakers = await tab.evaluate(
        "[...document.querySelectorAll('#try-transcript li[data-speaker]')]"
        ".map(li => li.dataset.speaker)")
    assert speakers == ["assistant", "caller", "assistant"]
    assert await tab.evaluate("window.cwTryIt.playedSamples") == 0
    await assert_no_page_errors(tab)


@pytest.mark.parametrize(("rate", "device_rate", "tone_hz"), [(8000, 48000, 6000),
                                                               (16000, 44100, 12000)])
async def test_what_the_microphone_hears_above_the_call_s_band_does_not_fold_into_it(
    make_admin: AdminFactory, make_firefox: FirefoxFactory, rate: int, device_rate: int,
    tone_hz: int,
) -> None:
    """A tone above the call's Nyquist frequency (6 kHz on an 8 kHz call would fold to 2 kHz,
    12 kHz on a 16 kHz call to 4 kHz) must be filtered out by the worklet, not aliased into the
    band the speech recogniser listens to: the recording's caller side stays 30 dB below the
    same tone in the band (the fake microphone's 1 kHz tone, about 2300 RMS)."""
    admin = await make_admin(try_calls=tries_factory())
    org = await admin.org("acme", with_data=False)
    assistant_id = await tone_assistant(admin, org, record=True)
    firefox = await make_firefox({"media.cubeb.force_sample_rate": device_rate,
                                  "media.navigator.audio.fake_frequency": tone_hz})
    tab = await firefox.tab()
    base = await sign_in(tab, admin, org.users["editor"])
    await tab.goto(base + f"/assistants/{assistant_id}")
    await tab.fill("#try-rate", str(rate))
    await tab.click("#try-start")
    await tab.wait_for("window.cwTryIt.sentFrames > 100")
    await tab.click("#try-stop")
    await tab.wait_for("window.cwTryIt.ended")
    uid = await tab.evaluate("window.cwTryIt.callUid")
    owner = await admin.login(org.users["admin"])
    response = await owner.client.get(f"/calls/{uid}/recording")
    assert response.status == 200
    with wave.open(io.BytesIO(await response.read())) as recording:
        assert recording.getframerate() == rate
        caller = np.frombuffer(recording.readframes(recording.getnframes()), "<i2")[0::2]
    assert len(caller) > rate  # the call lasted over a second
    rms = float(np.sqrt(np.mean(caller[rate // 2:].astype(np.float64) ** 2)))
    assert rms < 2300 / 31.6, f"the {tone_hz} Hz tone folded into the call at {rms:.0f} RMS"
