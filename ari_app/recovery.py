"""Calls the service picks up again, and callers it hands back to the dialplan.

**Recovery.** After a crash, a restart or an events-WebSocket outage, the callers still in our
Stasis app that no session owns are found by :mod:`ari_app.reconcile`; each gets a
:class:`~ari_app.session.CallSession` in recovery mode, which calls :func:`prepare_recovery`. The
call row is **continued**, not replaced: the start-up sweep closed it as ``failed/server_restart``
(callwright.store.recovery), and it is reopened (``in_progress`` again) with a ``recovered`` event
on its timeline, so one call is one row however many restarts it lived through. Its turns go on
from the last number used. What happens next is the assistant's ``on_recovery``:

* ``resume`` (the default): a new media channel and bridge, the assistant's ``recovery_line``
  ("Sorry, I lost you for a moment."), and the conversation where the journal says it was
  (:mod:`callwright.dialog.resume`). The recording of a resumed call is not continued: what was
  recorded before the restart is kept (repaired at start-up), with a ``recording_stopped`` event.
* ``dialplan``: ``continue`` at once to the assistant's ``recovery_target``, else the server's
  ``[calls] fallback_target``, so the PBX routes the caller to a person.
* ``hangup``: an apology, then the call is hung up.

A caller whose number has no assistant any more is handed back to the dialplan. Each recovery is
counted by what was done (``SessionServices.count_recovery``: the service's
``callwright_recoveries_total{action}``).

**Hand-back.** When the service drains or stops, each caller still talking to the assistant hears
a short line (:func:`handback_line`) and is sent back to the dialplan (``[calls]
fallback_target``; "" continues at the priority after ``Stasis()``), and the call is closed as
``transferred`` with reason ``handed_back: <why>``. Asterisk leaves our bridge and media channel in
place after a ``continue`` (asterisk-facts/outbound-ami/app-gone.md), so the session deletes them
afterwards, as always.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ari_app.ari.events import AriEvent, ChannelDestroyed, ChannelHangupRequest, StasisEnd
from ari_app.ari.models import Channel
from ari_app.ari.rest import AriRestClient
from ari_app.services import SessionServices
from ari_app.transfer import DialplanTarget, parse_target
from callwright.call.assistant_runtime import APOLOGIES
from callwright.call.outcome import CallOutcome
from callwright.call.recording_path import recording_path
from callwright.call.resume import JournalledCall, resume_point
from callwright.dialog.actions import DialogEngine
from callwright.dialog.announcement import AnnouncementDialog
from callwright.dialog.fixed_prompts import line_for
from callwright.dialog.resume import ResumedDialog, ResumePoint, recovery_line
from callwright.errors import CallwrightError, LlmError
from callwright.privacy.call_privacy import CallPrivacy, caller_privacy
from callwright.store.assistants import Assistant
from callwright.store.calls import Call, CallRepository

log = logging.getLogger(__name__)

#: What a caller hears before being handed back to the dialplan, by language.
HANDBACK_LINES = {
    "en": "Please hold, I am passing you on.",
    "ko": "잠시만 기다려 주세요. 연결해 드리겠습니다.",
    "de": "Einen Moment bitte, ich verbinde Sie weiter.",
    "fr": "Un instant, je vous transfère.",
    "es": "Un momento, le paso con alguien.",
    "ja": "少々お待ちください。おつなぎします。",
}


def handback_line(language: str, configured: str = "") -> str:
    """``configured`` when set, else the line for ``language`` (English by default)."""
    if configured.strip():
        return configured.strip()
    return line_for(HANDBACK_LINES, language)


def dialplan_target(text: str) -> DialplanTarget | None:
    """``context,extension[,priority]`` as a target; "" (or an endpoint, which ``continue``
    cannot reach) is None: the priority after ``Stasis()``."""
    if not text.strip():
        return None
    try:
        parsed = parse_target(text)
    except ValueError as exc:
        log.error("dialplan target %r unusable (%s): continuing after Stasis()", text, exc)
        return None
    return parsed if isinstance(parsed, DialplanTarget) else None


async def continue_caller(
    rest: AriRestClient, channel_id: str, target: DialplanTarget | None
) -> None:
    """``POST /channels/{id}/continue`` to ``target`` (None: the priority after Stasis())."""
    if target is None:
        await rest.continue_in_dialplan(channel_id)
    else:
        await rest.continue_in_dialplan(
            channel_id, context=target.context, extension=target.extension,
            priority=target.priority,
        )


@dataclass(frozen=True, slots=True)
class HandBack:
    """Send the caller back to the dialplan; ``announce``: say :func:`handback_line` first."""

    reason: str                  # "server_drain", "server_stop", "recovered", ...
    target: DialplanTarget | None
    announce: bool = True


@dataclass(frozen=True, slots=True)
class Recovery:
    call: Call
    assistant: Assistant | None
    action: str                  # "resume", "dialplan" or "hangup"
    target: DialplanTarget | None
    journal: JournalledCall
    #: The caller's restrictions, looked up again (they apply to the rest of the call).
    privacy: CallPrivacy
    #: What the previous run recorded of the call (a file left on disk), which the caller can
    #: still refuse with the opt-out key or phrase; None when there is none.
    prior_recording: Path | None = None


async def prepare_recovery(
    svc: SessionServices, channel: Channel, args: tuple[str, ...], *, draining: bool
) -> Recovery:
    """The call row of the orphaned caller on ``channel`` (reopened, or created if the service
    died before writing it), its assistant, and what to do. ``draining``: the service is going
    away, so the caller is handed back whatever the assistant says."""
    calls = svc.calls
    call = await calls.find_by_channel(channel.id)
    dialed = call.dialed if call is not None else (args[0] if args else "")
    found = await svc.numbers.find_inbound(dialed)
    number, assistant = found if found is not None else (None, None)
    privacy = await caller_privacy(svc.restrictions, number.org_id if number else None,
                                   channel.caller.number, channel.caller.name)
    if call is None:
        call = await calls.create_call(
            org_id=number.org_id if number else None,
            assistant_id=assistant.id if assistant else None,
            number_id=number.id if number else None,
            dialed=dialed, caller_number=privacy.stored_number,
            caller_name=privacy.stored_name, channel_id=channel.id, direction="inbound",
        )
        await calls.mark_answered(call.id)
        journal = JournalledCall(ResumePoint(), 0)
    else:
        await calls.reopen_call(call.id)
        journal = await resume_point(calls, call.id)
    if privacy.kinds:
        await calls.add_event(call.id, "privacy_restriction", {"kinds": sorted(privacy.kinds)})
    action = assistant.on_recovery if assistant is not None else "dialplan"
    if draining and action == "resume":
        action = "dialplan"
    configured = assistant.recovery_target if assistant is not None else ""
    target = dialplan_target(configured or svc.settings.calls.fallback_target)
    await calls.add_event(call.id, "recovered", {
        "action": action, "node": journal.point.node, "turns": journal.last_seq,
        "assistant": assistant.id if assistant else None,
    })
    log.warning("call %s on channel %s recovered: %s", call.uid, channel.id, action)
    svc.count_recovery(action)
    prior = None
    if action == "resume" and not call.recording_declined and privacy.record:
        left = recording_path(svc.recordings_dir, call)
        prior = left if await asyncio.to_thread(left.exists) else None
    return Recovery(call, assistant, action, target, journal, privacy, prior)


async def recovered_dialog(
    svc: SessionServices, rec: Recovery, on_llm_error: Callable[[LlmError], None]
) -> DialogEngine:
    """The dialog of a recovered call that stays with the assistant: ``hangup``, an apology
    and the end; ``resume``, the recovery line and the conversation where it was."""
    assistant = rec.assistant
    assert assistant is not None
    language = assistant.language.split("-")[0]
    if rec.action == "hangup":
        return AnnouncementDialog(APOLOGIES.get(language, APOLOGIES["en"]),
                                  reason="recovered: hung up")
    if assistant.record_calls:
        await svc.calls.add_event(rec.call.id, "recording_stopped", {"reason": "server_restart"})
    inner = await svc.dialogs.for_assistant(assistant, on_llm_error=on_llm_error)
    line = recovery_line(assistant.language, assistant.recovery_line)
    return ResumedDialog(inner, line, rec.journal.point)


async def hand_back_caller(
    svc: SessionServices, call: Call | None, channel_id: str, handback: HandBack,
    outcome: CallOutcome, *, bridged: bool,
) -> CallOutcome:
    """Send the caller on ``channel_id`` back to the dialplan; the call's outcome. ``bridged``:
    the caller talks to a transfer target, and stays with them (the PBX carries that call on)."""
    if bridged:
        return CallOutcome("transferred", f"bridged: left to the PBX ({handback.reason})")
    try:
        await continue_caller(svc.rest, channel_id, handback.target)
    except CallwrightError as exc:
        log.warning("could not hand %s back to the dialplan: %s", channel_id, exc)
        return outcome
    if call is not None:
        target = handback.target
        with contextlib.suppress(CallwrightError):
            await svc.calls.add_event(call.id, "handed_back", {
                "reason": handback.reason,
                "target": None if target is None
                else f"{target.context},{target.extension},{target.priority}",
            })
    return CallOutcome("transferred", f"handed_back: {handback.reason}")


class KeptTransfer:
    """A caller left talking to a transfer target over a restart (ari_app.reconcile): when
    either hangs up, the other is hung up and the bridge deleted; the call row, reopened when the
    pair is found, is closed as ``transferred``."""

    def __init__(
        self, rest: AriRestClient, calls: CallRepository | None, caller_id: str, leg_id: str,
        bridge_id: str,
    ) -> None:
        self._rest = rest
        self._calls = calls
        self.caller_id = caller_id
        self.leg_id = leg_id
        self.bridge_id = bridge_id
        self._call: Call | None = None
        self.done = asyncio.Event()

    async def adopt(self) -> None:
        if self._calls is None:
            return
        try:
            self._call = await self._calls.find_by_channel(self.caller_id)
            if self._call is not None:
                await self._calls.reopen_call(self._call.id)
                await self._calls.add_event(self._call.id, "recovered",
                                            {"action": "kept_bridged", "leg": self.leg_id})
        except CallwrightError as exc:
            log.warning("transfer kept over a restart: row of %s: %s", self.caller_id, exc)

    def handle(self, event: AriEvent) -> bool:
        """True when the event ends the pair (then call :meth:`finish`)."""
        return isinstance(event, ChannelHangupRequest | StasisEnd | ChannelDestroyed)

    async def finish(self) -> None:
        if self.done.is_set():
            return
        self.done.set()
        for channel_id in (self.caller_id, self.leg_id):
            with contextlib.suppress(CallwrightError):
                await self._rest.hangup(channel_id)
        with contextlib.suppress(CallwrightError):
            await self._rest.destroy_bridge(self.bridge_id)
        if self._calls is not None and self._call is not None:
            with contextlib.suppress(CallwrightError):
                await self._calls.close_call(self._call.id, "transferred",
                                             "transfer kept over a restart")
