"""A FreeSWITCH call's recording, with the same rules as on Asterisk (:mod:`ari_app.call_setup`,
:mod:`callwright.privacy.call_privacy`): made when the assistant records its calls and the caller's
restrictions allow it, opened by the consent notice (the assistant's, else the org's), refused by
the opt-out key or the decline phrases (the file deleted, the row marked), encrypted at the end
when the server or the org says so. The pipeline writes both sides into the stereo WAV."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from callwright.call.recording_path import recording_path
from callwright.dialog.actions import DialogEngine
from callwright.dialog.consent import ConsentDialog
from callwright.errors import CallwrightError
from callwright.privacy.call_privacy import CallPrivacy, DeclinableRecorder, record_declined
from callwright.privacy.recording_crypto import encrypt_recording
from callwright.store.assistants import Assistant
from callwright.store.calls import Call
from fs_app.services import FsServices

log = logging.getLogger(__name__)


@dataclass(slots=True)
class FsRecording:
    recorder: DeclinableRecorder
    encrypt: bool
    declined: bool = False
    declining: asyncio.Task[None] | None = field(default=None)


def _open(path: Path, rate: int) -> DeclinableRecorder:
    path.parent.mkdir(parents=True, exist_ok=True)
    return DeclinableRecorder(path, rate)


async def open_recording(svc: FsServices, call: Call, assistant: Assistant,
                         privacy: CallPrivacy, rate: int) -> FsRecording | None:
    if not privacy.record:
        await svc.calls.add_event(call.id, "recording_skipped", {"reason": "caller_restriction"})
        return None
    if not assistant.record_calls:
        return None
    org = await svc.orgs.get(assistant.org_id)
    recorder = await asyncio.to_thread(_open, recording_path(svc.recordings_dir, call), rate)
    return FsRecording(recorder, svc.settings.recordings.encrypt or org.encrypt_recordings)


async def with_consent(svc: FsServices, assistant: Assistant, dialog: DialogEngine,
                       on_decline: Callable[[], None]) -> DialogEngine:
    """``dialog`` opened by the consent notice and listening for the decline phrases (unchanged
    when no notice is configured)."""
    org = await svc.orgs.get(assistant.org_id)
    text = assistant.consent_prompt.strip() or org.consent_prompt.strip()
    if not text:
        return dialog
    return ConsentDialog(dialog, text, language=assistant.language, on_decline=on_decline,
                         privacy_notice=org.privacy_notice,
                         notice_digit=svc.settings.recordings.notice_digit)


def is_optout_key(svc: FsServices, digit: str) -> bool:
    optout = svc.settings.recordings.optout_digit
    return bool(optout) and digit == optout


def decline(svc: FsServices, call: Call, recording: FsRecording, how: str) -> None:
    """The caller refused the recording (``how``: "key 9", "said"): nothing more is written;
    the file is deleted and the row marked off the caller's path."""
    if recording.declined:
        return
    recording.declined = True
    recording.recorder.decline()
    recording.declining = asyncio.get_running_loop().create_task(
        record_declined(svc.calls, call.id, recording.recorder.discard, how))


async def finish_recording(svc: FsServices, call: Call, recording: FsRecording) -> None:
    """Close the WAV, encrypt it if asked (left in clear with an ``error`` event if that fails)
    and note it on the row; a declined recording only waits for its deletion."""
    if recording.declined:
        if recording.declining is not None:
            await recording.declining
        return
    info = await asyncio.to_thread(recording.recorder.close)
    if info.error is not None:
        await svc.calls.add_event(call.id, "recording_stopped",
                                  {"reason": "write_failed", "error": str(info.error)})
    path, key_id = info.path, None
    if recording.encrypt:
        try:
            key = await svc.keyring.current(call.org_id) if call.org_id is not None \
                else svc.master_key
            path, key_id = await encrypt_recording(info.path, key)
        except (OSError, CallwrightError) as exc:
            log.error("call %s: recording left unencrypted: %s", call.uid, exc)
            await svc.calls.add_event(call.id, "error",
                                      {"message": f"recording not encrypted: {exc}"})
    await svc.calls.set_recording(call.id, str(path), key_id)
