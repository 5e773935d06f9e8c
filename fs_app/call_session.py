"""One call handed to us by the dialplan's ``socket <host>:<port> async full`` (ESL outbound).

FreeSWITCH connects as soon as the dialplan reaches ``socket``, the channel still ringing. The
session sends ``connect`` (the reply is the channel's data: its uuid, the number dialled, the
caller), ``myevents`` (this channel's events) and ``linger`` (so its last events still come after
the hang-up), finds the number's assistant, opens the call row, answers, starts
``playback silence_stream://-1`` (mod_audio_fork's audio back is only heard while the channel
writes frames; killAudio's CF_BREAK ends that playback, so it is started again each time it ends)
and the fork towards our WebSocket server, then runs the engine's call pipeline on the fork.

Barge-in stops the reply in the pipeline and sends ``killAudio`` (what FreeSWITCH buffered is
dropped); keys come as DTMF events; transfers are ``uuid_transfer``; we hang up with ``uuid_kill``
(a queued ``sendmsg`` hangup would wait for ever behind the silence playback, as observed) and
close the socket once FreeSWITCH says it is done with the channel (the linger notice).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from pathlib import Path
from typing import Any

from ari_app.call_privacy import CallPrivacy, PrivateTurnStore, objection_line
from ari_app.call_setup import run_guarded
from callwright.call.outcome import CallOutcome
from callwright.call.pipeline import CallPipeline
from callwright.call.resume import JournalledCall
from callwright.dialog.actions import CallContext, DialogEngine
from callwright.dialog.announcement import AnnouncementDialog
from callwright.dialog.resume import ResumedDialog, recovery_line
from callwright.errors import CallwrightError, MediaError
from callwright.observability.logs import bind_call_uid
from callwright.store.assistants import Assistant
from callwright.store.calls import Call
from fs_app.bridged_transfer import bridge, endpoint_of, kill_quietly, ring
from fs_app.call_media import CallMedia, KillAudioJournal
from fs_app.call_privacy import caller_privacy
from fs_app.call_recording import (
    FsRecording,
    decline,
    finish_recording,
    is_optout_key,
    open_recording,
    with_consent,
)
from fs_app.esl import commands
from fs_app.esl.events import DisconnectNotice, EslEvent
from fs_app.esl.message import EslProtocolError
from fs_app.esl_socket import EslSocket
from fs_app.hangup_causes import outcome_for_cause
from fs_app.recovery import CALL_VAR, NODE_VAR, resumed_call, transfer_line
from fs_app.services import FsServices
from fs_app.stream_media import StreamMedia

log = logging.getLogger(__name__)

#: How long the answer may take before the call is given up.
ANSWER_TIMEOUT_S = 5.0
#: After our uuid_kill, how long we wait for FreeSWITCH's last word before closing the socket.
HANGUP_WAIT_S = 3.0
APOLOGY_LIMIT_S = 15.0


class FreeswitchCallSession:
    def __init__(self, svc: FsServices, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self._svc = svc
        self.esl = EslSocket(reader, writer, on_event=self._on_event, on_notice=self._on_notice,
                             on_closed=self._on_closed)
        self.uuid = ""
        self.call: Call | None = None
        self._assistant: Assistant | None = None
        self._pipeline: CallPipeline | None = None
        self._media: CallMedia | StreamMedia | None = None
        self._privacy: CallPrivacy | None = None
        self._recording: FsRecording | None = None
        self.hangup_cause: str | None = None
        self._caller_gone = asyncio.Event()
        self._answered = asyncio.Event()
        self._done_with_channel = asyncio.Event()  # HANGUP_COMPLETE or a notice
        self._we_hung_up = False
        self._transferred = False
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Why the ESL stream went bad (None: it did not).
        self.esl_error: str | None = None

    # -- the call --------------------------------------------------------------------------------
    async def run(self) -> None:
        self.esl.start()
        try:
            await run_guarded(
                self._run, caller_gone=self._caller_gone.is_set,
                end_politely=self._end_politely, finish=self._finish,
                what=f"FreeSWITCH call {self.uuid or '(connecting)'}",
            )
        finally:
            await self._let_go()

    async def _run(self) -> CallOutcome:
        svc = self._svc
        connect = await self.esl.checked(commands.connect())
        data = connect.decoded()
        self.uuid = data.get("Unique-ID", "")
        if not self.uuid:
            raise EslProtocolError("the connect reply names no channel (no Unique-ID)")
        svc.held.add(self.uuid)
        dialed = data.get("Caller-Destination-Number", "")
        caller_number = data.get("Caller-Caller-ID-Number", "")
        caller_name = data.get("Caller-Caller-ID-Name", "")
        await self.esl.checked(commands.myevents())
        await self.esl.checked(commands.linger())
        found = await svc.numbers.find_inbound(dialed)
        number, assistant = found if found is not None else (None, None)
        self._assistant = assistant
        privacy = await caller_privacy(svc.restrictions, number.org_id if number else None,
                                       caller_number, caller_name)
        self._privacy = privacy
        if data.get("Answer-State") == "answered":  # a caller sent back to us by recovery
            self._answered.set()
        back = data.get(f"variable_{CALL_VAR}", "")
        resumed = await resumed_call(svc, back, self.uuid) if back else None
        if resumed is not None and assistant is not None:
            return await self._resume(assistant, *resumed)
        self.call = await svc.calls.create_call(
            org_id=number.org_id if number else None,
            assistant_id=assistant.id if assistant else None,
            number_id=number.id if number else None, dialed=dialed,
            caller_number=privacy.stored_number, caller_name=privacy.stored_name,
            channel_id=f"freeswitch/{self.uuid}", direction="inbound",
        )
        bind_call_uid(self.call.uid)
        await self._mark_ours()
        svc.live.started(self.call.uid, self.call.id, dialed, caller_number)
        await svc.calls.add_event(self.call.id, "freeswitch_socket", {
            "uuid": self.uuid, "channel": data.get("Channel-Name", ""),
            "switch": data.get("FreeSWITCH-Switchname", ""), "core_uuid": data.get("Core-UUID", ""),
            "pbx": svc.settings.freeswitch.name,
        })
        if privacy.kinds:
            await svc.calls.add_event(self.call.id, "privacy_restriction",
                                      {"kinds": sorted(privacy.kinds)})
        if assistant is None:
            return await self._unknown_number(dialed)
        await self._answer()
        await svc.calls.mark_answered(self.call.id)
        if self._caller_gone.is_set():
            return CallOutcome("abandoned", "caller_hangup")
        if privacy.objected:
            return await self._object(assistant)
        dialog = await svc.dialogs.for_assistant(assistant, on_llm_error=self._llm_failed)
        self._recording = await open_recording(svc, self.call, assistant, privacy,
                                               svc.settings.freeswitch.sample_rate)
        if self._recording is not None:
            dialog = await with_consent(svc, assistant, dialog, lambda: self._decline("said"))
        return await self._converse(assistant.language, assistant, dialog)

    async def _mark_ours(self) -> None:
        """The channel variables recovery finds our calls by (fs_app.recovery)."""
        assert self.call is not None
        for name, value in ((NODE_VAR, self._svc.settings.node_id), (CALL_VAR, self.call.uid)):
            reply = await self.esl.api(f"uuid_setvar {self.uuid} {name} {value}")
            if not reply.startswith("+OK"):
                log.warning("call %s: uuid_setvar %s answered %s", self.uuid, name, reply.strip())

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
        if not self._answered.is_set():
            await self._answer()
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
        if self._caller_gone.is_set():
            return outcome
        if await self._transfer_to(svc.settings.calls.fallback_target):
            return CallOutcome("transferred", "handed_back: caller_objection")
        await self._hang_up()
        return outcome

    async def _unknown_number(self, dialed: str) -> CallOutcome:
        svc = self._svc
        action = svc.settings.calls.unknown_number_action
        assert self.call is not None
        await svc.calls.add_event(self.call.id, "unknown_number",
                                  {"dialed": dialed, "action": action})
        if action == "continue":
            target = svc.settings.calls.fallback_target
            if await self._transfer_to(target):
                return CallOutcome("rejected", "unknown_number: continued in dialplan")
        elif action == "message":
            await self._answer()
            if not self._caller_gone.is_set():
                await self._converse("en", None, svc.dialogs.announcement(
                    svc.settings.calls.unknown_number_message))
        await self._hang_up()
        return CallOutcome("rejected", "unknown_number")

    async def _answer(self) -> None:
        await self.esl.checked(commands.execute("answer"))
        waiter = asyncio.get_running_loop().create_task(self._answered.wait())
        gone = asyncio.get_running_loop().create_task(self._caller_gone.wait())
        try:
            await asyncio.wait({waiter, gone}, timeout=ANSWER_TIMEOUT_S,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            gone.cancel()
        if not self._answered.is_set() and not self._caller_gone.is_set():
            raise MediaError(f"FreeSWITCH did not answer {self.uuid} in {ANSWER_TIMEOUT_S:.0f} s")

    def _new_media(self) -> CallMedia | StreamMedia:
        """The call's media through the module ``[freeswitch] media`` names."""
        svc = self._svc
        assert self.call is not None
        fs = svc.settings.freeswitch
        if fs.media == "audio_stream":
            return StreamMedia(self.esl, svc.forks, uuid=self.uuid, call_uid=self.call.uid,
                               rate=fs.sample_rate, note=self._note,
                               directory=Path(fs.stream_files_dir or tempfile.gettempdir()))
        return CallMedia(self.esl, svc.forks, uuid=self.uuid, call_uid=self.call.uid,
                         rate=fs.sample_rate, call_is_up=self._call_is_up, note=self._note)

    async def _converse(self, language: str, assistant: Assistant | None,
                        dialog: DialogEngine, *, hang_up: bool = True,
                        last_seq: int = 0) -> CallOutcome:
        svc = self._svc
        assert self.call is not None
        media = self._media or self._new_media()
        self._media = media
        transport = media.transport or await media.start()
        privacy = self._privacy
        store = svc.calls if privacy is None or not privacy.kinds \
            else PrivateTurnStore(svc.calls, privacy)
        settings = svc.dialogs.pipeline_settings(assistant)
        fallback = await svc.speech.tts_for({"engine": "espeak-ng",
                                             "voice": settings.fallback_voice})
        ctx = CallContext(call_uid=self.call.uid, caller_number=self.call.caller_number,
                          dialed=self.call.dialed, language=language)
        pipeline = CallPipeline(
            transport=transport,
            stt=await svc.speech.stt_for(assistant.stt if assistant is not None else None),
            tts=await svc.speech.tts_for(assistant.tts if assistant is not None else None),
            fallback_tts=fallback, dialog=dialog, ctx=ctx,
            journal=KillAudioJournal(store, self.call.id, observer=svc.live.on_turn,
                                     queue=svc.writes, on_barge_in=media.kill_audio,
                                     last_seq=last_seq),
            clock=svc.clock, settings=settings, transfer=self._transfer_to,
            recorder=self._recording.recorder if self._recording is not None else None,
            ringback_region=svc.settings.calls.ringback_region,
        )
        self._pipeline = pipeline
        if self._caller_gone.is_set():
            pipeline.end(outcome_for_cause(self.hangup_cause or "NORMAL_CLEARING"))
        outcome = await pipeline.run()
        if ctx.slots and (privacy is None or privacy.store):
            await svc.calls.set_slots(self.call.id, ctx.slots)
        if hang_up and not self._transferred:
            await self._hang_up()
        return outcome

    # -- FreeSWITCH's side -------------------------------------------------------------------------
    def _on_event(self, event: EslEvent) -> None:
        if event.uuid and self.uuid and event.uuid != self.uuid:
            return
        name = event.name
        if name == "CHANNEL_ANSWER":
            self._answered.set()
        elif name == "DTMF" and self._pipeline is not None:
            digit = event.get("DTMF-Digit")
            if self._recording is not None and not self._recording.declined \
                    and is_optout_key(self._svc, digit):
                self._decline(f"key {digit}")  # the opt-out key is not the dialog's
            else:
                self._pipeline.on_dtmf(digit)
        elif name == "CHANNEL_HANGUP":
            self._gone(event.get("Hangup-Cause", "NORMAL_CLEARING"))
        elif name == "CHANNEL_HANGUP_COMPLETE":
            self._done_with_channel.set()
        elif name == "CHANNEL_EXECUTE_COMPLETE" and event.get("Application") == "playback":
            if self._media is not None:
                self._media.playback_ended(event.get("Application-Data"))
        elif name == "CUSTOM" and event.subclass == "mod_audio_stream::error":
            log.error("call %s: mod_audio_stream could not connect: %s", self.uuid, event.body)
            if isinstance(self._media, StreamMedia):
                self._media.stream_failed(event.body)
        elif name == "CUSTOM" and event.subclass == "mod_audio_fork::connect_failed":
            log.error("call %s: mod_audio_fork could not connect: %s", self.uuid, event.body)

    def _on_notice(self, notice: DisconnectNotice) -> None:
        self._done_with_channel.set()
        if not self._caller_gone.is_set():
            self._gone(self.hangup_cause or "NORMAL_CLEARING")

    def _on_closed(self, reason: str) -> None:
        self._done_with_channel.set()
        if self._caller_gone.is_set() or self._transferred or self._we_hung_up:
            return
        # Not the caller leaving (that comes as CHANNEL_HANGUP first): the stream went bad or
        # the switch went away. The call fails with why; without its socket FreeSWITCH hangs
        # the channel up (as observed when the app closes TCP).
        log.warning("call %s: the ESL socket ended: %s", self.uuid, reason)
        self.esl_error = reason
        if self._pipeline is not None:
            self._pipeline.end(CallOutcome("failed", f"pbx_connection: {reason}"))

    def _gone(self, cause: str) -> None:
        if self._caller_gone.is_set():
            return
        self.hangup_cause = cause
        self._caller_gone.set()
        if self._pipeline is not None and not self._we_hung_up and not self._transferred:
            self._pipeline.end(outcome_for_cause(cause))

    # -- our side ----------------------------------------------------------------------------------
    async def _transfer_to(self, target: str) -> bool:
        """A blind transfer: ``uuid_transfer <uuid> <extension> XML <context>``. ``target`` is
        ``context,extension[,priority]``, ``extension@context`` or an extension (in the
        channel's context). True when FreeSWITCH took it. An endpoint (``Tech/resource``) is a
        bridged transfer (fs_app.bridged_transfer)."""
        endpoint = endpoint_of(target)
        if endpoint is not None:
            return await self._bridge_to(endpoint, target)
        line = transfer_line(self.uuid, target)
        if line is None:
            log.error("call %s: transfer target %r unusable on FreeSWITCH", self.uuid, target)
            return False
        if self._media is not None:
            await self._media.stop_fork()
        self._transferred = True
        try:  # the caller will not be ours any more: recovery must leave them alone
            await self.esl.api(f"uuid_setvar {self.uuid} {NODE_VAR}")
            reply = await self.esl.api(line)
        except EslProtocolError as exc:
            reply = f"-ERR {exc}"
        if reply.startswith("+OK"):
            if self.call is not None:
                await self._svc.calls.add_event(self.call.id, "transferred",
                                                {"target": target, "how": "uuid_transfer"})
            return True
        self._transferred = False
        log.warning("call %s: uuid_transfer refused: %s", self.uuid, reply.strip())
        if self.call is not None and self.esl.open:
            await self._mark_ours()
        return False

    async def _bridge_to(self, endpoint: str, target: str) -> bool:
        """Ring ``endpoint``; bridged once it answers (True), else the caller stays (False)."""
        svc, esl, call = self._svc, self._svc.esl, self.call
        assert call is not None
        if esl is None or not esl.connected:
            await self._note("bridge_failed", {"target": target, "why": "no inbound ESL"})
            return False
        rang = await ring(esl, endpoint, ring_s=svc.settings.calls.transfer_ring_s,
                          call_uid=call.uid, caller_number=call.caller_number)
        if not rang.failure and not self._call_is_up():  # the caller left while it rang
            await kill_quietly(esl, rang.target_uuid)
            return False
        if rang.failure:
            await self._note("bridge_failed", {"target": target, "why": rang.failure})
            return False
        self._transferred = True  # bridged, the caller leaves our socket
        done = await bridge(esl, self.uuid, rang.target_uuid)
        if not done.bridged:
            self._transferred = False
            await self._note("bridge_failed", {"target": target, "why": done.failure})
            return False
        if self._media is not None:
            await self._media.stop_fork()
        await self._note("transferred", {"target": target, "how": "uuid_bridge",
                                         "target_uuid": done.target_uuid})
        return True

    async def _hang_up(self) -> None:
        """End the call from our side: ``uuid_kill`` (not a queued sendmsg hangup)."""
        if self._caller_gone.is_set() or self._we_hung_up or not self.esl.open:
            return
        self._we_hung_up = True
        try:
            reply = await self.esl.api(f"uuid_kill {self.uuid}")
        except EslProtocolError as exc:
            log.warning("call %s: uuid_kill failed: %s", self.uuid, exc)
            return
        if not reply.startswith("+OK"):
            log.warning("call %s: uuid_kill answered %s", self.uuid, reply.strip())

    async def _end_politely(self) -> None:
        if self._pipeline is None and self.call is not None and not self._caller_gone.is_set():
            settings = self._svc.dialogs.pipeline_settings(self._assistant)
            apology = AnnouncementDialog(settings.apology_text, reason="setup_failed")
            try:
                async with asyncio.timeout(APOLOGY_LIMIT_S):
                    await self._converse(settings.language, self._assistant, apology)
            except (CallwrightError, TimeoutError) as exc:
                log.warning("could not apologise to FreeSWITCH caller %s: %s", self.uuid, exc)
        await self._hang_up()

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

    async def _let_go(self) -> None:
        """After the call: wait for FreeSWITCH's last events (bounded), close the socket."""
        self._svc.held.discard(self.uuid)
        if self._media is not None:
            await self._media.close()
        if self.esl.open and (self._we_hung_up or self._caller_gone.is_set()):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._done_with_channel.wait(), HANGUP_WAIT_S)
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

    def _call_is_up(self) -> bool:
        return not (self._caller_gone.is_set() or self._we_hung_up or self._transferred)

    def _llm_failed(self, error: Exception) -> None:
        if self.call is not None:
            detail = {"error": type(error).__name__, "message": str(error)[:500]}
            self._spawn(self._svc.calls.add_event(self.call.id, "llm_error", detail))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
