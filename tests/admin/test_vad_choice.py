"""The voice detector and the end of turn chosen per assistant on its settings page (media.vad,
media.turn_end)."""

from __future__ import annotations

import re

from callwright.store.assistants import AssistantRepository
from tests.admin.conftest import AdminFactory

FORM = {"name": "acme bot", "language": "ko", "stt_engine": "vosk", "tts_engine": "espeak-ng"}


async def test_the_settings_page_chooses_the_voice_detector(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    repo = AssistantRepository(admin.db)
    await repo.update(org.id, org.assistant_id, media={"end_silence_ms": 500})
    editor = await admin.login(org.users["editor"])
    page = await (await editor.client.get(f"/assistants/{org.assistant_id}")).text()
    vad = re.search(r'<select name="vad">(.*?)</select>', page, re.S)
    assert vad is not None and 'value="silero"' in vad.group(1)
    assert re.search(r'<option value="webrtc" selected', vad.group(1))

    response = await editor.post_form(f"/assistants/{org.assistant_id}", {**FORM, "vad": "silero"})
    assert response.status == 303
    saved = await repo.get(org.id, org.assistant_id)
    assert saved.media == {"end_silence_ms": 500, "vad": "silero"}  # the other keys kept

    response = await editor.post_form(f"/assistants/{org.assistant_id}", {**FORM, "vad": "neural"})
    assert response.status == 400
    assert "vad: choose one of webrtc, silero" in await response.text()
    assert (await repo.get(org.id, org.assistant_id)).media["vad"] == "silero"

    # A form without the field (an older page) leaves the media settings alone.
    response = await editor.post_form(f"/assistants/{org.assistant_id}", FORM)
    assert response.status == 303
    assert (await repo.get(org.id, org.assistant_id)).media["vad"] == "silero"


async def test_the_settings_page_chooses_the_end_of_turn(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    repo = AssistantRepository(admin.db)
    await repo.update(org.id, org.assistant_id, media={"vad": "silero"})
    editor = await admin.login(org.users["editor"])
    page = await (await editor.client.get(f"/assistants/{org.assistant_id}")).text()
    turn_end = re.search(r'<select name="turn_end">(.*?)</select>', page, re.S)
    assert turn_end is not None and 'value="words"' in turn_end.group(1)
    assert re.search(r'<option value="smart" selected', turn_end.group(1))

    response = await editor.post_form(f"/assistants/{org.assistant_id}",
                                      {**FORM, "turn_end": "words"})
    assert response.status == 303
    assert (await repo.get(org.id, org.assistant_id)).media == {"vad": "silero",
                                                                "turn_end": "words"}
    response = await editor.post_form(f"/assistants/{org.assistant_id}",
                                      {**FORM, "turn_end": "psychic"})
    assert response.status == 400
    assert "turn_end: choose one of smart, words, fixed" in await response.text()
