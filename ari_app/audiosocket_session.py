"""Calls that reach us through the AudioSocket() dialplan application, with no ARI at all.

The dialplan of such a number is::

    exten => 100,1,Answer()
     same => n,AudioSocket(7c2a5d4e-1b3f-4a6e-9d8c-0123456789ab,callwright.example:9092)
     same => n,Hangup()

Asterisk connects to our AudioSocket server, sends that UUID, then the caller's audio as slin
8 kHz (0x10) and one 0x03 frame per key pressed (asterisk-facts/media.md, "AudioSocket() dialplan
application"). The UUID is all we learn about the call, so each number served this way carries a
fixed UUID (:mod:`callwright.store.numbers_audiosocket`). :class:`AudioSocketCallSession` is the
server's dialplan handler: it finds the number, opens the call row (inbound, dialed = the number,
no caller ID), runs the assistant's pipeline on the connection, and closes the row.

How the call ends: the caller hanging up closes the TCP connection with no frame (Asterisk never
sends 0x00), which is recorded as ``completed``/``caller_hangup``; when the assistant ends the
call we send a hang-up frame and close, and AudioSocket() returns to the dialplan (its next
priority, ``Hangup()`` above, runs). An error frame or an unusable stream is a ``failed`` call.

Consent is that of the ARI path, through the same helpers: a recorded call opens with the consent
notice (:func:`ari_app.recording_consent.with_consent`), and the opt-out key (a 0x03 frame) or
phrase stops the recording and deletes it, marking the row ``recording_declined``.

Limits of this path: no caller ID (``caller_number`` is ""), so restrictions set on a caller
number cannot apply (there is no number to match; docs/privacy.md says so); no transfers (they
need ARI: the pipeline is told the transfer failed, so the flow's fallback runs);
``unknown_number_action = "continue"`` only closes the connection, which makes
AudioSocket() return, as a hang-up does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ari_app.call_setup import (
    CallEventWriter,
    CallRecording,
    build_pipeline,
    close_call_row,
    finish_recording,
    start_recording,
)
from ari_app.recording_consent import (
    decline_recording,
    is_optout_key,
    with_consent,
)
from ari_app.services import SessionServices
from ari_app.transports.audiosocket import AudioSocketTransport
from ari_app.transports.audiosocket_server import AudioSocketServer
from callwright.call.guarded import run_guarded
from callwright.call.outcome import CallOutcome
from callwright.call.pipeline import CallPipeline
from callwright.dialog.actions import DialogEngine
from callwright.dialog.announcement import AnnouncementDialog
from callwright.errors import CallwrightError
from callwright.media.transport import FrameSink, MediaFormat
from callwright.observability.logs import bind_call_uid
from callwright.store.assistants import Assistant
from callwright.store.calls import Call
from callwright.store.numbers_audiosocket import AudioSocketNumbers

log = logging.getLogger(__name__)

#: How the AudioSocket transport words the end of a stream that is the caller hanging up: Asterisk
#: closes TCP (EOF or reset) when the caller hangs up; a hang-up frame would mean the same.
CALLER_GONE_PREFIXES = ("peer closed the connection", "connection lost", "peer sent a hang-up")
#: The longest an apology after a failed set-up may take before we hang up anyway.
APOLOGY_LIMIT_S = 15.0


def outcome_for_closed_stream(reason: str) -> CallOutcome:
    """The call's outcome when Asterisk's side of the AudioSocket ended for ``reason``."""
    if reason.startswith(CALLER_GONE_PREFIXES):
        return CallOutcome("completed", "caller_hangup")
    return CallOutcome("failed", f"media_closed: audiosocket: {reason}")


class _CallerLine:
    """The pipeline's view of the connection: the end of the stream is reported through
    ``on_gone`` (a caller hang-up, on this path) instead of the pipeline's own callback."""

    def __init__(self, transport: AudioSocketTransport, on_gone: Callable[[str], None]) -> None:
        self._transport = transport
        self._on_gone = on_gone
        self.format: MediaFormat = transport.format

    async def start(self, on_frame: FrameSink, on_closed: Callable[[str], None]) -> None:
        await self._transport.start(on_frame, self._on_gone)

    def send_frame(self, pcm: bytes) -> None:
        self._transport.send_frame(pcm)

    async def close(self) -> None:
        await self._transport.close()


class AudioSocketCallSession:
    """One call from the AudioSocket() dialplan application, on an already connected transport
    (closed by the server when :meth:`run` returns)."""

    def __init__(
        self, services: SessionServices, numbers: AudioSocketNumbers,
        transport: AudioSocketTransport,
    ) -> None:
        self._svc = services
        self._numbers = numbers
        self._transport = transport
        self._uuid = str(transport.call_uuid) if transport.call_uuid is not None else ""
        self.call: Call | None = None
        self._pipeline: CallPipeline | None = None
        self._recording: CallRecording | None = None
        self._assistant: Assistant | None = None
        self._events = CallEventWriter(services)
        self._we_closed = False
        #: The caller refusing the recording (the opt-out key or phrase): stop, delete, mark.
        self._declining: asyncio.Task[None] | None = None

    @property
    def _caller_gone(self) -> bool:
        return self._transport.ended_reason is not None

    async def run(self) -> None:
        await run_guarded(
            self._run,
            caller_gone=lambda: self._caller_gone,
            end_politely=self._end_politely,
            finish=self._finish,
            what=f"AudioSocket call {self._uuid}",
        )

    async def _run(self) -> CallOutcome:
        svc = self._svc
        found = await self._numbers.find_by_audiosocket_uuid(self._uuid)
        number, assistant = found if found is not None else (None, None)
        dialed = number.number if number is not None else self._uuid
        self.call = await svc.calls.create_call(
            org_id=number.org_id if number else None,
            assistant_id=assistant.id if assistant else None,
            number_id=number.id if number else None,
            dialed=dialed,
            caller_number="",  # AudioSocket() passes no caller ID
            caller_name="",
            channel_id=f"AudioSocket/{self._uuid}",
            direction="inbound",
        )
        bind_call_uid(self.call.uid)  # every later log line of this call carries its uid
        svc.live.started(self.call.uid, self.call.id, dialed, "")
        await svc.calls.add_event(self.call.id, "audiosocket_connected",
                                  {"uuid": self._uuid, "peer": self._transport.peer})
        if assistant is None:
            return await self._unknown_number()
        self._assistant = assistant
        await svc.calls.mark_answered(self.call.id)  # the dialplan ran Answer() before
        dialog = await svc.dialogs.for_assistant(
            assistant, on_llm_error=lambda error: self._events.llm_failed(self.call, error)
        )
        self._recording = await start_recording(
            svc, self.call, assistant, "", self._transport.format.sample_rate
        )
        if self._recording is not None:
            dialog = await with_consent(svc, assistant, dialog,
                                        lambda: self._decline_recording("said"))
        if self._caller_gone:
            return CallOutcome("abandoned", "caller_hangup")
        return await self._converse(assistant.language, assistant, dialog)

    def _on_key(self, digit: str) -> None:
        """A key from Asterisk: the opt-out key while recording is the session's (the recording
        stops and is deleted), any other the pipeline's."""
        if is_optout_key(self._svc, digit) and self._recording is not None:
            self._decline_recording(f"key {digit}")
        elif self._pipeline is not None:
            self._pipeline.on_dtmf(digit)

    def _decline_recording(self, how: str) -> None:
        recording = self._recording
        if recording is None or self.call is None:
            return
        self._recording = None
        recording.recorder.decline()
        self._declining = asyncio.get_running_loop().create_task(
            decline_recording(self._svc, self.call.id, recording.recorder, how))

    async def _unknown_number(self) -> CallOutcome:
        svc = self._svc
        action = svc.settings.calls.unknown_number_action
        assert self.call is not None
        await svc.calls.add_event(self.call.id, "unknown_number",
                                  {"audiosocket_uuid": self._uuid, "action": action})
        if action == "continue":
            self._we_closed = True
            await self._transport.close()  # AudioSocket() returns; the dialplan goes on
            return CallOutcome("rejected", "unknown_number: continued in dialplan")
        if action == "message" and not self._caller_gone:
            await self._converse("en", None, svc.dialogs.announcement(
                svc.settings.calls.unknown_number_message
            ))
        await self._hang_up()
        return CallOutcome("rejected", "unknown_number")

    async def _converse(
        self, language: str, assistant: Assistant | None, dialog: DialogEngine
    ) -> CallOutcome:
        svc = self._svc
        assert self.call is not None
        pipeline, ctx = await build_pipeline(
            svc, transport=_CallerLine(self._transport, self._stream_ended), call=self.call,
            caller_number="", language=language, assistant=assistant, dialog=dialog,
            recording=self._recording, transfer=self._no_transfer,
        )
        self._pipeline = pipeline
        self._transport.on_dtmf = self._on_key
        try:
            outcome = await pipeline.run()
        finally:
            self._transport.on_dtmf = None
        if ctx.slots:
            await svc.calls.set_slots(self.call.id, ctx.slots)
        await self._hang_up()
        return outcome

    def _stream_ended(self, reason: str) -> None:
        """Asterisk's side ended (the transport reports it once, after the pipeline started)."""
        if self._pipeline is not None:
            self._pipeline.end(outcome_for_closed_stream(self._transport.ended_reason or reason))

    async def _no_transfer(self, target: str) -> bool:
        """Transfers need ARI: say so on the timeline and let the flow's fallback run."""
        assert self.call is not None
        await self._svc.calls.add_event(
            self.call.id, "transfer_unavailable", {"target": target, "why": "transfer needs ARI"}
        )
        return False

    async def _hang_up(self) -> None:
        """End the call from our side (a hang-up frame), unless the caller is already gone."""
        if self._caller_gone or self._we_closed:
            return
        self._we_closed = True
        await self._transport.hang_up()

    async def _end_politely(self) -> None:
        """Set-up failed with the caller still on the line: apologise (in the assistant's
        language and voice when it is known), then hang up."""
        if self._pipeline is None and self.call is not None and not self._caller_gone:
            settings = self._svc.pipeline_settings(self._assistant)
            apology = AnnouncementDialog(settings.apology_text, reason="setup_failed")
            try:
                async with asyncio.timeout(APOLOGY_LIMIT_S):
                    await self._converse(settings.language, self._assistant, apology)
            except (CallwrightError, TimeoutError) as exc:
                log.warning("could not apologise to AudioSocket caller %s: %s", self._uuid, exc)
        await self._hang_up()

    async def _finish(self, outcome: CallOutcome) -> None:
        svc = self._svc
        call = self.call
        if call is None:
            log.error("AudioSocket call %s ended before its call row existed: %s",
                      self._uuid, outcome)
            return
        try:
            await self._events.flush()
            if self._declining is not None:
                await self._declining
            if self._recording is not None:
                await finish_recording(svc, call, self._recording)
            ended = self._transport.ended_reason
            if ended is not None and not self._we_closed:
                await svc.calls.add_event(call.id, "audiosocket_closed", {"reason": ended})
        finally:
            await close_call_row(svc, call, outcome)


class DialplanAudioSocket:
    """Serves the AudioSocket() dialplan application on the process's AudioSocket server.

    The server listens when ``media.transport = "audiosocket"`` (it is started for ExternalMedia),
    or when at least one number has an AudioSocket UUID: checked at start-up by :meth:`refresh`,
    which must be called again (or the service restarted) after the first number gets a UUID,
    since the admin and the CLI run in other processes. ``media.audiosocket_port`` always has a
    value (9092 by default), so it cannot say by itself whether anyone wants the listener.
    """

    def __init__(
        self, server: AudioSocketServer, services: SessionServices, numbers: AudioSocketNumbers
    ) -> None:
        self._server = server
        self._services = services
        self._numbers = numbers
        server.set_dialplan_handler(self.handle)

    async def handle(self, transport: AudioSocketTransport) -> None:
        await AudioSocketCallSession(self._services, self._numbers, transport).run()

    async def refresh(self) -> bool:
        """Start listening if some number has an AudioSocket UUID; True when listening.
        Raises MediaError if the port cannot be bound."""
        if not self._server.running and await self._numbers.any_configured():
            await self._server.start()
        return self._server.running
