"""One call handed to us by the dialplan's ``socket <host>:<port> async full`` (ESL outbound).

FreeSWITCH connects as soon as the dialplan reaches ``socket``, the channel still ringing. The
session sends ``connect`` (the reply is the channel's data: its uuid, the number dialled, the
caller), ``myevents`` (this channel's events) and ``linger`` (so its last events still come after
the hang-up), finds the number's assistant, opens the call row, answers, starts the call's media
(fs_app.media_mode: mod_audio_fork, or mod_audio_stream as the fallback), then runs the engine's
call pipeline on it (fs_app.call_conversation).

Barge-in stops the reply in the pipeline and drops what FreeSWITCH buffered (``killAudio``);
keys come as DTMF events; transfers are fs_app.call_transfer's; the channel, its hang-up and
what ends the call are fs_app.call_channel's. The socket is closed once FreeSWITCH says it is
done with the channel (the linger notice).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from callwright.call.guarded import run_guarded
from callwright.call.outcome import CallOutcome
from callwright.call.pipeline import CallPipeline
from callwright.call.resume import JournalledCall
from callwright.dialog.actions import DialogEngine
from callwright.dialog.announcement import AnnouncementDialog
from callwright.dialog.resume import ResumedDialog, recovery_line
from callwright.errors import CallwrightError
from callwright.media.transport import MediaTransport
from callwright.observability.logs import bind_call_uid
from callwright.outbound.screening import ScreeningTransport
from callwright.outbound.start import OutboundStart
from callwright.privacy.call_privacy import CallPrivacy, caller_privacy, objection_line
from callwright.store.assistants import Assistant
from callwright.store.calls import Call
from fs_app.call_channel import FsChannel
from fs_app.call_conversation import keep_slots, new_pipeline
from fs_app.call_recording import (
    FsRecording,
    decline,
    finish_recording,
    is_optout_key,
    open_recording,
    with_consent,
)
from fs_app.call_transfer import CallTransfers
from fs_app.esl import commands
from fs_app.esl.events import DisconnectNotice, EslEvent
from fs_app.esl.message import EslProtocolError
from fs_app.esl_socket import EslSocket
from fs_app.media_mode import FsMedia, new_media, on_module_event
from fs_app.outbound_handoff import Handoff
from fs_app.recovery import CALL_VAR, resumed_call
from fs_app.services import FsServices

log = logging.getLogger(__name__)

#: After our uuid_kill, how long we wait for FreeSWITCH's last word before closing the socket.
HANGUP_WAIT_S = 3.0
APOLOGY_LIMIT_S = 15.0


class FreeswitchCallSession:
    def __init__(self, svc: FsServices, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self._svc = svc
        self.esl = EslSocket(reader, writer, on_event=self._on_event, on_notice=self._on_notice,
                             on_closed=self._on_closed)
        self.channel = FsChannel(self.esl)
        self.call: Call | None = None
        self._assistant: Assistant | None = None
        self._pipeline: CallPipeline | None = None
        self._media: FsMedia | None = None
        self._privacy: CallPrivacy | None = None
        self._recording: FsRecording | None = None
        #: An outbound call of ours this socket brought (fs_app.outbound_call), or None.
        self._handoff: Handoff | None = None
        self.transfers = CallTransfers(svc, self.channel, call=lambda: self.call,
                                       media=lambda: self._media, note=self._note)
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def uuid(self) -> str:
        return self.channel.uuid

    @property
    def hangup_cause(self) -> str | None:
        return self.channel.hangup_cause

    @property
    def esl_error(self) -> str | None:
        """Why the ESL stream went bad (None: it did not)."""
        return self.channel.esl_error

    # -- the call --------------------------------------------------------------------------------
    async def run(self) -> None:
        self.esl.start()
        try:
            await run_guarded(
                self._run, caller_gone=self.channel.caller_gone.is_set,
                end_politely=self._end_politely, finish=self._finish,
                what=f"FreeSWITCH call {self.uuid or '(connecting)'}",
            )
        finally:
            await self._let_go()

    async def _run(self) -> CallOutcome:
        svc, channel = self._svc, self.channel
        connect = await self.esl.checked(commands.connect())
        data = connect.decoded()
        channel.uuid = data.get("Unique-ID", "")
        if not channel.uuid:
            raise EslProtocolError("the connect reply names no channel (no Unique-ID)")
        svc.held.add(channel.uuid)
        dialed = data.get("Caller-Destination-Number", "")
        caller_number = data.get("Caller-Caller-ID-Number", "")
        caller_name = data.get("Caller-Caller-ID-Name", "")
        await self.esl.checked(commands.myevents())
        await self.esl.checked(commands.linger())
        self._handoff = svc.outbound.take(channel.uuid) if svc.outbound is not None else None
        if self._handoff is not None:  # an answered outbound call we placed
            return await self._run_outbound(self._handoff.start)
        found = await svc.numbers.find_inbound(dialed)
        number, assistant = found if found is not None else (None, None)
        self._assistant = assistant
        privacy = await caller_privacy(svc.restrictions, number.org_id if number else None,
                                       caller_number, caller_name)
        self._privacy = privacy
        if data.get("Answer-State") == "answered":  # a caller sent back to us by recovery
            channel.answered.set()
        back = data.get(f"variable_{CALL_VAR}", "")
        resumed = await resumed_call(svc, back, channel.uuid) if back else None
        if resumed is not None and assistant is not None:
            return await self._resume(assistant, *resumed)
        self.call = await svc.calls.create_call(
            org_id=number.org_id if number else None,
            assistant_id=assistant.id if assistant else None,
            number_id=number.id if number else None, dialed=dialed,
            caller_number=privacy.stored_number, caller_name=privacy.stored_name,
            channel_id=f"freeswitch/{channel.uuid}", direction="inbound",
        )
        bind_call_uid(self.call.uid)
        await channel.mark_ours(svc.settings.node_id, self.call.uid)
        svc.live.started(self.call.uid, self.call.id, dialed, caller_number)
        await svc.calls.add_event(self.call.id, "freeswitch_socket", {
            "uuid": channel.uuid, "channel": data.get("Channel-Name", ""),
            "switch": data.get("FreeSWITCH-Switchname", ""), "core_uuid": data.get("Core-UUID", ""),
            "pbx": svc.settings.freeswitch.name,
        })
        if privacy.kinds:
            await svc.calls.add_event(self.call.id, "privacy_restriction",
                                      {"kinds": sorted(privacy.kinds)})
        if assistant is None:
            return await self._unknown_number(dialed)
        await channel.answer()
        await svc.calls.mark_answered(self.call.id)
        if channel.caller_gone.is_set():
            return CallOutcome("abandoned", "caller_hangup")
        self._call_media().starting.begin()  # the module connects while the dialog gets ready
        if privacy.objected:
            return await self._object(assistant)
        dialog = await svc.dialogs.for_assistant(assistant, on_llm_error=self._llm_failed)
        self._recording = await open_recording(svc, self.call, assistant, privacy,
                                               svc.settings.freeswitch.sample_rate)
        if self._recording is not None:
            dialog = await with_consent(svc, assistant, dialog, lambda: self._decline("said"))
        return await self._converse(assistant.language, assistant, dialog)

    async def _run_outbound(self, out: OutboundStart) -> CallOutcome:
        """An answered outbound call (fs_app.outbound_call): its row exists, the callee is on
        the line; screened for a machine when asked, then the assistant speaks first, recorded
        and restricted by the callee's restrictions as an inbound call is (as on Asterisk)."""
        svc, channel = self._svc, self.channel
        privacy = out.privacy or CallPrivacy(frozenset(), out.call.dialed, "")
        self.call, self._assistant, self._privacy = out.call, out.assistant, privacy
        channel.answered.set()
        bind_call_uid(out.call.uid)
        await channel.mark_ours(svc.settings.node_id, out.call.uid)
        svc.live.started(out.call.uid, out.call.id, out.call.dialed, out.call.dialed)
        await svc.calls.mark_answered(out.call.id)
        await self._note("freeswitch_socket", {"uuid": channel.uuid, "outbound": True,
                                               "pbx": svc.settings.freeswitch.name})
        if channel.caller_gone.is_set():
            return CallOutcome("completed", "callee_hangup")
        screening, machine = None, False
        if out.screen is not None:
            media = self._call_media()
            screening = ScreeningTransport(media.transport or await media.start())
            machine = await out.screen(screening)
            if machine and out.hang_up_on_machine:
                await channel.hang_up()
                return CallOutcome("completed", "machine")
        dialog = await out.dialog(self._llm_failed, machine)
        self._recording = await open_recording(svc, out.call, out.assistant, privacy,
                                               svc.settings.freeswitch.sample_rate)
        if self._recording is not None:
            dialog = await with_consent(svc, out.assistant, dialog, lambda: self._decline("said"))
        return await self._converse(out.assistant.language, out.assistant, dialog,
                                    transport=screening, slots=out.variables)

    async def _resume(self, assistant: Assistant, call: Call, journal: JournalledCall,
                      ) -> CallOutcome:
        """A caller recovery sent back to us (fs_app.recovery): the row goes on, the caller
        hears the "lost you" line and the conversation continues where the journal says."""
        svc = self._svc
        self.call = call
        bind_call_uid(call.uid)
        svc.live.started(call.uid, call.id, call.dialed, call.caller_number)
        await svc.calls.add_event(call.id, "resumed", {"uuid": self.uuid,
                                                       "turns": journal.last_seq})
        if not self.channel.answered.is_set():
            await self.channel.answer()
        inner = await svc.dialogs.for_assistant(assistant, on_llm_error=self._llm_failed)
        line = recovery_line(assistant.language, assistant.recovery_line)
        return await self._converse(assistant.language, assistant,
                                    ResumedDialog(inner, line, journal.point),
                                    last_seq=journal.last_seq)

    async def _object(self, assistant: Assistant) -> CallOutcome:
        """The caller objected to processing: they hear so, then go to ``[calls]
        fallback_target`` (hung up when there is none), as on Asterisk."""
        svc = self._svc
        assert self.call is not None
        await svc.calls.add_event(self.call.id, "caller_objected", {})
        dialog = AnnouncementDialog(objection_line(assistant.language), reason="caller_objection")
        outcome = await self._converse(assistant.language, assistant, dialog, hang_up=False)
        if self.channel.caller_gone.is_set():
            return outcome
        if await self.transfers.transfer_to(svc.settings.calls.fallback_target):
            return CallOutcome("transferred", "handed_back: caller_objection")
        await self.channel.hang_up()
        return outcome

    async def _unknown_number(self, dialed: str) -> CallOutcome:
        svc = self._svc
        action = svc.settings.calls.unknown_number_action
        assert self.call is not None
        await svc.calls.add_event(self.call.id, "unknown_number",
                                  {"dialed": dialed, "action": action})
        if action == "continue":
            target = svc.settings.calls.fallback_target
            if await self.transfers.transfer_to(target):
                return CallOutcome("rejected", "unknown_number: continued in dialplan")
        elif action == "message":
            await self.channel.answer()
            if not self.channel.caller_gone.is_set():
                await self._converse("en", None, svc.dialogs.announcement(
                    svc.settings.calls.unknown_number_message))
        await self.channel.hang_up()
        return CallOutcome("rejected", "unknown_number")

    async def _converse(self, language: str, assistant: Assistant | None,
                        dialog: DialogEngine, *, hang_up: bool = True, last_seq: int = 0,
                        transport: MediaTransport | None = None,
                        slots: Mapping[str, str] | None = None) -> CallOutcome:
        """``transport``: the media's own unless given (an outbound call's screening);
        ``slots``: the flow's first slots (an outbound call's variables)."""
        svc, channel, call = self._svc, self.channel, self.call
        assert call is not None
        media = self._call_media()
        transport = transport or media.transport or await media.start()
        pipeline, ctx = await new_pipeline(
            svc, call, media=media, transport=transport, language=language,
            assistant=assistant, dialog=dialog, privacy=self._privacy,
            recording=self._recording, transfer=self.transfers.transfer_to, last_seq=last_seq)
        ctx.slots.update(slots or {})
        self._pipeline = pipeline
        if channel.caller_gone.is_set():
            pipeline.end(channel.ended_outcome())
        outcome = await pipeline.run()
        await keep_slots(svc, call, ctx, self._privacy)
        if hang_up and not channel.transferred:
            await channel.hang_up()
        return outcome

    def _call_media(self) -> FsMedia:
        """The call's media (made once, started by whoever needs it first)."""
        if self._media is None:
            assert self.call is not None
            self._media = new_media(self._svc, self.esl, uuid=self.channel.uuid,
                                    call_uid=self.call.uid, call_is_up=self.channel.is_up,
                                    note=self._note)
        return self._media

    # -- FreeSWITCH's side -------------------------------------------------------------------------
    def _on_event(self, event: EslEvent) -> None:
        if event.uuid and self.uuid and event.uuid != self.uuid:
            return
        name = event.name
        if name == "CHANNEL_ANSWER":
            self.channel.answered.set()
        elif name == "DTMF" and self._pipeline is not None:
            digit = event.get("DTMF-Digit")
            if self._recording is not None and not self._recording.declined \
                    and is_optout_key(self._svc, digit):
                self._decline(f"key {digit}")  # the opt-out key is not the dialog's
            else:
                self._pipeline.on_dtmf(digit)
        elif name == "CHANNEL_HANGUP":
            self._end(self.channel.gone(event.get("Hangup-Cause", "NORMAL_CLEARING")))
        elif name == "CHANNEL_HANGUP_COMPLETE":
            self.channel.done_with.set()
        elif name == "CHANNEL_EXECUTE_COMPLETE" and event.get("Application") == "playback":
            if self._media is not None:
                self._media.playback_ended(event.get("Application-Data"))
        elif name == "CUSTOM":
            on_module_event(self._media, self.uuid, event)

    def _on_notice(self, notice: DisconnectNotice) -> None:
        self._end(self.channel.notice())

    def _on_closed(self, reason: str) -> None:
        self._end(self.channel.closed(reason))

    def _end(self, outcome: CallOutcome | None) -> None:
        if outcome is not None and self._pipeline is not None:
            self._pipeline.end(outcome)

    # -- our side ----------------------------------------------------------------------------------
    async def _end_politely(self) -> None:
        if self._pipeline is None and self.call is not None \
                and not self.channel.caller_gone.is_set():
            settings = self._svc.dialogs.pipeline_settings(self._assistant)
            apology = AnnouncementDialog(settings.apology_text, reason="setup_failed")
            try:
                async with asyncio.timeout(APOLOGY_LIMIT_S):
                    await self._converse(settings.language, self._assistant, apology)
            except (CallwrightError, TimeoutError) as exc:
                log.warning("could not apologise to FreeSWITCH caller %s: %s", self.uuid, exc)
        await self.channel.hang_up()

    async def _finish(self, outcome: CallOutcome) -> None:
        svc, call = self._svc, self.call
        if call is None:
            log.error("FreeSWITCH call %s ended before its call row existed: %s", self.uuid,
                      outcome)
            return
        try:
            if self._recording is not None:
                await finish_recording(svc, call, self._recording)
            if self.hangup_cause is not None:
                await svc.calls.add_event(call.id, "hangup", {"cause": self.hangup_cause})
            if self._media is not None:
                await svc.calls.add_event(call.id, "freeswitch_media", self._media.figures())
        finally:
            await svc.calls.close_call(call.id, outcome.status, outcome.reason)
            svc.live.ended(call.id, outcome.status, outcome.reason)
            log.info("call %s ended: %s (%s)", call.uid, outcome.status, outcome.reason)
            if self._handoff is not None:  # its outbound row ends now
                self._handoff.ended(outcome)

    async def _let_go(self) -> None:
        """After the call: wait for FreeSWITCH's last events (bounded), close the socket."""
        channel = self.channel
        self._svc.held.discard(channel.uuid)
        if self._media is not None:
            await self._media.close()
        if self.esl.open and (channel.we_hung_up or channel.caller_gone.is_set()):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(channel.done_with.wait(), HANGUP_WAIT_S)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.esl.close()

    def _decline(self, how: str) -> None:
        """The caller refused the recording (the opt-out key, or said so)."""
        if self._recording is not None and self.call is not None:
            decline(self._svc, self.call, self._recording, how)

    async def _note(self, kind: str, detail: dict[str, Any]) -> None:
        if self.call is not None:
            await self._svc.calls.add_event(self.call.id, kind, detail)

    def _llm_failed(self, error: Exception) -> None:
        if self.call is not None:
            detail = {"error": type(error).__name__, "message": str(error)[:500]}
            self._spawn(self._svc.calls.add_event(self.call.id, "llm_error", detail))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
