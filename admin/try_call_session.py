"""One test call: a browser's WebSocket as the caller, the assistant's pipeline on the other end.

The call is stored as any call is (a row, its turns and timeline), with direction ``test``
(migration 0039: reports leave such calls out) and the user's name as the caller's. It runs the
pipeline phone calls run (:class:`~callwright.call.pipeline.CallPipeline`), fed 20 ms frames cut
from the browser's audio messages, and the pacer's frames go back to the page as binary messages.
Each turn is sent to the page as it is written (the live transcript), a typed line is a caller turn
(:meth:`CallPipeline.caller_typed`), and the call ends when the dialog hangs up, the page hangs up
or goes away, or the time limit passes (``completed``/``max_duration``). Transfers cannot happen
from a browser: the flow's fallback runs, as on a line without ARI. When the assistant records,
the call opens with the consent notice and hears the decline phrases, as a phone call does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from aiohttp import WSMsgType, web

from admin import try_call_protocol as protocol
from admin.try_calls import Reservation, TryCalls
from callwright.call.journal import CallJournal, TurnRecord
from callwright.call.outcome import CallOutcome
from callwright.call.pipeline import CallPipeline
from callwright.dialog.actions import CallContext, DialogEngine
from callwright.dialog.consent import consent_dialog, notice_text
from callwright.errors import CallwrightError, ConfigError, LlmError, SpeechError
from callwright.media.transport import FrameSink, MediaFormat
from callwright.privacy.call_privacy import DeclinableRecorder, record_declined
from callwright.privacy.recording_crypto import encrypt_recording
from callwright.speech.protocols import TtsEngine
from callwright.store.assistants import Assistant
from callwright.store.calls import TEST_DIRECTION, Call

log = logging.getLogger(__name__)

#: Frames of assistant audio waiting for the socket before older ones are dropped (2 s).
MAX_QUEUED_FRAMES = 100
#: How long the page's goodbye (the ``ended`` message) may take to leave.
GOODBYE_S = 2.0


class BrowserLine:
    """The pipeline's media transport: frames from the page in, the pacer's frames out."""

    def __init__(self, ws: web.WebSocketResponse, rate: int) -> None:
        self.format = MediaFormat("slin16" if rate == 16000 else "slin", rate)
        self.chunker = protocol.FrameChunker(self.format.pcm_frame_bytes)
        self._ws = ws
        self._on_frame: FrameSink | None = None
        self._out: asyncio.Queue[bytes | str] = asyncio.Queue()
        self._queued_audio = 0
        self._writer: asyncio.Task[None] | None = None
        self.dropped = 0

    def open(self) -> None:
        """Start sending what is queued (messages go out before the pipeline starts, too)."""
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())

    async def start(self, on_frame: FrameSink, on_closed: Callable[[str], None]) -> None:
        self._on_frame = on_frame
        self.open()

    def feed(self, data: bytes) -> None:
        """An audio message from the page (raises protocol.BadAudio)."""
        frames = self.chunker.feed(data)
        if self._on_frame is not None:
            for frame in frames:
                self._on_frame(frame)

    def send_frame(self, pcm: bytes) -> None:
        if self._queued_audio >= MAX_QUEUED_FRAMES:  # a stalled page: it misses this frame
            self.dropped += 1
            return
        self._queued_audio += 1
        self._out.put_nowait(pcm)

    def send_text(self, text: str) -> None:
        """A text message, in order with the audio."""
        self._out.put_nowait(text)

    async def _write(self) -> None:
        while True:
            item = await self._out.get()
            try:
                if isinstance(item, bytes):
                    self._queued_audio -= 1
                if self._ws.closed:
                    continue
                if isinstance(item, str):
                    await self._ws.send_str(item)
                else:
                    await self._ws.send_bytes(item)
            except (ConnectionError, RuntimeError):  # the page went away: the reader sees it
                continue
            finally:
                self._out.task_done()

    async def flush(self, limit_s: float) -> None:
        """Wait (at most ``limit_s``) for what is queued to be sent."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._out.join(), limit_s)

    async def close(self) -> None:
        task, self._writer = self._writer, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _open_recorder(path: Path, rate: int) -> DeclinableRecorder:
    path.parent.mkdir(parents=True, exist_ok=True)
    return DeclinableRecorder(path, rate)


class TryCallSession:
    """One test call on an open WebSocket (``ws``), for ``assistant``, made by ``user_name``."""

    def __init__(
        self, tries: TryCalls, ws: web.WebSocketResponse, assistant: Assistant, *, rate: int,
        user_name: str, reservation: Reservation | None = None,
    ) -> None:
        """``reservation``: the call's place under the limits, freed as soon as the call's row is
        closed (before the page hears that the call ended, so that it may start another)."""
        self._tries = tries
        self._reservation = reservation
        self._ws = ws
        self._assistant = assistant
        self._rate = rate
        self._user_name = user_name
        self._line = BrowserLine(ws, rate)
        self._pipeline: CallPipeline | None = None
        self._recorder: DeclinableRecorder | None = None
        self._declining: asyncio.Task[None] | None = None
        self.call: Call | None = None
        self.outcome: CallOutcome | None = None

    async def run(self) -> None:
        tries = self._tries
        assistant = self._assistant
        call = await tries.calls.create_call(
            assistant.org_id, assistant.id, None, dialed="browser test call",
            caller_number="", caller_name=self._user_name,
            channel_id=f"browser/{secrets.token_hex(6)}", direction=TEST_DIRECTION,
        )
        self.call = call
        await tries.calls.mark_answered(call.id)
        await tries.calls.add_event(call.id, "test_call_started",
                                    {"sample_rate": self._rate, "by": self._user_name})
        outcome = CallOutcome("failed", "error: setup did not finish")
        self._line.open()
        try:
            self._line.send_text(protocol.started(call.uid, self._rate,
                                                  tries.limits.max_seconds))
            self._pipeline = await self._build(call)
            pipeline_task = asyncio.get_running_loop().create_task(self._pipeline.run())
            reader = asyncio.get_running_loop().create_task(self._read())
            done, _ = await asyncio.wait({pipeline_task, reader},
                                         return_when=asyncio.FIRST_COMPLETED)
            if pipeline_task not in done:  # the page hung up or left
                outcome_if_gone = reader.result() if not reader.cancelled() else None
                self._pipeline.end(outcome_if_gone or CallOutcome("completed", "caller_hangup"))
            outcome = await pipeline_task
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        except CallwrightError as exc:
            log.warning("test call %s could not go on: %s", call.uid, exc)
            self._line.send_text(protocol.error(str(exc)))
            outcome = CallOutcome("failed", f"error: {type(exc).__name__}: {exc}")
        except Exception as exc:  # the outermost boundary of a test call: log, close the row
            log.exception("test call %s failed", call.uid)
            self._line.send_text(protocol.error("The test call failed on the server; it has "
                                                "been logged."))
            outcome = CallOutcome("failed", f"error: {type(exc).__name__}: {exc}")
        finally:
            self.outcome = outcome
            if self._declining is not None:
                await self._declining
            if self._recorder is not None:
                await self._finish_recording(call, self._recorder)
            await tries.calls.close_call(call.id, outcome.status, outcome.reason)
            if self._reservation is not None:
                self._reservation.release()
            self._line.send_text(protocol.ended(outcome.status, outcome.reason))
            await self._line.flush(GOODBYE_S)
            await self._line.close()
            await self._ws.close()

    async def _build(self, call: Call) -> CallPipeline:
        tries = self._tries
        assistant = self._assistant
        runtime = tries.runtime
        dialog = await runtime.for_assistant(assistant, on_llm_error=self._llm_failed)
        settings = runtime.pipeline_settings(assistant)
        settings = replace(settings, max_call_s=min(settings.max_call_s,
                                                    tries.limits.max_seconds))
        fallback = await tries.speech.tts_for({"engine": "espeak-ng",
                                               "voice": settings.fallback_voice})
        ctx = CallContext(call_uid=call.uid, caller_number="", dialed=call.dialed,
                          language=assistant.language)
        if assistant.record_calls:  # recorded as the assistant's phone calls are
            path = tries.recordings_dir / call.started_at[:10].replace("-", "/") / f"{call.uid}.wav"
            self._recorder = await asyncio.to_thread(_open_recorder, path, self._rate)
            dialog = await self._with_consent(dialog)
        return CallPipeline(
            transport=self._line,
            stt=await tries.speech.stt_for(assistant.stt),
            tts=await self._tts(call, fallback),
            fallback_tts=fallback,
            dialog=dialog,
            ctx=ctx,
            journal=CallJournal(tries.calls, call.id, observer=self._on_turn),
            clock=tries.clock,
            settings=settings,
            recorder=self._recorder,
            transfer=self._no_transfer,
            ringback_region=tries.settings.calls.ringback_region,
        )

    async def _with_consent(self, dialog: DialogEngine) -> DialogEngine:
        """As on a phone call that is recorded: the consent notice first (the assistant's, else
        the org's), and the decline phrases stop and delete the recording."""
        assistant = self._assistant
        org = await self._tries.orgs.get(assistant.org_id)
        return consent_dialog(
            dialog, notice_text(assistant.consent_prompt, org.consent_prompt),
            language=assistant.language, on_decline=self._decline_recording,
            privacy_notice=org.privacy_notice,
            notice_digit=self._tries.settings.recordings.notice_digit,
        )

    def _decline_recording(self) -> None:
        """The caller said they refuse the recording: nothing more is written, the file is
        deleted and the row marked, as on a phone call."""
        recorder, self._recorder = self._recorder, None
        if recorder is None or self.call is None:
            return
        recorder.decline()
        self._declining = asyncio.get_running_loop().create_task(
            record_declined(self._tries.calls, self.call.id, recorder.discard, "said"))

    async def _finish_recording(self, call: Call, recorder: DeclinableRecorder) -> None:
        """Close the WAV, encrypt it when the server or the org says so, note it on the row."""
        tries = self._tries
        info = await asyncio.to_thread(recorder.close)
        path, key_id = info.path, None
        org = await tries.orgs.get(self._assistant.org_id)
        if tries.settings.recordings.encrypt or org.encrypt_recordings:
            try:
                path, key_id = await encrypt_recording(info.path, await tries.keyring.current(
                    self._assistant.org_id))
            except (OSError, CallwrightError) as exc:
                log.error("test call %s: recording left unencrypted: %s", call.uid, exc)
                await tries.calls.add_event(call.id, "error",
                                            {"message": f"recording not encrypted: {exc}"})
        await tries.calls.set_recording(call.id, str(path), key_id)

    async def _tts(self, call: Call, fallback: TtsEngine) -> TtsEngine:
        try:
            return await self._tries.speech.tts_for(self._assistant.tts)
        except (SpeechError, ConfigError) as exc:
            await self._tries.calls.add_event(call.id, "tts_unavailable",
                                              {"error": str(exc), "fallback": fallback.name})
            self._line.send_text(protocol.error(
                f"The assistant's voice is unavailable ({exc}); espeak-ng speaks instead."))
            return fallback

    def _on_turn(self, call_id: int, record: TurnRecord) -> None:
        self._line.send_text(protocol.turn(record))

    def _llm_failed(self, error: LlmError) -> None:
        self._line.send_text(protocol.error(f"The LLM failed: {error}"))

    async def _no_transfer(self, target: str) -> bool:
        assert self.call is not None
        await self._tries.calls.add_event(
            self.call.id, "transfer_unavailable",
            {"target": target, "why": "a test call from the browser cannot be transferred"},
        )
        self._line.send_text(protocol.error(
            f"The assistant would transfer the call to {target}; a test call cannot be "
            "transferred, so the flow goes on as if the transfer failed."))
        return False

    async def _read(self) -> CallOutcome | None:
        """The page's messages, until it hangs up or goes away; what ended the call, or None
        for a caller hang-up."""
        async for message in self._ws:
            if message.type == WSMsgType.BINARY:
                try:
                    self._line.feed(message.data)
                except protocol.BadAudio as exc:
                    await self._ws.close(code=exc.code, message=str(exc).encode()[:120])
                    return CallOutcome("failed", f"bad_audio: {exc}")
            elif message.type == WSMsgType.TEXT:
                try:
                    command = protocol.parse_text(message.data)
                except protocol.BadMessage as exc:
                    self._line.send_text(protocol.error(str(exc)))
                    continue
                if isinstance(command, protocol.HangUp):
                    return None
                if self._pipeline is not None:
                    self._pipeline.caller_typed(command.text)
            elif message.type == WSMsgType.ERROR:  # a message too big, or broken framing
                return CallOutcome("failed", f"bad_message: {message.data}")
        return None
