"""The wizard's test call through the PBX, step by step (admin.pbx_call_progress, pure)."""

from __future__ import annotations

from admin.pbx_call_progress import progress_of

ROW = {"uid": "c1", "status": "in_progress", "answered_at": None, "end_reason": ""}
TURNS = [{"speaker": "assistant", "text": "Hello."}, {"speaker": "caller", "text": "Hi."}]


def test_before_the_call_service_has_the_call_the_pbx_says() -> None:
    ringing = progress_of(None, [], "Ring")
    assert (ringing.state, ringing.call_uid) == ("ringing", None)
    assert "Ring" in ringing.detail
    gone = progress_of(None, [], None)
    assert (gone.state, gone.status, gone.end_reason) == ("ended", "failed", "not_taken")
    assert "callwright serve" in gone.detail
    unknown = progress_of(None, [], None, pbx_error="connection refused")
    assert unknown.state == "unknown" and "connection refused" in unknown.detail


def test_the_row_says_answered_turns_and_outcome() -> None:
    assert progress_of(ROW, [], None).state == "ringing"
    answered = progress_of({**ROW, "answered_at": "2027-01-01T00:00:00.000Z"}, TURNS, None)
    assert answered.state == "answered" and answered.call_uid == "c1"
    assert answered.turns == (("assistant", "Hello."), ("caller", "Hi."))
    assert "2 turn(s)" in answered.detail
    ended = progress_of({**ROW, "status": "completed", "end_reason": "setup_test"}, TURNS[:1],
                        "Up")
    assert (ended.state, ended.status, ended.end_reason) == ("ended", "completed", "setup_test")
    assert ended.to_json()["turns"] == [{"speaker": "assistant", "text": "Hello."}]
    assert not ended.answered  # ended without answered_at: never answered
    assert progress_of({**ROW, "status": "completed", "answered_at": "t"}, [], None).answered
    assert "Ended: completed (setup_test)" in ended.detail
