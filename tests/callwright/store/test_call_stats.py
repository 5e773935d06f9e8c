from __future__ import annotations

from callwright.store.call_stats import aggregate


def test_aggregate_sums_per_org_assistant_day_and_status() -> None:
    calls = [
        (1, 5, "2027-01-02T10:00:00.000Z", "completed", 1000, 0, 4),
        (1, 5, "2027-01-02T23:00:00.000Z", "completed", None, 0, 0),
        (1, None, "2027-01-02T10:00:00.000Z", "failed", 3000, 0, 1),
        (None, None, "2027-01-02T10:00:00.000Z", "completed", 9, 0, 9),  # no org: left out
        (1, 5, "2027-01-02T10:00:00.000Z", "completed", 9, 1, 9),  # test call: left out
    ]
    turns_only = [(1, 5, "2027-01-03T10:00:00.000Z", "completed", 500, 0, 6),
                  (1, 5, "2027-01-03T10:00:00.000Z", "completed", 500, 0, 0)]
    assert aggregate(calls, turns_only) == {
        (1, 5, "2027-01-02", "completed"): [2, 1000, 1, 4],
        (1, 0, "2027-01-02", "failed"): [1, 3000, 1, 1],
        (1, 5, "2027-01-03", "completed"): [0, 0, 0, 6],
    }
