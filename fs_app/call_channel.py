"""The caller's channel as one FreeSWITCH call session holds it over its ESL outbound socket.

What FreeSWITCH said of it (answered, hung up and why, done with it: ``CHANNEL_HANGUP_COMPLETE``
or the linger's disconnect notice, the socket closing) and how that ends the call (the outcome a
hang-up or a lost socket maps to); what we do to it (``answer``, ``uuid_kill``, the channel
variables recovery finds our calls by). A hang-up is ours (``uuid_kill``), not a queued
``sendmsg`` hangup, which would wait for ever behind the silence playback, as observed.
"""

from __future__ import annotations

import asyncio
import logging

from callwright.call.outcome import CallOutcome
from callwright.errors import MediaError
from fs_app.esl import commands
from fs_app.esl.message import EslProtocolError
from fs_app.esl_socket import EslSocket
from fs_app.hangup_causes import outcome_for_cause
from fs_app.recovery import CALL_VAR, NODE_VAR

log = logging.getLogger(__name__)

#: How long the answer may take before the call is given up.
ANSWER_TIMEOUT_S = 5.0


class FsChannel:
    def __init__(self, esl: EslSocket) -> None:
        self.esl = esl
        self.uuid = ""
        self.hangup_cause: str | None = None
        self.caller_gone = asyncio.Event()
        self.answered = asyncio.Event()
        self.done_with = asyncio.Event()  # HANGUP_COMPLETE, a notice or the socket closed
        self.we_hung_up = False
        #: The caller left our socket for a transfer (or is being handed on).
        self.transferred = False
        #: Why the ESL stream went bad (None: it did not).
        self.esl_error: str | None = None

    def is_up(self) -> bool:
        """The caller is still on our socket and ours to talk to."""
        return not (self.caller_gone.is_set() or self.we_hung_up or self.transferred)

    # -- FreeSWITCH's side -------------------------------------------------------------------------
    def gone(self, cause: str) -> CallOutcome | None:
        """FreeSWITCH hung the caller up with ``cause``. The outcome the call ends with; None
        when it had already ended or the end was ours (our hang-up, a transfer)."""
        if self.caller_gone.is_set():
            return None
        self.hangup_cause = cause
        self.caller_gone.set()
        if self.we_hung_up or self.transferred:
            return None
        return outcome_for_cause(cause)

    def ended_outcome(self) -> CallOutcome:
        """The outcome of a call whose caller has already gone."""
        return outcome_for_cause(self.hangup_cause or "NORMAL_CLEARING")

    def notice(self) -> CallOutcome | None:
        """The linger's disconnect notice: FreeSWITCH is done with the channel."""
        self.done_with.set()
        if self.caller_gone.is_set():
            return None
        return self.gone(self.hangup_cause or "NORMAL_CLEARING")

    def closed(self, reason: str) -> CallOutcome | None:
        """The socket ended. Not the caller leaving (that comes as CHANNEL_HANGUP first): the
        stream went bad or the switch went away, and the call fails with why; without its socket
        FreeSWITCH hangs the channel up (as observed when the app closes TCP)."""
        self.done_with.set()
        if self.caller_gone.is_set() or self.transferred or self.we_hung_up:
            return None
        log.warning("call %s: the ESL socket ended: %s", self.uuid, reason)
        self.esl_error = reason
        return CallOutcome("failed", f"pbx_connection: {reason}")

    # -- our side ----------------------------------------------------------------------------------
    async def answer(self) -> None:
        await self.esl.checked(commands.execute("answer"))
        loop = asyncio.get_running_loop()
        waiter = loop.create_task(self.answered.wait())
        gone = loop.create_task(self.caller_gone.wait())
        try:
            await asyncio.wait({waiter, gone}, timeout=ANSWER_TIMEOUT_S,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            gone.cancel()
        if not self.answered.is_set() and not self.caller_gone.is_set():
            raise MediaError(f"FreeSWITCH did not answer {self.uuid} in {ANSWER_TIMEOUT_S:.0f} s")

    async def hang_up(self) -> None:
        """End the call from our side: ``uuid_kill`` (not a queued sendmsg hangup)."""
        if self.caller_gone.is_set() or self.we_hung_up or not self.esl.open:
            return
        self.we_hung_up = True
        try:
            reply = await self.esl.api(f"uuid_kill {self.uuid}")
        except EslProtocolError as exc:
            log.warning("call %s: uuid_kill failed: %s", self.uuid, exc)
            return
        if not reply.startswith("+OK"):
            log.warning("call %s: uuid_kill answered %s", self.uuid, reply.strip())

    async def mark_ours(self, node_id: str, call_uid: str) -> None:
        """The channel variables recovery finds our calls by (fs_app.recovery)."""
        for name, value in ((NODE_VAR, node_id), (CALL_VAR, call_uid)):
            reply = await self.esl.api(f"uuid_setvar {self.uuid} {name} {value}")
            if not reply.startswith("+OK"):
                log.warning("call %s: uuid_setvar %s answered %s", self.uuid, name, reply.strip())

    async def unmark_node(self) -> None:
        """The caller will not be ours any more (a transfer): recovery must leave them alone."""
        await self.esl.api(f"uuid_setvar {self.uuid} {NODE_VAR}")
