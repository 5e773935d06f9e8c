"""Outcomes mapped from what Asterisk reports (outbound-ami/README.md)."""

from __future__ import annotations

import pytest

from callwright.outbound.dial_result import (
    CAUSE_TEXT,
    DialTracker,
    from_ami_reason,
    from_cause_name,
)


def test_busy_reported_by_dial_with_cause_0_on_our_half() -> None:
    t = DialTracker(10.0)
    t.on_dial("")
    t.on_dial("BUSY")
    t.on_end(0, 10.003)
    r = t.result()
    assert (r.outcome, r.cause, r.cause_text, r.ring_ms) == ("busy", 17, "User busy", 3)
    assert r.call_status() == ("failed", "busy (cause 17 User busy)")


def test_congestion_no_answer_and_invalid() -> None:
    t = DialTracker(0.0)
    t.on_dial("CONGESTION")
    t.on_end(0, 0.001)
    assert (t.result().outcome, t.result().cause) == ("congestion", 34)
    t = DialTracker(0.0)
    t.on_dial("RINGING")
    t.on_end(19, 5.0)
    r = t.result()
    assert (r.outcome, r.cause, r.cause_text, r.ring_ms) == (
        "no_answer", 19, "User alerting, no answer", 5000)
    t = DialTracker(0.0)
    t.on_end(0, 0.001)
    assert (t.result().outcome, t.result().cause_text) == ("failed", "Unknown")
    t = DialTracker(0.0)
    t.on_error("500 Allocation failed", 0.0)
    assert (t.result().outcome, t.result().cause_text) == ("failed", "500 Allocation failed")


def test_answered_and_machine() -> None:
    t = DialTracker(0.0)
    t.on_dial("ANSWER")
    t.on_answer(1.25)
    t.on_end(16, 9.0)  # the end of an answered call does not change its outcome
    assert (t.result().outcome, t.result().ring_ms) == ("answered", 1250)
    t.on_amd("MACHINE", "INITIALSILENCE-2500-2500")
    r = t.result()
    assert (r.outcome, r.amd_status, r.amd_cause) == ("machine", "MACHINE",
                                                      "INITIALSILENCE-2500-2500")
    assert r.answered and r.call_status() == ("completed", "machine")


def test_ami_reasons() -> None:
    assert [from_ami_reason(n, None).outcome for n in (4, 5, 8, 3, 0, 99)] == [
        "answered", "busy", "congestion", "no_answer", "failed", "failed"]


@pytest.mark.parametrize(("name", "outcome", "cause"), [
    ("USER_BUSY", "busy", 17), ("NO_ANSWER", "no_answer", 19),
    ("NO_USER_RESPONSE", "no_answer", 18), ("CALL_REJECTED", "failed", 21),
    ("UNALLOCATED_NUMBER", "failed", 1), ("NORMAL_CIRCUIT_CONGESTION", "congestion", 34),
    ("NO_ROUTE_DESTINATION", "failed", 3), ("NORMAL_CLEARING", "failed", 16),
    ("CHAN_NOT_IMPLEMENTED", "failed", None),
])
def test_cause_names_map_to_the_outcomes_of_their_q850_codes(
    name: str, outcome: str, cause: int | None,
) -> None:
    tracker = DialTracker(10.0)
    from_cause_name(name, tracker, 12.5)
    result = tracker.result()
    assert (result.outcome, result.cause, result.ring_ms) == (outcome, cause, 2500)
    if cause is None:
        assert result.cause_text == name  # not a Q.850 cause: its name is the reason
    else:
        assert result.cause_text == CAUSE_TEXT.get(cause, "")
