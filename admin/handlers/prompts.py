"""Recorded prompts (editors and above) and recordings as MP3.

``/assistants/{id}/prompts`` lists an assistant's recorded prompts with a player, takes an
upload (WAV, MP3 or OGG; a multipart ``file`` in the form, ``audio_base64`` + ``filename`` in
the API) for one of its texts (the greeting, a flow ``say`` node: the exact words), converted
once with pydub (:mod:`callwright.prompts.audio`) and played by calls instead of TTS for that
text; a prompt is deleted with ``…/prompts/{prompt_id}/delete``. ``/calls/{uid}/recording.mp3``
is the call's recording encoded as MP3 (the WAV stays at ``/calls/{uid}/recording``).
"""

from __future__ import annotations

import asyncio
import base64
import io
import wave
from typing import Any

from aiohttp import web

from admin.errors import Missing, UserError
from admin.forms import text, user_errors
from admin.handlers.recordings import recording_file
from admin.html import Html, h, join
from admin.routing import Ctx, Route
from admin.views import button_form, done, field, form, page, respond, table, text_input
from callwright.accounts.roles import Permission
from callwright.errors import NotFound
from callwright.privacy.call_restrictions import CallRestrictionRepository
from callwright.privacy.recording_crypto import RecordingCryptoError, open_encrypted
from callwright.prompts.audio import (
    MAX_BYTES,
    PromptAudioError,
    convert_prompt,
    format_of,
    wav_to_mp3,
)
from callwright.store.prompts import MAX_TEXT, PromptRepository


def prompts(ctx: Ctx) -> PromptRepository:
    return PromptRepository(ctx.services.db)


async def _assistant_id(ctx: Ctx) -> int:
    assistant_id = ctx.match_int("assistant_id")
    try:
        await ctx.services.assistants.get(ctx.org_id, assistant_id)
    except NotFound:
        raise Missing("This assistant") from None
    return assistant_id


async def list_prompts(ctx: Ctx) -> web.StreamResponse:
    assistant_id = await _assistant_id(ctx)
    found = await prompts(ctx).list(ctx.org_id, assistant_id)
    if ctx.api:
        return respond(ctx, {"prompts": [
            {"id": p.id, "text": p.text, "filename": p.filename, "duration_ms": p.duration_ms,
             "created_at": p.created_at} for p in found]}, web.Response)
    base = f"/assistants/{assistant_id}/prompts"
    can_write = ctx.principal.can(Permission.ASSISTANTS_WRITE)
    rows = [h('<tr><td>{t}</td><td><audio controls preload="none" src="{b}/{i}/audio.wav">'
              "</audio></td><td>{d} s</td><td>{x}</td></tr>", t=p.text, b=base, i=p.id,
              d=f"{p.duration_ms / 1000:.1f}",
              x=button_form(ctx, f"{base}/{p.id}/delete", "Delete", danger=True)
              if can_write else Html("")) for p in found]
    new = Html("")
    if can_write:
        new = h("<h2>Upload a recording</h2>{f}", f=form(ctx, base, join([
            field("Text it says", text_input("text", "", required=True, maxlength=MAX_TEXT),
                  "The exact words of the greeting or of a flow's say node: the call plays "
                  "the recording instead of synthesising them."),
            field("Audio", text_input("file", type="file", required=True,
                                      accept=".wav,.mp3,.ogg,audio/*"), "WAV, MP3 or OGG."),
            Html('<button type="submit">Upload</button>'),
        ]), cls="stack", multipart=True))
    return page(ctx, "Recorded prompts", h("{t}{n}", t=table(
        ["Text", "Recording", "Length", ""], rows, "No recorded prompts: the TTS says it all."),
        n=new))


async def _upload(ctx: Ctx, data: dict[str, Any]) -> tuple[str, bytes]:
    upload = data.get("file")
    if isinstance(upload, web.FileField) and upload.filename:
        raw: bytes = await asyncio.to_thread(upload.file.read, MAX_BYTES + 1)
        return upload.filename, raw
    encoded = data.get("audio_base64")
    if isinstance(encoded, str) and encoded:
        try:
            return text(data, "filename", max_len=200) or "upload.wav", base64.b64decode(
                encoded, validate=True)
        except ValueError:  # binascii.Error, or a str with other than ASCII in it
            raise UserError("audio_base64 is not base64", field="file") from None
    raise UserError("Upload a WAV, MP3 or OGG file.", field="file")


async def add_prompt(ctx: Ctx) -> web.StreamResponse:
    assistant_id = await _assistant_id(ctx)
    data = await ctx.input()
    words = text(data, "text", max_len=MAX_TEXT)
    filename, raw = await _upload(ctx, data)
    try:
        audio = await asyncio.to_thread(convert_prompt, raw, format_of(filename))
    except PromptAudioError as exc:
        raise UserError(str(exc), field="file") from None
    with user_errors("text"):
        saved = await prompts(ctx).save(ctx.org_id, assistant_id, words, filename, audio)
    await ctx.record("prompt.upload", f"assistant:{assistant_id}", prompt_id=saved.id,
                     duration_ms=saved.duration_ms)
    return done(ctx, {"id": saved.id, "text": saved.text, "duration_ms": saved.duration_ms},
                f"/assistants/{assistant_id}/prompts", notice="added", status=201)


async def prompt_audio(ctx: Ctx) -> web.StreamResponse:
    assistant_id = await _assistant_id(ctx)
    prompt_id = ctx.match_int("prompt_id")
    if prompt_id not in {p.id for p in await prompts(ctx).list(ctx.org_id, assistant_id)}:
        raise Missing("This prompt")
    pcm = await prompts(ctx).pcm(ctx.org_id, prompt_id)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(pcm)
    return web.Response(body=buf.getvalue(), content_type="audio/wav")


async def delete_prompt(ctx: Ctx) -> web.StreamResponse:
    assistant_id = await _assistant_id(ctx)
    prompt_id = ctx.match_int("prompt_id")
    if prompt_id not in {p.id for p in await prompts(ctx).list(ctx.org_id, assistant_id)}:
        raise Missing("This prompt")
    await prompts(ctx).delete(ctx.org_id, prompt_id)
    await ctx.record("prompt.delete", f"assistant:{assistant_id}", prompt_id=prompt_id)
    return done(ctx, {"ok": True}, f"/assistants/{assistant_id}/prompts", notice="deleted")


async def recording_mp3(ctx: Ctx) -> web.StreamResponse:
    call = await ctx.services.calls.find_call(ctx.org_id, ctx.match("uid"))
    if call is None or not call.get("recording_path"):
        raise Missing("This recording")
    restricted = await CallRestrictionRepository(ctx.services.db).for_call(
        ctx.org_id, int(call["id"]))
    if restricted is not None and restricted.recording:
        raise UserError("This recording's processing is restricted: it cannot be downloaded "
                        "until the restriction is lifted.", status=403)
    path = await asyncio.to_thread(recording_file, ctx.services.recordings_dir,
                                   call["recording_path"])
    if path is None:
        raise Missing("The recording file")
    if call.get("recording_key_id"):
        try:
            reader = await open_encrypted(path, ctx.services.keyring)
        except RecordingCryptoError:
            raise UserError("This recording cannot be decrypted here.", status=409) from None
        try:
            wav = await asyncio.to_thread(reader.read, 0, reader.size)
        except RecordingCryptoError:
            raise UserError("This recording's file is damaged.", status=409) from None
        finally:
            reader.close()
    else:
        wav = await asyncio.to_thread(path.read_bytes)
    try:
        mp3 = await asyncio.to_thread(wav_to_mp3, wav)
    except PromptAudioError as exc:
        raise UserError(f"This recording cannot be made into MP3: {exc}", status=409) from None
    await ctx.record("recording.download", f"call:{call['uid']}", format="mp3")
    return web.Response(body=mp3, content_type="audio/mpeg", headers={
        "Content-Disposition": f'attachment; filename="{call["uid"]}.mp3"'})


_BASE = "/assistants/{assistant_id}/prompts"
ROUTES = [
    Route("GET", _BASE, list_prompts, Permission.ASSISTANTS_READ,
          "An assistant's recorded prompts"),
    Route("POST", _BASE, add_prompt, Permission.ASSISTANTS_WRITE,
          "Upload a recorded prompt (WAV, MP3 or OGG) for one of the assistant's texts", body={
              "type": "object", "required": ["text", "audio_base64"],
              "properties": {"text": {"type": "string"}, "audio_base64": {"type": "string"},
                             "filename": {"type": "string"}}}),
    Route("GET", _BASE + "/{prompt_id}/audio.wav", prompt_audio, Permission.ASSISTANTS_READ,
          "A recorded prompt as 16 kHz WAV", api=False),
    Route("POST", _BASE + "/{prompt_id}/delete", delete_prompt, Permission.ASSISTANTS_WRITE,
          "Delete a recorded prompt"),
    Route("GET", "/calls/{uid}/recording.mp3", recording_mp3, Permission.RECORDINGS_LISTEN,
          "The call's recording as MP3", api=False),
]
