"""What an inbound call does around its pipeline, whatever brought it in (an ARI channel or a
connection from the AudioSocket() dialplan application): the recording it may make, the pipeline
built from the assistant's settings, and the bookkeeping that closes the call row.

:mod:`ari_app.audiosocket_session` is built on these helpers; :class:`ari_app.session.CallSession`
takes the same steps, in the same order and with the same events, inline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ari_app.services import SessionServices
from callwright.call.journal import CallJournal, TurnRecord
from callwright.call.outcome import CallOutcome
from callwright.call.pipeline import CallPipeline, TransferHandler
from callwright.call.recording_path import recording_path
from callwright.dialog.actions import CallContext, DialogEngine
from callwright.errors import CallwrightError, ConfigError, LlmError, SpeechError
from callwright.media.transport import MediaTransport
from callwright.privacy.call_privacy import CallPrivacy, DeclinableRecorder, PrivateTurnStore
from callwright.privacy.recording_crypto import encrypt_recording
from callwright.prompts.tts import PromptedTts
from callwright.speech.protocols import TtsEngine
from callwright.store.assistants import Assistant
from callwright.store.calls import Call

log = logging.getLogger(__name__)


@dataclass(slots=True)
class CallRecording:
    recorder: DeclinableRecorder
    encrypt: bool


def _open_recorder(path: Path, sample_rate: int) -> DeclinableRecorder:
    path.parent.mkdir(parents=True, exist_ok=True)
    return DeclinableRecorder(path, sample_rate)


async def start_recording(
    svc: SessionServices, call: Call, assistant: Assistant, caller_number: str, sample_rate: int,
    privacy: CallPrivacy | None = None,
) -> CallRecording | None:
    """A recorder for the call, or None: the caller asked not to be recorded or not to be stored
    (``privacy``, or looked up; noted as a ``recording_skipped`` event) or the assistant does not
    record calls. The file is encrypted at the end when the server (``[recordings] encrypt``, for
    every org) or the org (its "encrypt recordings" setting, on for new orgs) says so."""
    if (privacy is not None and not privacy.record) or (
        privacy is None and await svc.restrictions.is_do_not_record(assistant.org_id, caller_number)
    ):
        await svc.calls.add_event(call.id, "recording_skipped", {"reason": "caller_restriction"})
        return None
    if not assistant.record_calls:
        return None
    org = await svc.orgs.get(assistant.org_id)
    path = recording_path(svc.recordings_dir, call)
    recorder = await asyncio.to_thread(_open_recorder, path, sample_rate)
    return CallRecording(recorder, svc.settings.recordings.encrypt or org.encrypt_recordings)


async def finish_recording(svc: SessionServices, call: Call, recording: CallRecording) -> None:
    """Close the WAV, encrypt it if asked (left in clear, with an ``error`` event, if that fails)
    and note it on the call row. A recording the disk refused (full) keeps what reached it; the
    pipeline noted when it stopped, or this notes it (a ``recording_stopped`` event) when the
    refusal came with the last write."""
    failed_during_call = recording.recorder.failed is not None
    info = await asyncio.to_thread(recording.recorder.close)
    if info.error is not None and not failed_during_call:
        log.error("call %s: the end of the recording was lost: %s", call.uid, info.error)
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


async def build_pipeline(
    svc: SessionServices,
    *,
    transport: MediaTransport,
    call: Call,
    caller_number: str,
    language: str,
    assistant: Assistant | None,
    dialog: DialogEngine,
    recording: CallRecording | None,
    transfer: TransferHandler,
    last_seq: int = 0,
    privacy: CallPrivacy | None = None,
) -> tuple[CallPipeline, CallContext]:
    """The call's pipeline with the assistant's speech engines and settings (the server's
    defaults when ``assistant`` is None), and the context the dialog fills (slots). The slots
    are saved on the call row after each assistant turn (:class:`SlotCheckpoint`), so a call
    picked up after a restart has them; ``last_seq``: turns already journalled (a resumed call);
    ``privacy``: the caller's restrictions (turns not transcribed, or nothing stored)."""
    ctx = CallContext(
        call_uid=call.uid, caller_number=caller_number, dialed=call.dialed, language=language
    )
    checkpoint = SlotCheckpoint(svc, call.id, ctx)

    def on_turn(call_id: int, record: TurnRecord) -> None:
        svc.live.on_turn(call_id, record)
        if record.speaker == "assistant" and (privacy is None or privacy.store):
            checkpoint.save()
    settings = svc.pipeline_settings(assistant)
    fallback = await svc.speech.tts_for({"engine": "espeak-ng", "voice": settings.fallback_voice})
    tts = await _tts_or_fallback(svc, call, assistant, fallback)
    if svc.prompts is not None and assistant is not None:
        recorded = await svc.prompts.for_call(assistant.id, transport.format.sample_rate)
        if recorded:  # the assistant's recorded prompts are played instead of their text
            tts = PromptedTts(tts, recorded, transport.format.sample_rate)
    pipeline = CallPipeline(
        transport=transport,
        stt=await svc.speech.stt_for(assistant.stt if assistant is not None else None),
        tts=tts,
        fallback_tts=fallback,
        dialog=dialog,
        ctx=ctx,
        journal=CallJournal(
            svc.calls if privacy is None else PrivateTurnStore(svc.calls, privacy), call.id,
            observer=on_turn, last_seq=last_seq, queue=svc.writes,
        ),
        clock=svc.clock,
        settings=settings,
        recorder=recording.recorder if recording is not None else None,
        transfer=transfer,
        ringback_region=svc.settings.calls.ringback_region,
    )
    return pipeline, ctx


async def _tts_or_fallback(
    svc: SessionServices, call: Call, assistant: Assistant | None, fallback: TtsEngine
) -> TtsEngine:
    """The assistant's TTS engine; espeak-ng (``fallback``) for the whole call when that engine
    cannot be had (a Piper voice gone from the disk), noted as a ``tts_unavailable`` event."""
    try:
        return await svc.speech.tts_for(assistant.tts if assistant is not None else None)
    except (SpeechError, ConfigError) as exc:
        log.error("call %s: the assistant's TTS engine is unavailable, espeak-ng speaks: %s",
                  call.uid, exc)
        await svc.calls.add_event(call.id, "tts_unavailable",
                                  {"error": str(exc), "fallback": fallback.name})
        return fallback


class SlotCheckpoint:
    """Writes the dialog's slots to the call row when they changed, one write at a time and off
    the caller's path (a failed write is logged: the slots are written again at the end)."""

    def __init__(self, svc: SessionServices, call_id: int, ctx: CallContext) -> None:
        self._svc = svc
        self._call_id = call_id
        self._ctx = ctx
        self._saved: dict[str, Any] = {}
        self._task: asyncio.Task[None] | None = None

    def save(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        while self._ctx.slots != self._saved:
            slots = dict(self._ctx.slots)
            try:
                await self._svc.calls.set_slots(self._call_id, slots)
            except (CallwrightError, ValueError) as exc:
                log.warning("call %s: slots not saved: %s", self._call_id, exc)
                return
            self._saved = slots


class CallEventWriter:
    """Writes call events from synchronous callbacks (an LLM failure reported mid-call) and the
    call's set-up writes (:meth:`later`) without blocking them; :meth:`flush` waits for what is
    still being written."""

    def __init__(self, svc: SessionServices) -> None:
        self._svc = svc
        self._tasks: set[asyncio.Task[Any]] = set()

    def later(self, write: Coroutine[Any, Any, Any]) -> None:
        """Start ``write`` (a store write whose result the call does not need: an event, the
        answer time) and go on: through the write queue it lands in order behind the call's row,
        so a locked store does not hold up the greeting. A write that fails is logged (by the
        queue)."""
        task = asyncio.get_running_loop().create_task(write)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("a set-up write failed: %s", task.exception())

    def llm_failed(self, call: Call | None, error: LlmError) -> None:
        if call is None:
            return
        detail = {"error": type(error).__name__, "message": str(error)[:500]}
        self.later(self._svc.calls.add_event(call.id, "llm_error", detail))

    async def flush(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def close_call_row(svc: SessionServices, call: Call, outcome: CallOutcome) -> None:
    """The end of the call: status, reason, end time and duration on the row; live view told."""
    await svc.calls.close_call(call.id, outcome.status, outcome.reason)
    svc.live.ended(call.id, outcome.status, outcome.reason)
    log.info("call %s ended: %s (%s)", call.uid, outcome.status, outcome.reason)
