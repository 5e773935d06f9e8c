"""The engine's call pipeline on a FreeSWITCH call's media: the assistant's speech engines, the
call's journal (a barge-in also drops what FreeSWITCH buffered, :class:`KillAudioJournal`), the
caller's restrictions (:class:`PrivateTurnStore`), the recording, and transfers through the
session's :class:`~fs_app.call_transfer.CallTransfers`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from callwright.call.pipeline import CallPipeline
from callwright.dialog.actions import CallContext, DialogEngine
from callwright.media.transport import MediaTransport
from callwright.privacy.call_privacy import CallPrivacy, PrivateTurnStore
from callwright.store.assistants import Assistant
from callwright.store.calls import Call
from fs_app.call_media import KillAudioJournal
from fs_app.call_recording import FsRecording
from fs_app.media_mode import FsMedia
from fs_app.services import FsServices


async def new_pipeline(
    svc: FsServices, call: Call, *, media: FsMedia, transport: MediaTransport, language: str,
    assistant: Assistant | None, dialog: DialogEngine, privacy: CallPrivacy | None,
    recording: FsRecording | None, transfer: Callable[[str], Awaitable[bool]], last_seq: int,
) -> tuple[CallPipeline, CallContext]:
    """The pipeline that runs ``dialog`` on the call, and the context its flow fills."""
    store = svc.calls if privacy is None or not privacy.kinds \
        else PrivateTurnStore(svc.calls, privacy)
    settings = svc.dialogs.pipeline_settings(assistant)
    fallback = await svc.speech.tts_for({"engine": "espeak-ng",
                                         "voice": settings.fallback_voice})
    ctx = CallContext(call_uid=call.uid, caller_number=call.caller_number,
                      dialed=call.dialed, language=language)
    pipeline = CallPipeline(
        transport=transport,
        stt=await svc.speech.stt_for(assistant.stt if assistant is not None else None),
        tts=await svc.speech.tts_for(assistant.tts if assistant is not None else None),
        fallback_tts=fallback, dialog=dialog, ctx=ctx,
        journal=KillAudioJournal(store, call.id, observer=svc.live.on_turn,
                                 queue=svc.writes, on_barge_in=media.kill_audio,
                                 last_seq=last_seq),
        clock=svc.clock, settings=settings, transfer=transfer,
        recorder=recording.recorder if recording is not None else None,
        ringback_region=svc.settings.calls.ringback_region,
    )
    return pipeline, ctx


async def keep_slots(svc: FsServices, call: Call, ctx: CallContext,
                     privacy: CallPrivacy | None) -> None:
    """What the flow collected goes on the call row (not for a caller whose calls are not
    stored)."""
    if ctx.slots and (privacy is None or privacy.store):
        await svc.calls.set_slots(call.id, ctx.slots)
