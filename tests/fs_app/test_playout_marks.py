"""Marks before each utterance, and the playout lag they measure."""

from __future__ import annotations

from fs_app.playout_marks import PlayoutMarks

QUIET = bytes(320)
LOUD = (b"\x00\x10" * 160)


def test_a_mark_goes_before_each_utterance_and_measures_its_lag() -> None:
    now = [0.0]
    sent: list[str] = []
    marks = PlayoutMarks(sent.append, lambda: now[0], quiet_frames=3)
    for frame in [LOUD, LOUD, QUIET, LOUD, QUIET, QUIET, QUIET, LOUD, LOUD]:
        marks.before_frame(frame)
    assert sent == ["u1", "u2"]  # a 1-frame pause is not a new utterance
    now[0] = 0.16
    marks.reported("u1", "playout")
    marks.reported("u2", "cleared")
    marks.reported("u9", "playout")  # not ours: ignored
    assert marks.figures() == {"marks_played": 1, "marks_cleared": 1,
                               "playout_lag_ms_p50": 160.0, "playout_lag_ms_max": 160.0}


def test_no_utterance_no_figures() -> None:
    marks = PlayoutMarks(lambda name: None, lambda: 0.0)
    marks.before_frame(QUIET)
    assert marks.figures()["playout_lag_ms_p50"] is None
