"""One outbound call through ARI, from the originate to the end of its conversation.

:class:`OutboundAttempt` takes a claimed ``outbound_calls`` row (see
:mod:`callwright.store.outbound_calls`), makes its calls row (``direction = outbound``),
originates ``POST /channels?endpoint=…&app=callwright&appArgs=outbound,<uid>`` with a channel id
of ours (``cw-out-…``, so its events are ours before the HTTP answer: Asterisk may send them
first), and follows the channel's events (:class:`callwright.outbound.dial_result.DialTracker`):

* never answered (busy, congestion, no answer at the originate's ``timeout``, a missing
  destination, a refused originate): the calls row is closed ``failed`` with the outcome, cause
  code and text as its reason, and the outbound row ended with the outcome and the ring time;
* answered (``StasisStart`` with ``outbound``, the channel already Up): with
  ``amd = "dialplan"`` the channel is sent (``/continue``) to the AMD context of
  ``dialplan/extensions_callwright.conf`` (``AMD()``, then ``Stasis(callwright,amd)``) and the
  result read from ``AMDSTATUS``/``AMDCAUSE`` when it comes back; a machine then gets what the
  assistant's ``on_machine`` says (``hangup``; ``leave_message``: the machine message, said
  once, then hang up; ``continue``: the normal conversation). Otherwise a :class:`CallSession`
  in outbound mode runs the call: the assistant speaks first, the greeting and the flow filled
  with the call's variables.

The callee's restrictions (:func:`callwright.privacy.call_privacy.caller_privacy`, under the
number called) are looked up before the calls row is made and honoured as an inbound caller's:
``store`` keeps the number hashed on the row, ``record``/``transcribe``/``store`` act in the
session, and ``object`` (set since the call was queued: the do-not-call list) stops the call
before dialing.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from ari_app.ami.status import PbxLiveStatus
from ari_app.ari.events import AriEvent, ChannelDestroyed, Dial, StasisStart
from ari_app.services import SessionServices
from ari_app.session import CallSession
from callwright.call.outcome import CallOutcome
from callwright.errors import AriError, CallwrightError
from callwright.media.transport import MediaTransport
from callwright.outbound.answered import filled_assistant, outbound_dialog, screen_for_machine
from callwright.outbound.call_row import create_outbound_row, note_origination
from callwright.outbound.dial_result import DialResult, DialTracker
from callwright.outbound.screening import ScreeningTransport
from callwright.outbound.start import OutboundStart
from callwright.privacy.call_privacy import CallPrivacy, caller_privacy
from callwright.store.assistants import Assistant
from callwright.store.calls import Call
from callwright.store.outbound_calls import AssistantOutbound, OutboundCall, OutboundCallRepository

log = logging.getLogger(__name__)

#: Ids of the channels we originate for outbound calls.
OUTBOUND_ID_PREFIX = "cw-out-"
#: The context that runs AMD() and comes back to Stasis(callwright,amd).
AMD_CONTEXT = "callwright-amd"


@dataclass(frozen=True, slots=True)
class OutboundOptions:
    """How outbound calls are placed (``[outbound]`` settings, with these defaults)."""

    app: str = "callwright"
    #: The originate's ``timeout``: seconds the callee may ring.
    ring_timeout_s: int = 30
    #: "dialplan": AMD() in ``amd_context``; "audio": our own detection from the callee's
    #: first seconds (callwright.outbound.screening); "off": no detection.
    amd: str = "off"
    amd_context: str = AMD_CONTEXT
    #: "ari": POST /channels; "ami": an AMI Originate into Stasis() (ChannelId ours too).
    via: str = "ari"


StartSession = Callable[[CallSession], "asyncio.Task[None]"]


class OutboundAttempt:
    """One claimed row, placed and followed. ``start_session`` starts a session in the app."""

    def __init__(
        self,
        svc: SessionServices,
        repo: OutboundCallRepository,
        row: OutboundCall,
        assistant: Assistant,
        options: OutboundOptions,
        start_session: StartSession,
        clock: Callable[[], float] = time.monotonic,
        ami: PbxLiveStatus | None = None,
    ) -> None:
        self._svc = svc
        self._repo = repo
        self.row = row
        self._assistant = assistant
        self._options = options
        self._start_session = start_session
        self._clock = clock
        self._ami = ami
        self.channel_id = f"{OUTBOUND_ID_PREFIX}{uuid.uuid4().hex[:16]}"
        self._started = clock()
        self._tracker = DialTracker(self._started)
        self.call: Call | None = None
        self.done = asyncio.Event()
        self.result: DialResult | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._start: StasisStart | None = None
        #: The callee's restrictions, looked up in :meth:`place`.
        self._privacy: CallPrivacy | None = None

    # -- placing ---------------------------------------------------------------------------------

    async def place(self) -> None:
        """Make the calls row and originate. Events may arrive before this returns."""
        svc, row = self._svc, self.row
        number = row.caller_id.rsplit("<", 1)[-1].rstrip(">").strip()
        # The callee's restrictions, kept under their number as an inbound caller's are.
        privacy = await caller_privacy(svc.restrictions, row.org_id, row.to_number, "")
        self._privacy = privacy
        self.call = await create_outbound_row(svc.calls, row, privacy, caller_number=number,
                                              channel_id=self.channel_id)
        await note_origination(svc.calls, self._repo, row, self.call, privacy,
                               {"caller_id": row.caller_id, "outbound": row.uid})
        if privacy.objected:  # objected since the call was queued: on the do-not-call list
            self._tracker.on_error("on the do-not-call list", self._clock())
            await self._unanswered()
            return
        if self._options.via == "ami":
            await self._originate_by_ami()
            return
        try:
            await svc.rest.originate(
                row.endpoint, app=self._options.app, app_args=["outbound", row.uid],
                caller_id=row.caller_id or None, timeout_s=self._options.ring_timeout_s,
                channel_id=self.channel_id,
            )
        except AriError as exc:
            self._tracker.on_error(f"{exc.status} {exc.message}", self._clock())
            await self._unanswered()
        except CallwrightError as exc:
            self._tracker.on_error(str(exc), self._clock())
            await self._unanswered()

    async def _originate_by_ami(self) -> None:
        """An AMI Originate into Stasis(app, outbound, uid) with our channel id: an answer
        arrives as the StasisStart (:meth:`handle`), a failure as the OriginateResponse."""
        row = self.row
        if self._ami is None:
            self._tracker.on_error("[outbound] via = ami, but no [ami] connection", self._clock())
            await self._unanswered()
            return
        try:
            result = await self._ami.originate(
                row.endpoint, app=self._options.app, app_args=f"outbound,{row.uid}",
                caller_id=row.caller_id, timeout_s=self._options.ring_timeout_s,
                channel_id=self.channel_id)
        except CallwrightError as exc:
            self._tracker.on_error(str(exc), self._clock())
            await self._unanswered()
            return
        if not result.answered and not self._tracker.answered:
            ring_ms = round((self._clock() - self._started) * 1000)
            status, reason = result.call_status()
            await self._finish(replace(result, ring_ms=ring_ms), CallOutcome(status, reason))

    # -- events (routed here by the application until a session takes the channel) -------------

    def handle(self, event: AriEvent) -> None:
        if isinstance(event, Dial):
            self._tracker.on_dial(event.dialstatus)
        elif isinstance(event, ChannelDestroyed):
            self._tracker.on_end(event.cause, self._clock())
            self._chore(self._gone() if self._tracker.answered else self._unanswered())
        elif isinstance(event, StasisStart):
            kind = event.args[0] if event.args else ""
            if kind == "amd":
                self._chore(self._after_amd(event))
            elif self._start is None:
                self._start = event
                self._tracker.on_answer(self._clock())
                self._chore(self._answered(event))

    def _chore(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:  # the boundary of an outbound call's chore: log, end the row
                log.exception("outbound call %s failed", self.row.uid)
                self._tracker.on_error("internal error", self._clock())
                await self._finish(self._tracker.result(), CallOutcome("failed", "error"))

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- outcomes ------------------------------------------------------------------------------

    async def _unanswered(self) -> None:
        result = self._tracker.result()
        status, reason = result.call_status()
        await self._finish(result, CallOutcome(status, reason))

    async def _gone(self) -> None:
        """The callee hung up during AMD (no session yet)."""
        await self._finish(self._tracker.result(), CallOutcome("completed", "callee_hangup"))

    async def _finish(self, result: DialResult, outcome: CallOutcome | None) -> None:
        if self.done.is_set():
            return
        self.done.set()
        self.result = result
        if outcome is not None and self.call is not None:
            await self._svc.calls.close_call(self.call.id, outcome.status, outcome.reason)
        await self._repo.finish(self.row.id, result)
        log.info("outbound call %s to %s: %s", self.row.uid, self.row.to_number, result.outcome)

    async def _answered(self, start: StasisStart) -> None:
        if self._options.amd == "dialplan":
            assert self.call is not None
            await self._svc.calls.add_event(self.call.id, "amd_started",
                                            {"context": self._options.amd_context})
            await self._svc.rest.continue_in_dialplan(
                self.channel_id, context=self._options.amd_context, extension="s", priority=1)
            return
        await self._converse(start, machine=False)

    async def _after_amd(self, start: StasisStart) -> None:
        rest = self._svc.rest
        status = await _variable(rest.get_variable(self.channel_id, "AMDSTATUS"))
        cause = await _variable(rest.get_variable(self.channel_id, "AMDCAUSE"))
        self._tracker.on_amd(status, cause)
        assert self.call is not None
        await self._svc.calls.add_event(self.call.id, "amd", {"status": status, "cause": cause})
        machine = status.upper() == "MACHINE"
        settings = await self._repo.assistant_settings(self._assistant.id)
        if machine and settings.on_machine == "hangup":
            try:
                await rest.hangup(self.channel_id)
            except CallwrightError as exc:
                log.info("hang-up of machine %s: %s", self.channel_id, exc)
            await self._finish(self._tracker.result(), CallOutcome("completed", "machine"))
            return
        await self._converse(start, machine=machine, settings=settings)

    async def _converse(
        self, start: StasisStart, *, machine: bool, settings: AssistantOutbound | None = None,
    ) -> None:
        assert self.call is not None
        await self._repo.mark_answered(self.row.id, self._tracker.result())
        variables = dict(self.row.variables)
        if settings is None:
            settings = await self._repo.assistant_settings(self._assistant.id)
        assistant = filled_assistant(self._assistant, variables)
        dialog = outbound_dialog(self._svc.dialogs, assistant, variables, settings,
                                 machine=machine)
        out = OutboundStart(
            call=self.call, assistant=assistant, variables=variables, dialog=dialog,
            screen=self._screen if self._options.amd == "audio" else None,
            hang_up_on_machine=settings.on_machine == "hangup", privacy=self._privacy,
        )
        task = self._start_session(CallSession(self._svc, start, outbound=out))
        try:
            await asyncio.shield(task)
        finally:
            await self._finish(self._tracker.result(), None)

    async def _screen(self, transport: MediaTransport) -> bool:
        """Our own answering-machine detection on the callee's first seconds (no AMD() in
        the dialplan): the result on the rows as AMD()'s would be; True for a machine."""
        assert isinstance(transport, ScreeningTransport)
        assert self.call is not None
        return await screen_for_machine(transport, self._tracker, self._svc.calls, self._repo,
                                        call_id=self.call.id, row_id=self.row.id)


async def _variable(read: Awaitable[str]) -> str:
    """A channel variable's value; "" if it was never set (404)."""
    try:
        return await read
    except AriError as exc:
        if exc.status == 404:
            return ""
        raise
