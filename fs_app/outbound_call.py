"""One outbound call through FreeSWITCH, from the originate to the end of its conversation.

:class:`FsOutboundAttempt` takes a claimed ``outbound_calls`` row (callwright.store.outbound_calls),
makes its calls row (``direction = outbound``, ``channel_id = freeswitch/<uuid>``) and places the
call from the inbound ESL (``[freeswitch] esl_host``) as the facts recorded on 1.10.12:

1. ``bgapi originate {origination_uuid=<ours>,originate_timeout=<[outbound] ring_timeout_s>,
   callwright_outbound=<row uid>,origination_caller_id_number=<from>}<endpoint> &park()``;
2. its ``BACKGROUND_JOB``: ``+OK <uuid>`` once the callee answered (the leg then parks);
   ``-ERR USER_BUSY``, ``-ERR NO_ANSWER`` (at ``originate_timeout``, both legs hung up),
   ``-ERR CALL_REJECTED``, ``-ERR UNALLOCATED_NUMBER``, ``-ERR NO_ROUTE_DESTINATION``,
   ``-ERR CHAN_NOT_IMPLEMENTED``... otherwise: the cause's Q.850 code gives the same outcome as on
   Asterisk (callwright.outbound.dial_result: busy, no_answer, congestion, failed), with the
   cause and the ring time, and the calls row is closed ``failed`` with them;
3. answered: ``uuid_transfer <uuid> <[freeswitch] outbound_extension> XML <outbound_context>``,
   an extension whose ``socket <callwright> async full`` hands the channel to our socket server
   (dialplan/freeswitch/52_callwright_outbound.xml); the session that gets it takes the
   :class:`~fs_app.outbound_handoff.Handoff` left under the uuid and runs the call as outbound:
   the assistant speaks first, its greeting and flow filled with the call's variables, recorded
   (with the consent notice) and restricted by the callee's restrictions as an inbound call is.

FreeSWITCH runs no ``AMD()`` here: with ``[outbound] amd`` ``audio`` (or ``dialplan``, which
means the same on FreeSWITCH) our own detector (callwright.outbound.amd) listens to the
callee's first seconds, and a machine gets what the assistant's ``on_machine`` says.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid as uuidlib
from collections.abc import Callable

from callwright.call.outcome import CallOutcome
from callwright.errors import CallwrightError
from callwright.media.transport import MediaTransport
from callwright.outbound.answered import filled_assistant, outbound_dialog, screen_for_machine
from callwright.outbound.call_row import create_outbound_row, note_origination
from callwright.outbound.dial_result import DialResult, DialTracker, from_cause_name
from callwright.outbound.screening import ScreeningTransport
from callwright.outbound.start import OutboundStart
from callwright.privacy.call_privacy import CallPrivacy, caller_privacy
from callwright.store.assistants import Assistant
from callwright.store.calls import Call
from callwright.store.outbound_calls import OutboundCall, OutboundCallRepository
from fs_app.bridged_transfer import kill_quietly
from fs_app.esl import commands
from fs_app.esl.message import EslProtocolError
from fs_app.services import FsServices

log = logging.getLogger(__name__)

#: The channel variable naming the outbound row a channel was placed for.
OUTBOUND_VAR = "callwright_outbound"
#: How long the answered callee may take to reach our socket after the uuid_transfer.
SOCKET_WAIT_S = 10.0
#: Beyond originate_timeout, how long we wait for the BACKGROUND_JOB.
JOB_MARGIN_S = 15.0


def originate_variables(row: OutboundCall, uuid: str, ring_s: int) -> list[tuple[str, str]]:
    """The originate's ``{...}`` list: our uuid, the ring time, the row, the caller ID."""
    variables = [("origination_uuid", uuid), ("originate_timeout", str(ring_s)),
                 (OUTBOUND_VAR, row.uid)]
    name, number = caller_id_parts(row.caller_id)
    if number and number.lstrip("+").isalnum():
        variables.append(("origination_caller_id_number", number))
    if name and all(ch.isalnum() or ch in "._-" for ch in name):
        variables.append(("origination_caller_id_name", name))
    return variables


def caller_id_parts(caller_id: str) -> tuple[str, str]:
    """``"Acme" <+15550111>`` -> ("Acme", "+15550111"); ``+15550111`` -> ("", "+15550111")."""
    if "<" not in caller_id:
        return "", caller_id.strip()
    name, _, rest = caller_id.rpartition("<")
    return name.strip().strip('"').strip(), rest.rstrip(">").strip()


class FsOutboundAttempt:
    """One claimed row, placed and followed until its call is over (:meth:`run`)."""

    def __init__(self, svc: FsServices, repo: OutboundCallRepository, row: OutboundCall,
                 assistant: Assistant, *, ring_timeout_s: int, screen: bool,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._svc = svc
        self._repo = repo
        self.row = row
        self._assistant = assistant
        self._ring_s = ring_timeout_s
        self._screen_calls = screen
        self._clock = clock
        self.uuid = str(uuidlib.uuid4())
        self._tracker = DialTracker(clock())
        self.call: Call | None = None
        self.result: DialResult | None = None
        self._privacy: CallPrivacy | None = None
        #: A session took the answered call (it closes the calls row).
        self.handed = False

    async def run(self) -> None:
        try:
            await self._run()
        except asyncio.CancelledError:
            self._tracker.on_error("the call service stopped", self._clock())
            outcome = None if self.handed else CallOutcome("failed", "server_shutdown")
            await asyncio.shield(self._finish(outcome))
            raise
        except Exception:  # the boundary of one outbound call: log, end its rows
            log.exception("outbound call %s failed", self.row.uid)
            self._tracker.on_error("internal error", self._clock())
            await self._finish(CallOutcome("failed", "error"))

    async def _run(self) -> None:
        svc, row = self._svc, self.row
        _, number = caller_id_parts(row.caller_id)
        privacy = await caller_privacy(svc.restrictions, row.org_id, row.to_number, "")
        self._privacy = privacy
        self.call = await create_outbound_row(svc.calls, row, privacy, caller_number=number,
                                              channel_id=f"freeswitch/{self.uuid}")
        await note_origination(svc.calls, self._repo, row, self.call, privacy, {
            "caller_id": row.caller_id, "outbound": row.uid, "uuid": self.uuid,
            "pbx": svc.settings.freeswitch.name,
        })
        if privacy.objected:  # objected since the call was queued: on the do-not-call list
            await self._unanswered("on the do-not-call list")
            return
        esl = svc.esl
        if esl is None or not esl.connected:
            await self._unanswered("no inbound ESL to FreeSWITCH ([freeswitch] esl_host)")
            return
        try:
            line = commands.originate_line(row.endpoint,
                                           originate_variables(row, self.uuid, self._ring_s))
            job = await esl.bgapi(line, within_s=self._ring_s + JOB_MARGIN_S)
        except EslProtocolError as exc:
            await self._unanswered(f"originate: {exc}")
            return
        except TimeoutError:
            await kill_quietly(esl, self.uuid)
            await self._unanswered("originate: no result")
            return
        if not job.ok:
            cause = job.text.strip().removeprefix("-ERR").strip()
            from_cause_name(cause, self._tracker, self._clock())
            await self._finish(None)
            return
        self._tracker.on_answer(self._clock())
        await self._repo.mark_answered(row.id, self._tracker.result())
        await self._hand_to_socket()

    async def _hand_to_socket(self) -> None:
        """Send the answered callee to our socket and follow the session until the end."""
        svc, call = self._svc, self.call
        assert call is not None and svc.esl is not None and svc.outbound is not None
        start = await self._answered_start(call)
        handoff = svc.outbound.expect(self.uuid, start)
        fs = svc.settings.freeswitch
        try:
            reply = await svc.esl.api(f"uuid_transfer {self.uuid} {fs.outbound_extension} XML "
                                      f"{fs.outbound_context}")
        except EslProtocolError as exc:
            reply = f"-ERR {exc}"
        if not reply.startswith("+OK"):
            svc.outbound.forget(self.uuid)
            # "-ERR No such channel!": the callee hung up before we could talk
            await svc.calls.add_event(call.id, "outbound_handoff_failed",
                                      {"reply": reply.strip()})
            gone = "No such channel" in reply
            await self._finish(CallOutcome("completed", "callee_hangup") if gone
                               else CallOutcome("failed", f"handoff: {reply.strip()}"))
            return
        try:
            await asyncio.wait_for(handoff.taken.wait(), SOCKET_WAIT_S)
        except TimeoutError:
            svc.outbound.forget(self.uuid)
            await kill_quietly(svc.esl, self.uuid)
            await svc.calls.add_event(call.id, "outbound_handoff_failed", {
                "why": f"the socket of {fs.outbound_extension}@{fs.outbound_context} did not "
                       f"reach us in {SOCKET_WAIT_S:.0f} s"})
            await self._finish(CallOutcome("failed", "handoff: no socket"))
            return
        self.handed = True
        await handoff.over.wait()
        await self._finish(None)  # the session closed the calls row

    async def _answered_start(self, call: Call) -> OutboundStart:
        """What the session needs to run the answered call (as on Asterisk)."""
        variables = dict(self.row.variables)
        settings = await self._repo.assistant_settings(self._assistant.id)
        assistant = filled_assistant(self._assistant, variables)
        return OutboundStart(
            call=call, assistant=assistant, variables=variables,
            dialog=outbound_dialog(self._svc.dialogs, assistant, variables, settings),
            screen=self._screen if self._screen_calls else None,
            hang_up_on_machine=settings.on_machine == "hangup", privacy=self._privacy,
        )

    async def _screen(self, transport: MediaTransport) -> bool:
        assert isinstance(transport, ScreeningTransport) and self.call is not None
        return await screen_for_machine(transport, self._tracker, self._svc.calls, self._repo,
                                        call_id=self.call.id, row_id=self.row.id)

    # -- the end -----------------------------------------------------------------------------
    async def _unanswered(self, error: str) -> None:
        self._tracker.on_error(error, self._clock())
        await self._finish(None)

    async def _finish(self, outcome: CallOutcome | None) -> None:
        """End the outbound row with the result; close the calls row with ``outcome``, or, for
        an attempt never answered, with the result's status (None after a session: it closed
        the row itself)."""
        if self.result is not None:
            return
        result = self._tracker.result()
        self.result = result
        if outcome is None and not result.answered:
            outcome = CallOutcome(*result.call_status())
        if outcome is not None and self.call is not None:
            try:
                await self._svc.calls.close_call(self.call.id, outcome.status, outcome.reason)
            except CallwrightError as exc:
                log.error("outbound call %s: could not close its row: %s", self.row.uid, exc)
        await self._repo.finish(self.row.id, result)
        log.info("outbound call %s to %s: %s", self.row.uid, self.row.to_number, result.outcome)
