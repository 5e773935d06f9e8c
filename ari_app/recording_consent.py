"""The recording's consent on an Asterisk call (ARI, AudioSocket, recovery): the consent notice
and its decline phrases (:func:`with_consent`), the opt-out key (:func:`is_optout_key`), and what
a refusal does (:func:`decline_recording`, :func:`decline_prior_recording`). The recorder the
caller can refuse is :class:`callwright.privacy.call_privacy.DeclinableRecorder`."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path

from ari_app.services import SessionServices
from callwright.dialog.actions import DialogEngine
from callwright.dialog.consent import ConsentDialog, notice_text
from callwright.privacy.call_privacy import DeclinableRecorder, record_declined
from callwright.store.assistants import Assistant

log = logging.getLogger(__name__)


async def decline_recording(
    svc: SessionServices, call_id: int, recorder: DeclinableRecorder, how: str
) -> None:
    """The caller refused the recording (``how``: "key 9", "said"): the recording stops now, its
    file is deleted, the row is marked ``recording_declined`` and the timeline gets a
    ``recording_declined`` event."""
    recorder.decline()
    await record_declined(svc.calls, call_id, recorder.discard, how)


async def decline_prior_recording(
    svc: SessionServices, call_id: int, path: Path, how: str
) -> None:
    """A resumed call's caller refused the recording (:mod:`ari_app.recovery`): what was recorded
    before the restart (``path``, the file the previous run left) is deleted, the row is marked
    ``recording_declined`` and the timeline gets a ``recording_declined`` event, as on the call's
    first run."""
    await record_declined(svc.calls, call_id, functools.partial(path.unlink, missing_ok=True),
                          how)


def is_optout_key(svc: SessionServices, digit: str) -> bool:
    """``digit`` is the opt-out key ([recordings] optout_digit; "" turns the key off)."""
    optout = svc.settings.recordings.optout_digit
    return bool(optout) and digit == optout


async def with_consent(
    svc: SessionServices, assistant: Assistant, dialog: DialogEngine,
    on_decline: Callable[[], None], *, notice: bool = True,
) -> DialogEngine:
    """``dialog`` opened by the consent notice (the assistant's, else the org's) and listening
    for the decline phrases, for a recorded call on any call path (ARI, AudioSocket, recovery).
    ``notice`` False (a resumed call: the caller heard it before the restart): no notice, the
    phrases still heard. Without any notice configured, ``dialog`` unchanged, as before."""
    org = await svc.orgs.get(assistant.org_id)
    text = notice_text(assistant.consent_prompt, org.consent_prompt)
    if not text:
        return dialog
    return ConsentDialog(
        dialog, text if notice else "", language=assistant.language, on_decline=on_decline,
        privacy_notice=org.privacy_notice,
        notice_digit=svc.settings.recordings.notice_digit,
    )
