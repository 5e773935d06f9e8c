"""Where the setup wizard's test call through the PBX has got to (pure: no I/O).

The wizard places ``Local/<number>@callwright-inbound`` with its own half in the app
(:data:`admin.setup_checks.TEST_CALL_PREFIX`) and names the dialplan's half
(:func:`admin.setup_checks.caller_half`), the one the call service takes as a caller. The page
polls the progress: before the call service has the call, the PBX says whether its own half
still rings; once the call has a row, the row says the rest (answered, the turns so far, how it
ended).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: The states the page shows, in order; ``unknown``: the PBX could not be asked (try again).
STATES = ("ringing", "answered", "ended", "unknown")


@dataclass(frozen=True, slots=True)
class CallProgress:
    state: str
    detail: str
    call_uid: str | None = None
    status: str = ""
    end_reason: str = ""
    #: (speaker, text) of each turn so far.
    turns: tuple[tuple[str, str], ...] = ()
    #: The assistant answered (an ended call may not have been).
    answered: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state, "detail": self.detail, "call_uid": self.call_uid,
            "status": self.status, "end_reason": self.end_reason,
            "turns": [{"speaker": s, "text": t} for s, t in self.turns],
            "answered": self.answered,
        }


def progress_of(
    call: Mapping[str, Any] | None, turns: Sequence[Mapping[str, Any]],
    channel_state: str | None, *, pbx_error: str = "",
) -> CallProgress:
    """``call``: the call's row (None before the call service has written it); ``turns``: its
    turns in order; ``channel_state``: the state the PBX reports for the wizard's own half
    (None: the channel is gone), read only while there is no row; ``pbx_error``: why the PBX
    could not be asked."""
    if call is None:
        if pbx_error:
            return CallProgress("unknown", f"The PBX could not be asked: {pbx_error}")
        if channel_state is None:
            return CallProgress(
                "ended", "The PBX ended the call before an assistant took it: is the call "
                "service (callwright serve) running, the extensions.conf snippet loaded and "
                "the number dialled routed to Callwright?", status="failed",
                end_reason="not_taken")
        return CallProgress("ringing", f"The PBX is ringing the assistant (channel state: "
                                       f"{channel_state}).")
    said = tuple((str(t["speaker"]), str(t["text"])) for t in turns)
    uid, status = str(call["uid"]), str(call["status"])
    reason = str(call.get("end_reason") or "")
    answered = call.get("answered_at") is not None
    if status != "in_progress":
        return CallProgress("ended", f"Ended: {status}" + (f" ({reason})" if reason else "")
                            + f", after {len(said)} turn(s).", uid, status, reason, said,
                            answered)
    if not answered:
        return CallProgress("ringing", "The assistant has the call and is answering.", uid,
                            status, reason, said)
    return CallProgress("answered", f"Answered: {len(said)} turn(s) so far.", uid, status,
                        reason, said, answered)
