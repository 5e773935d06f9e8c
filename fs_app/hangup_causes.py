"""FreeSWITCH hang-up causes, as our call outcomes see them."""

from __future__ import annotations

from callwright.call.outcome import CallOutcome

#: Causes that mean the caller's side ended the call normally.
CALLER_ENDED = frozenset({"NORMAL_CLEARING", "ORIGINATOR_CANCEL", "USER_BUSY", "CALL_REJECTED",
                          "NO_ANSWER", "NO_USER_RESPONSE"})


def outcome_for_cause(cause: str) -> CallOutcome:
    """The call's outcome when FreeSWITCH hung our channel up with ``cause`` (not at our request):
    the caller leaving is ``completed/caller_hangup``; anything else (the switch shutting down,
    a network or media failure) is ``failed`` with the cause."""
    if cause in CALLER_ENDED:
        return CallOutcome("completed", "caller_hangup")
    return CallOutcome("failed", f"pbx_hangup: {cause}")
