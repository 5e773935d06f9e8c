"""What a caller's restrictions (:mod:`callwright.privacy.restrictions`) change in their call,
looked up once when the call comes in, before its row exists, and honoured by the session
whichever dialog (flow or LLM) the assistant runs, on any PBX:

- ``record``: no recording (a ``recording_skipped`` event, as before);
- ``transcribe``: turns are stored as ``[not transcribed]`` (no search-index entry, migration
  0018); the dialog keeps the words in memory for the call (:class:`PrivateTurnStore`);
- ``store``: the row keeps the number hashed with the org's salt and no caller name; no turns,
  no journal events, no slots and no recording;
- ``object``: the caller hears :func:`objection_line` and goes back to the dialplan's fallback
  (``[calls] fallback_target``) through the same hand-back as a draining service.

The call row gets a ``privacy_restriction`` event naming the kinds that applied (no number).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from callwright.call.journal import TurnStore
from callwright.dialog.fixed_prompts import line_for
from callwright.media.recorder import StereoWavRecorder
from callwright.privacy.restrictions import NOT_TRANSCRIBED, CallerRestrictionRepository
from callwright.store.turns import NewTurn

log = logging.getLogger(__name__)

OBJECTION_LINES = {
    "en": "You have objected to the processing of your calls, so this call is not processed. "
          "Let me pass you on.",
    "ko": "통화 처리에 반대하셨으므로 이 통화는 처리되지 않습니다. 연결해 드리겠습니다.",
    "de": "Sie haben der Verarbeitung Ihrer Anrufe widersprochen, daher wird dieser Anruf nicht "
          "verarbeitet. Ich verbinde Sie weiter.",
    "fr": "Vous vous êtes opposé au traitement de vos appels : cet appel n'est pas traité. "
          "Je vous transfère.",
    "es": "Usted se opuso al tratamiento de sus llamadas, así que esta llamada no se procesa. "
          "Le paso con alguien.",
    "ja": "通話の処理に異議を申し立てられているため、この通話は処理されません。おつなぎします。",
}


def objection_line(language: str) -> str:
    """What a caller who objected hears before the hand-back (English by default)."""
    return line_for(OBJECTION_LINES, language)


@dataclass(frozen=True, slots=True)
class CallPrivacy:
    """The restrictions in force for one call, and the number and name its row keeps."""

    kinds: frozenset[str]
    stored_number: str
    stored_name: str

    @property
    def record(self) -> bool:
        return not self.kinds & {"record", "store", "object"}

    @property
    def store(self) -> bool:
        """False: only the minimal row (no turns, events from the journal, slots)."""
        return "store" not in self.kinds

    @property
    def objected(self) -> bool:
        return "object" in self.kinds


async def caller_privacy(
    restrictions: CallerRestrictionRepository, org_id: int | None, caller_number: str,
    caller_name: str,
) -> CallPrivacy:
    """The caller's restrictions in ``org_id`` (none for an unknown number or no caller ID)."""
    if org_id is None or not caller_number.strip():
        return CallPrivacy(frozenset(), caller_number, caller_name)
    found = await restrictions.get(org_id, caller_number)
    kinds = found.kinds if found is not None else frozenset()
    if "store" in kinds:
        hashed = await restrictions.hashed_number(org_id, caller_number)
        return CallPrivacy(kinds, hashed, "")
    return CallPrivacy(kinds, caller_number, caller_name)


class PrivateTurnStore:
    """The call journal's store for a restricted caller: ``transcribe`` stores each turn's text
    as :data:`NOT_TRANSCRIBED` (and no meta: tool arguments would repeat the words); ``store``
    stores no turn and no journal event. Otherwise it passes everything through."""

    def __init__(self, inner: TurnStore, privacy: CallPrivacy) -> None:
        self._inner = inner
        self._privacy = privacy

    async def add_turn(self, call_id: int, turn: NewTurn) -> int:
        if not self._privacy.store:
            return 0
        if "transcribe" in self._privacy.kinds:
            turn = replace(turn, text=NOT_TRANSCRIBED, meta={})
        return await self._inner.add_turn(call_id, turn)

    async def add_event(
        self, call_id: int, kind: str, detail: dict[str, Any] | None = None
    ) -> int:
        if not self._privacy.store:
            return 0
        return await self._inner.add_event(call_id, kind, detail)


class DeclinableRecorder(StereoWavRecorder):
    """A call's recorder the caller can refuse mid-call (the opt-out key): once
    :meth:`decline` is called, audio is dropped, and :meth:`discard` closes and deletes the
    file, so none of the call is kept."""

    declined = False

    def decline(self) -> None:
        """Stop at once (on the event loop, where the pipeline writes): nothing more is written."""
        self.declined = True

    def write_caller(self, pcm: bytes, at_sample: int) -> None:
        if not self.declined:
            super().write_caller(pcm, at_sample)

    def write_assistant(self, pcm: bytes, at_sample: int) -> None:
        if not self.declined:
            super().write_assistant(pcm, at_sample)

    def discard(self) -> None:
        """Close and delete what was recorded (blocking: run it in a thread)."""
        info = self.close()
        with contextlib.suppress(FileNotFoundError):
            Path(info.path).unlink()


class DeclineStore(Protocol):
    """The part of a call repository a declined recording needs."""

    async def add_event(
        self, call_id: int, kind: str, detail: dict[str, Any] | None = None
    ) -> int: ...

    async def decline_recording(self, call_id: int) -> bool: ...


async def record_declined(
    calls: DeclineStore, call_id: int, delete: Callable[[], object], how: str
) -> None:
    """The caller refused the recording (``how``: "key 9", "said"): ``delete`` removes what was
    recorded (blocking: it runs on a worker thread; if it fails, that is logged and put on the
    call's timeline as an ``error`` event), then the row is marked ``recording_declined`` and
    the timeline gets a ``recording_declined`` event."""
    try:
        await asyncio.to_thread(delete)
    except OSError as exc:
        log.error("call %s: the declined recording could not be deleted: %s", call_id, exc)
        await calls.add_event(call_id, "error",
                              {"message": f"declined recording not deleted: {exc}"})
    await calls.decline_recording(call_id)
    await calls.add_event(call_id, "recording_declined", {"how": how})
