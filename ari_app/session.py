"""``CallSession``: the life of one caller channel in our Stasis application (DESIGN §2).

StasisStart → call row → number/assistant lookup → answer → mixing bridge → ExternalMedia channel
(waiting for its own StasisStart before adding it, as Asterisk answers 422 before) → pipeline →
hang-up or transfer → clean-up (media channel and bridge deleted: Asterisk does not do it) → the
call row closed with status, end time, duration and reason. Whatever fails, the row is closed.

A session may also start from a caller found in our app after a restart (``recovering``: the call
row is continued and the call resumed, handed back or ended per the assistant, see
:mod:`ari_app.recovery`), and the service may hand its caller back to the dialplan at any time
(:meth:`CallSession.hand_back`: drain and stop). Bridges are ``cw-bridge-…``, media channels
``cw-media-…``, so that what we own in Asterisk is recognisable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from pathlib import Path

from ari_app.ari.events import (
    AriEvent,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelHangupRequest,
    StasisEnd,
    StasisStart,
)
from ari_app.ari.models import Channel
from ari_app.call_setup import (
    CallEventWriter,
    CallRecording,
    build_pipeline,
    close_call_row,
    finish_recording,
    start_recording,
)
from ari_app.media_leg import MediaLeg
from ari_app.reconcile import BRIDGE_ID_PREFIX, MEDIA_ID_PREFIX
from ari_app.recording_consent import (
    decline_prior_recording,
    decline_recording,
    is_optout_key,
    with_consent,
)
from ari_app.recovery import (
    HandBack,
    dialplan_target,
    hand_back_caller,
    handback_line,
    prepare_recovery,
    recovered_dialog,
)
from ari_app.services import SessionServices
from ari_app.transfer import BridgedTransfer, DialplanTarget, parse_target
from callwright.call.guarded import run_guarded
from callwright.call.outcome import CallOutcome
from callwright.call.pipeline import CallPipeline
from callwright.dialog.actions import DialogEngine
from callwright.dialog.announcement import AnnouncementDialog
from callwright.errors import AriError, CallwrightError, LlmError
from callwright.media.transport import MediaTransport
from callwright.observability.logs import bind_call_uid
from callwright.outbound.screening import ScreeningTransport
from callwright.outbound.start import OutboundStart
from callwright.privacy.call_privacy import CallPrivacy, caller_privacy, objection_line
from callwright.store.assistants import Assistant
from callwright.store.calls import Call

log = logging.getLogger(__name__)


class CallSession:
    def __init__(
        self, services: SessionServices, start: StasisStart, *, recovering: bool = False,
        outbound: OutboundStart | None = None,
    ) -> None:
        self._svc = services
        self._start = start
        self.channel: Channel = start.channel
        self.media_channel_id = f"{MEDIA_ID_PREFIX}{uuid.uuid4().hex[:16]}"
        #: A caller found in our app with no session (ari_app.recovery), not a new StasisStart.
        self._recovering = recovering
        #: An outbound call the callee answered (ari_app.outbound_call), not an inbound one.
        self._outbound = outbound
        #: The transport the pipeline uses instead of the leg's (an outbound call's screening).
        self._pipeline_transport: MediaTransport | None = None
        #: Set when the service hands the caller back to the dialplan (drain, stop).
        self._handback: HandBack | None = None
        self.bridge_id: str | None = None
        self.call: Call | None = None
        self._leg: MediaLeg | None = None
        self._pipeline: CallPipeline | None = None
        self._recording: CallRecording | None = None
        self._media_ready: asyncio.Future[Channel] = asyncio.get_running_loop().create_future()
        self._caller_gone = asyncio.Event()
        self._hangup_cause: int | None = None
        self._we_hung_up = False
        self._xfer: BridgedTransfer | None = None
        self._events = CallEventWriter(services)
        self._assistant: Assistant | None = None
        self._bridged: BridgedTransfer | None = None
        #: The caller's restrictions (callwright.privacy.call_privacy), looked up before the row.
        self._privacy: CallPrivacy | None = None
        #: The caller refusing the recording (the opt-out key): stop, delete, mark the row.
        self._declining: asyncio.Task[None] | None = None
        #: A resumed call's recording from before the restart, the caller may still refuse.
        self._prior_recording: Path | None = None

    # -- events routed here by the application ---------------------------------------------------

    def handle(self, event: AriEvent) -> None:
        channel = getattr(event, "channel", None)
        channel_id = channel.id if isinstance(channel, Channel) else None
        if channel_id == self.media_channel_id:
            self._media_event(event)
            return
        if self._xfer is not None and channel_id == self._xfer.channel_id:
            self._xfer.handle(event)
            return
        if isinstance(event, ChannelHangupRequest):
            self._hangup_cause = event.cause
            self._caller_left("caller_hangup")
        elif isinstance(event, StasisEnd):
            self._caller_left("caller_hangup" if not self._we_hung_up else "assistant_hangup")
        elif isinstance(event, ChannelDtmfReceived) and self._pipeline is not None:
            if not self._opted_out(event.digit):
                self._pipeline.on_dtmf(event.digit)

    def _opted_out(self, digit: str) -> bool:
        """The opt-out key ([recordings] optout_digit) while recording: the recording stops now
        and is deleted (:func:`decline_recording`); the key is not the dialog's."""
        if not is_optout_key(self._svc, digit) or (
                self._recording is None and self._prior_recording is None):
            return False
        self._decline_recording(f"key {digit}")
        return True

    def _decline_recording(self, how: str) -> None:
        """The caller refused the recording (a key, or said so: ConsentDialog)."""
        recording = self._recording
        if self.call is None:
            return
        if recording is None:
            prior, self._prior_recording = self._prior_recording, None
            if prior is not None:
                self._declining = asyncio.get_running_loop().create_task(
                    decline_prior_recording(self._svc, self.call.id, prior, how))
            return
        self._recording = None
        recording.recorder.decline()
        self._declining = asyncio.get_running_loop().create_task(
            decline_recording(self._svc, self.call.id, recording.recorder, how))

    def _media_event(self, event: AriEvent) -> None:
        if isinstance(event, StasisStart) and not self._media_ready.done():
            self._media_ready.set_result(event.channel)
        elif isinstance(event, StasisEnd | ChannelDestroyed) and self._pipeline is not None:
            self._pipeline.end(CallOutcome("failed", "media channel destroyed"))

    def _caller_left(self, reason: str) -> None:
        if self._caller_gone.is_set():
            return
        self._caller_gone.set()
        if self._pipeline is not None and not self._we_hung_up:
            self._pipeline.end(CallOutcome("completed", reason))

    def _llm_failed(self, error: LlmError) -> None:
        """The LLM failed during the call (the engine already spoke its fallback): record it."""
        self._events.llm_failed(self.call, error)

    def caller_vanished(self) -> None:
        """Reconciliation after an ARI outage found the channel gone."""
        self._caller_left("caller_gone_during_ari_outage")

    # -- the call --------------------------------------------------------------------------------

    async def run(self) -> None:
        await run_guarded(
            self._run,
            caller_gone=self._caller_gone.is_set,
            end_politely=self._hangup_caller,
            finish=self._cleanup,
            what=f"call on channel {self.channel.id}",
        )

    @property
    def with_person(self) -> bool:
        """The caller talks to a transfer target: not ours to hand back."""
        return self._bridged is not None

    def hand_back(self, handback: HandBack) -> None:
        """The service drains or stops: the caller goes back to the dialplan, after a short line
        when ``handback.announce``. One talking to a transfer target is left with them."""
        if self._handback is not None or self._caller_gone.is_set():
            return
        self._handback = handback
        if self._bridged is not None or self._pipeline is None:
            return  # bridged: stays; in set-up: _converse sees the flag; cleanup continues it
        line = None
        if handback.announce:
            language = self._assistant.language if self._assistant is not None else "en"
            line = handback_line(language, self._svc.settings.calls.handback_line)
        self._pipeline.finish(CallOutcome("transferred", f"handed_back: {handback.reason}"), line)

    async def _run(self) -> CallOutcome:
        if self._recovering:
            return await self._recover()
        if self._outbound is not None:
            return await self._run_outbound(self._outbound)
        svc = self._svc
        dialed = self._start.args[0] if self._start.args else (
            self.channel.dialplan.exten if self.channel.dialplan else ""
        )
        found = await svc.numbers.find_inbound(dialed)
        number, assistant = found if found is not None else (None, None)
        self._assistant = assistant
        privacy = await caller_privacy(
            svc.restrictions, number.org_id if number else None, self.channel.caller.number,
            self.channel.caller.name,
        )
        self._privacy = privacy
        self.call = await svc.calls.start_call(  # a locked store does not hold it up
            org_id=number.org_id if number else None,
            assistant_id=assistant.id if assistant else None,
            number_id=number.id if number else None,
            dialed=dialed,
            caller_number=privacy.stored_number,
            caller_name=privacy.stored_name,
            channel_id=self.channel.id,
            direction="inbound",
        )
        bind_call_uid(self.call.uid)  # every later log line of this call carries its uid
        svc.live.started(self.call.uid, self.call.id, dialed, self.channel.caller.number)
        # Set-up writes queue behind the row and are not waited for: a locked store must not
        # hold up the greeting (the row itself waits at most ROW_WAIT_S, see queued_calls).
        self._events.later(svc.calls.add_event(self.call.id, "stasis_start",
                                               {"args": list(self._start.args)}))
        if privacy.kinds:
            self._events.later(svc.calls.add_event(self.call.id, "privacy_restriction",
                                                   {"kinds": sorted(privacy.kinds)}))
        if assistant is None:
            return await self._unknown_number(dialed)
        await svc.rest.answer(self.channel.id)
        self._events.later(svc.calls.mark_answered(self.call.id))
        await self._connect_media()
        if self._caller_gone.is_set():
            return CallOutcome("abandoned", "caller_hangup")
        if privacy.objected:
            return await self._object(assistant)
        dialog = await svc.dialogs.for_assistant(assistant, on_llm_error=self._llm_failed)
        dialog = await self._recorded(assistant, dialog, self.channel.caller.number, privacy)
        return await self._converse(assistant.language, assistant, dialog)

    async def _recorded(
        self, assistant: Assistant, dialog: DialogEngine, caller_number: str,
        privacy: CallPrivacy | None,
    ) -> DialogEngine:
        """Start the call's recording when the assistant records and ``privacy`` allows it; the
        dialog then opens with the consent notice and hears the decline phrases."""
        assert self.call is not None and self._leg is not None
        self._recording = await start_recording(
            self._svc, self.call, assistant, caller_number,
            self._leg.transport.format.sample_rate, privacy,
        )
        if self._recording is None:
            return dialog
        return await with_consent(self._svc, assistant, dialog,
                                  lambda: self._decline_recording("said"))

    async def _object(self, assistant: Assistant) -> CallOutcome:
        """The caller objected to processing: they hear so, unrecorded, and go back to the
        dialplan's fallback (the hand-back a draining service uses)."""
        svc = self._svc
        assert self.call is not None
        await svc.calls.add_event(self.call.id, "caller_objected", {})
        target = dialplan_target(svc.settings.calls.fallback_target)
        dialog = AnnouncementDialog(objection_line(assistant.language), reason="caller_objection")
        return await self._converse(
            assistant.language, assistant, dialog,
            then=HandBack("caller_objection", target, announce=False),
        )

    async def _recover(self) -> CallOutcome:
        """A caller found after a restart or a reconnect: its row continued, then per the
        assistant's ``on_recovery`` (ari_app.recovery)."""
        svc = self._svc
        rec = await prepare_recovery(
            svc, self.channel, self._start.args, draining=self._handback is not None
        )
        self.call, self._assistant, self._privacy = rec.call, rec.assistant, rec.privacy
        bind_call_uid(rec.call.uid)
        svc.live.started(rec.call.uid, rec.call.id, rec.call.dialed, self.channel.caller.number)
        if rec.action == "dialplan" or rec.assistant is None:
            self._handback = self._handback or HandBack("recovered", rec.target, announce=False)
            return CallOutcome("transferred", f"handed_back: {self._handback.reason}")
        await self._connect_media()
        if self._caller_gone.is_set():
            return CallOutcome("abandoned", "caller_hangup")
        if rec.privacy.objected:
            return await self._object(rec.assistant)
        dialog = await recovered_dialog(svc, rec, on_llm_error=self._llm_failed)
        if rec.prior_recording is not None:  # the caller may still refuse what was recorded
            self._prior_recording = rec.prior_recording
            dialog = await with_consent(svc, rec.assistant, dialog,
                                        lambda: self._decline_recording("said"), notice=False)
        return await self._converse(
            rec.assistant.language, rec.assistant, dialog, last_seq=rec.journal.last_seq
        )

    async def _run_outbound(self, out: OutboundStart) -> CallOutcome:
        """An answered outbound call: its row exists and the channel is Up; the assistant
        speaks first, with the call's variables as the first slots (see _converse), recorded
        and restricted (the callee's restrictions) as an inbound call."""
        svc = self._svc
        self.call, self._assistant, self._privacy = out.call, out.assistant, out.privacy
        bind_call_uid(out.call.uid)
        svc.live.started(out.call.uid, out.call.id, out.call.dialed, out.call.dialed)
        await svc.calls.mark_answered(out.call.id)
        await self._connect_media()
        if self._caller_gone.is_set():
            return CallOutcome("completed", "callee_hangup")
        machine = False
        if out.screen is not None and self._leg is not None:
            screening = ScreeningTransport(self._leg.transport)
            self._pipeline_transport = screening
            machine = await out.screen(screening)
            if machine and out.hang_up_on_machine:
                await self._hangup_caller()
                return CallOutcome("completed", "machine")
        dialog = await out.dialog(self._llm_failed, machine)
        # Recorded as an inbound call is (the callee's number is the restrictions' "caller").
        dialog = await self._recorded(out.assistant, dialog, out.call.dialed, out.privacy)
        return await self._converse(out.assistant.language, out.assistant, dialog)

    async def _unknown_number(self, dialed: str) -> CallOutcome:
        svc = self._svc
        action = svc.settings.calls.unknown_number_action
        assert self.call is not None
        detail = {"dialed": dialed, "action": action}
        await svc.calls.add_event(self.call.id, "unknown_number", detail)
        if action == "continue":
            await svc.rest.continue_in_dialplan(self.channel.id)
            return CallOutcome("rejected", "unknown_number: continued in dialplan")
        if action == "message":
            await svc.rest.answer(self.channel.id)
            await self._connect_media()
            if not self._caller_gone.is_set():
                dialog = svc.dialogs.announcement(svc.settings.calls.unknown_number_message)
                await self._converse("en", None, dialog)
        await self._hangup_caller()
        return CallOutcome("rejected", "unknown_number")

    async def _connect_media(self) -> None:
        svc = self._svc
        # Ours before Asterisk has it: a reconnect's reconciliation must not see an orphan.
        self.bridge_id = f"{BRIDGE_ID_PREFIX}{uuid.uuid4().hex[:16]}"
        bridge = await svc.rest.create_bridge(
            type="mixing", name=self.bridge_id, bridge_id=self.bridge_id
        )
        self.bridge_id = bridge.id
        self._leg = await svc.media_legs(self._assistant.media if self._assistant else None)
        svc.expect_media_channel(self.media_channel_id, self)
        media = await self._leg.create_channel(
            svc.rest, svc.settings.ari.app, self.media_channel_id
        )
        await svc.rest.add_channel(bridge.id, self.channel.id)
        # Asterisk answers 422 until the media channel's own StasisStart (DESIGN §3).
        await svc.rest.add_channel_when_ready(
            bridge.id, self.media_channel_id, stasis_started=asyncio.shield(self._media_ready)
        )
        assert self.call is not None
        self._events.later(svc.calls.add_event(
            self.call.id, "media_connected", {"bridge": bridge.id, "media_channel": media.name}
        ))

    async def _converse(
        self, language: str, assistant: Assistant | None, dialog: DialogEngine,
        last_seq: int = 0, then: HandBack | None = None,
    ) -> CallOutcome:
        """The pipeline until the call ends; ``then``: hand the caller back once it has."""
        svc = self._svc
        assert self.call is not None and self._leg is not None
        if self._handback is not None:  # handed back during the set-up
            return CallOutcome("transferred", f"handed_back: {self._handback.reason}")
        pipeline, ctx = await build_pipeline(
            svc,
            transport=self._pipeline_transport or self._leg.transport,
            call=self.call,
            caller_number=self.channel.caller.number,
            language=language,
            assistant=assistant,
            dialog=dialog,
            recording=self._recording,
            transfer=self._attempt_transfer,
            last_seq=last_seq,
            privacy=self._privacy,
        )
        if self._outbound is not None:
            ctx.slots.update(self._outbound.variables)
        self._pipeline = pipeline
        outcome = await pipeline.run()
        if then is not None and not self._caller_gone.is_set() and self._handback is None:
            self._handback = then
        if ctx.slots and (self._privacy is None or self._privacy.store):
            await svc.calls.set_slots(self.call.id, ctx.slots)
        if self._handback is not None:
            return outcome  # the caller goes back to the dialplan in _cleanup
        if outcome.transfer_target and self._bridged is not None:
            await self._stay_bridged(self._bridged)
        elif outcome.transfer_target:
            await self._continue_in_dialplan(outcome.transfer_target)
        elif outcome.reason not in ("caller_hangup", "caller_gone_during_ari_outage"):
            await self._hangup_caller()
        return outcome

    async def _attempt_transfer(self, target: str) -> bool:
        """The pipeline's transfer handler (see ari_app/transfer.py)."""
        svc = self._svc
        assert self.call is not None
        try:
            parsed = parse_target(target)
        except ValueError as exc:
            log.warning("call %s: %s", self.call.uid, exc)
            return False
        if isinstance(parsed, DialplanTarget):
            # blind: continue_in_dialplan once the pipeline has ended; to a queue (its
            # extension named as an Asterisk queue) only when an agent is free (AMI)
            return await self._queue_has_agent(parsed.extension, target)
        if self.bridge_id is None:
            return False
        xfer = BridgedTransfer(svc.rest, svc.settings.ari.app, svc.settings.calls.transfer_ring_s)
        self._xfer = xfer
        svc.expect_media_channel(xfer.channel_id, self)
        caller = self.channel.caller
        caller_id = f'"{caller.name}" <{caller.number}>' if caller.name else caller.number
        if not await xfer.ring(parsed, caller_id, self.call.uid):
            await svc.calls.add_event(self.call.id, "transfer_no_answer",
                                      {"target": target, "why": xfer.failure})
            svc.forget_media_channel(xfer.channel_id)
            self._xfer = None
            return False
        await svc.rest.add_channel(self.bridge_id, xfer.channel_id)
        await svc.rest.remove_channel(self.bridge_id, self.media_channel_id)
        await svc.calls.add_event(self.call.id, "transfer_answered", {"target": target})
        self._bridged = xfer
        return True

    async def _queue_has_agent(self, queue: str, target: str) -> bool:
        """True unless the AMI says ``queue`` is a queue with no member free now (the flow's
        on_fail then); no AMI, or no such queue: True. An AMI error does not stop a transfer."""
        check = self._svc.queue_check
        if check is None:
            return True
        try:
            free = await check(queue)
        except CallwrightError as exc:
            log.warning("queue check of %s failed: %s", queue, exc)
            return True
        if free is False and self.call is not None:
            await self._svc.calls.add_event(self.call.id, "transfer_no_agent",
                                            {"target": target, "queue": queue})
        return free is not False

    async def _stay_bridged(self, xfer: BridgedTransfer) -> None:
        """The caller talks with the transfer target until one of them hangs up."""
        caller_gone = asyncio.ensure_future(self._caller_gone.wait())
        target_gone = asyncio.ensure_future(xfer.ended.wait())
        try:
            await asyncio.wait({caller_gone, target_gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            caller_gone.cancel()
            target_gone.cancel()
        if not self._caller_gone.is_set():
            await self._hangup_caller()
        else:
            await xfer.hang_up()
        self._svc.forget_media_channel(xfer.channel_id)

    async def _continue_in_dialplan(self, target: str) -> None:
        parsed = parse_target(target)
        assert isinstance(parsed, DialplanTarget)
        self._we_hung_up = True  # the channel leaves Stasis; its StasisEnd is not a hang-up
        await self._svc.rest.continue_in_dialplan(
            self.channel.id, context=parsed.context, extension=parsed.extension,
            priority=parsed.priority,
        )

    async def _hangup_caller(self) -> None:
        if self._caller_gone.is_set() or self._handback is not None:
            return
        self._we_hung_up = True
        try:
            await self._svc.rest.hangup(self.channel.id)
        except CallwrightError as exc:
            log.info("hang-up of %s: %s", self.channel.id, exc)

    async def _cleanup(self, outcome: CallOutcome) -> None:
        svc = self._svc
        kept = self._handback is not None and self._bridged is not None
        if self._handback is not None and not self._caller_gone.is_set() and not self._we_hung_up:
            self._we_hung_up = True  # the caller leaves Stasis; its StasisEnd is not a hang-up
            outcome = await hand_back_caller(
                svc, self.call, self.channel.id, self._handback, outcome, bridged=kept
            )
        svc.forget_media_channel(self.media_channel_id)
        if self._leg is not None:
            with contextlib.suppress(CallwrightError):
                await svc.rest.hangup(self.media_channel_id)
            await self._leg.close()
        if self.bridge_id is not None and not kept:  # kept: the caller talks to a person
            try:
                await svc.rest.destroy_bridge(self.bridge_id)
            except AriError as exc:
                if exc.status != 404:
                    log.warning("could not destroy bridge %s: %s", self.bridge_id, exc)
            except CallwrightError as exc:
                log.warning("could not destroy bridge %s: %s", self.bridge_id, exc)
        if self.call is None:
            log.error("channel %s ended before its call row existed: %s", self.channel.id, outcome)
            return
        if self._declining is not None:
            await self._declining
        if self._recording is not None:
            await finish_recording(svc, self.call, self._recording)
        if self._hangup_cause is not None:
            await svc.calls.add_event(self.call.id, "hangup", {"cause": self._hangup_cause})
        await self._events.flush()
        await close_call_row(svc, self.call, outcome)
