"""Recorded prompts in the admin and the API, and recordings as MP3."""

from __future__ import annotations

import base64

import aiohttp

from tests.admin.conftest import AdminFactory
from tests.callwright.prompts.test_audio import tone_wav


async def test_upload_play_delete(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    other = await admin.org("other")
    editor = await admin.login(org.users["editor"])
    base = f"/assistants/{org.assistant_id}/prompts"
    data = aiohttp.FormData()
    data.add_field("_csrf", await editor.csrf())
    data.add_field("text", "Hello, this is the clinic.")
    data.add_field("file", tone_wav(), filename="hello.wav", content_type="audio/wav")
    response = await editor.client.post(base, data=data, allow_redirects=False)
    assert response.status == 303, await response.text()
    made = await editor.api("POST", base, {
        "text": "Goodbye.", "filename": "bye.wav",
        "audio_base64": base64.b64encode(tone_wav(330, 0.5)).decode()})
    assert made.status == 201, await made.text()
    listed = (await (await editor.api("GET", base)).json())["prompts"]
    assert [(p["text"], p["duration_ms"]) for p in listed] == [
        ("Hello, this is the clinic.", 1000), ("Goodbye.", 500)]
    page = await (await editor.client.get(base)).text()
    assert f'<audio controls preload="none" src="{base}/{listed[0]["id"]}/audio.wav">' in page
    wav = await editor.client.get(f"{base}/{listed[0]['id']}/audio.wav")
    assert wav.headers["Content-Type"] == "audio/wav" and len(await wav.read()) == 44 + 32000
    for body in ({"text": "x", "filename": "a.flac", "audio_base64": "AAAA"},
                 {"text": "x", "filename": "a.wav", "audio_base64": "not base64!"},
                 {"text": "x", "filename": "a.wav", "audio_base64": "\x80"},  # not ASCII
                 {"text": "x", "filename": "a.wav", "audio_base64": "AAAA"},
                 {"text": " ", "filename": "a.wav",
                  "audio_base64": base64.b64encode(tone_wav()).decode()}):
        response = await editor.api("POST", base, body)
        assert response.status == 400, (body, await response.text())
    other_owner = await admin.login(other.users["owner"])
    assert (await other_owner.client.get(f"{base}/{listed[0]['id']}/audio.wav")).status == 404
    assert (await other_owner.api("GET", base)).status == 404
    deleted = await editor.api("POST", f"{base}/{listed[1]['id']}/delete")
    assert deleted.status == 200
    assert len((await (await editor.api("GET", base)).json())["prompts"]) == 1
    viewer = await admin.login(org.users["viewer"])
    assert (await viewer.api("GET", base)).status == 403


async def test_recording_as_mp3(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    editor = await admin.login(org.users["editor"])
    response = await editor.client.get(f"/calls/{org.call_uid}/recording.mp3")
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"] == "audio/mpeg"
    body = await response.read()
    assert body[:3] == b"ID3" or body[:2] in (b"\xff\xfb", b"\xff\xf3")
    viewer = await admin.login(org.users["viewer"])
    assert (await viewer.client.get(f"/calls/{org.call_uid}/recording.mp3")).status == 403
