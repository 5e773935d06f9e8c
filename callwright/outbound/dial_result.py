"""What became of an outbound attempt, from what the PBX reported (sans-IO).

The adapter feeds a :class:`DialTracker` the facts as they arrive (ARI ``Dial`` statuses, the
answer, ``ChannelDestroyed`` with its cause, an AMD result; or the AMI ``OriginateResponse``
reason) and reads a :class:`DialResult`. The mapping follows what Asterisk 22.10.1 was seen to
report (tests/asterisk22/asterisk-facts/outbound-ami/README.md):

* ``Dial BUSY`` / destroyed with 17 "User busy" -> ``busy``;
* ``Dial CONGESTION`` / 34 -> ``congestion``;
* destroyed with 19 "User alerting, no answer" and no answer (there is no ``NOANSWER`` Dial
  event on an originate's timeout) -> ``no_answer``;
* destroyed before any answer with another cause (0 "Unknown" for a missing extension or
  context, an allocation failure) -> ``failed``;
* answered -> ``answered``, or ``machine`` when AMD says ``MACHINE``.

Ring time is from the start of the attempt to the answer (or to the end of an unanswered one).
"""

from __future__ import annotations

from dataclasses import dataclass

OUTCOMES = ("answered", "busy", "no_answer", "congestion", "failed", "machine")
#: Outcomes a campaign retries (with backoff).
RETRYABLE = ("busy", "no_answer", "congestion", "failed")

#: Q.850 causes Asterisk reports, with the text it gives them.
CAUSE_TEXT = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    3: "No route to destination",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    21: "Call Rejected",
    27: "Destination out of order",
    28: "Invalid number format (addr incomplete)",
    34: "Circuit/channel congestion",
    38: "Network out of order",
}

#: Q.850 cause names (as FreeSWITCH reports them: ``-ERR USER_BUSY``, ``Hangup-Cause``) ->
#: cause code, so an originate's failure maps to the same outcomes as Asterisk's causes.
Q850_BY_NAME = {
    "UNALLOCATED_NUMBER": 1,
    "NO_ROUTE_TRANSIT_NET": 2,
    "NO_ROUTE_DESTINATION": 3,
    "NORMAL_CLEARING": 16,
    "USER_BUSY": 17,
    "NO_USER_RESPONSE": 18,
    "NO_ANSWER": 19,
    "SUBSCRIBER_ABSENT": 20,
    "CALL_REJECTED": 21,
    "NUMBER_CHANGED": 22,
    "DESTINATION_OUT_OF_ORDER": 27,
    "INVALID_NUMBER_FORMAT": 28,
    "NORMAL_UNSPECIFIED": 31,
    "NORMAL_CIRCUIT_CONGESTION": 34,
    "NETWORK_OUT_OF_ORDER": 38,
    "NORMAL_TEMPORARY_FAILURE": 41,
    "SWITCH_CONGESTION": 42,
}

#: AMI OriginateResponse ``Reason`` codes (ami-originate-outcomes.txt) -> outcome, cause.
AMI_REASONS = {
    4: ("answered", 16),
    5: ("busy", 17),
    8: ("congestion", 34),
    3: ("no_answer", 19),
    0: ("failed", 0),
    1: ("failed", 0),
}


@dataclass(frozen=True, slots=True)
class DialResult:
    outcome: str
    cause: int | None
    cause_text: str
    ring_ms: int | None
    amd_status: str = ""
    amd_cause: str = ""

    @property
    def answered(self) -> bool:
        return self.outcome in ("answered", "machine")

    def call_status(self) -> tuple[str, str]:
        """The call row's (status, end_reason) for an attempt that ended without a
        conversation (an answered call's row is closed by its session)."""
        if self.answered:
            return "completed", self.outcome
        detail = f"{self.outcome} (cause {self.cause} {self.cause_text})".strip()
        return "failed", detail if self.cause is not None else self.outcome


class DialTracker:
    """One attempt's facts; times are seconds on any monotonic clock."""

    def __init__(self, started: float) -> None:
        self._started = started
        self._status = ""
        self._answered_at: float | None = None
        self._ended_at: float | None = None
        self._cause: int | None = None
        self._amd = ("", "")
        self._error = ""

    def on_dial(self, dialstatus: str) -> None:
        if dialstatus:
            self._status = dialstatus.upper()

    def on_answer(self, at: float) -> None:
        if self._answered_at is None:
            self._answered_at = at

    def on_amd(self, status: str, cause: str) -> None:
        self._amd = (status.upper(), cause)

    def on_end(self, cause: int | None, at: float) -> None:
        if self._ended_at is None:
            self._ended_at = at
            self._cause = cause

    def on_error(self, message: str, at: float) -> None:
        """The PBX refused the attempt (an HTTP error, an unknown technology)."""
        self._error = message
        self.on_end(None, at)

    @property
    def answered(self) -> bool:
        return self._answered_at is not None

    @property
    def ended(self) -> bool:
        return self._ended_at is not None

    def result(self) -> DialResult:
        ring_end = self._answered_at if self._answered_at is not None else self._ended_at
        ring_ms = None if ring_end is None else max(0, round((ring_end - self._started) * 1000))
        status, cause = self._amd
        if self._answered_at is not None:
            outcome = "machine" if status == "MACHINE" else "answered"
            return DialResult(outcome, None, "", ring_ms, status, cause)
        cause_no = self._cause
        if self._error:
            return DialResult("failed", None, self._error, ring_ms)
        if self._status == "BUSY" or cause_no == 17:
            outcome = "busy"
        elif self._status == "CONGESTION" or cause_no == 34:
            outcome = "congestion"
        elif cause_no in (18, 19):
            outcome = "no_answer"
        else:
            outcome = "failed"
        # Busy/congestion: the ;1 half ends with cause 0; report the far end's cause.
        if outcome == "busy" and cause_no in (0, None):
            cause_no = 17
        if outcome == "congestion" and cause_no in (0, None):
            cause_no = 34
        text = CAUSE_TEXT.get(cause_no, "") if cause_no is not None else ""
        return DialResult(outcome, cause_no, text, ring_ms)


def from_cause_name(name: str, tracker: DialTracker, at: float) -> None:
    """Feed ``tracker`` the end of an unanswered attempt whose cause came as a Q.850 name
    (FreeSWITCH's ``-ERR NO_ANSWER``); a name that is no Q.850 cause (``CHAN_NOT_IMPLEMENTED``,
    ``ORIGINATOR_CANCEL``) fails the attempt with the name as the reason."""
    code = Q850_BY_NAME.get(name.strip().upper())
    if code is None:
        tracker.on_error(name.strip() or "no cause given", at)
    else:
        tracker.on_end(code, at)


def from_ami_reason(reason: int, ring_ms: int | None) -> DialResult:
    """The result of an AMI Originate from its OriginateResponse ``Reason``."""
    outcome, cause = AMI_REASONS.get(reason, ("failed", 0))
    if outcome == "answered":
        return DialResult("answered", None, "", ring_ms)
    return DialResult(outcome, cause, CAUSE_TEXT.get(cause, ""), ring_ms)
