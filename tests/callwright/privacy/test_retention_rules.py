from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callwright.privacy.retention_rules import (
    CallFacts,
    OrgPolicies,
    Policy,
    decide,
    metadata_scan_cutoff,
    plan,
    scan_cutoff,
)
from callwright.store.clock import format_iso

NOW = datetime(2027, 3, 1, 12, 0, 0, tzinfo=UTC)
POLICY = Policy(metadata_days=365, transcript_days=180, recording_days=30)


def facts(
    call_id: int = 1,
    *,
    age_days: float,
    assistant_id: int | None = None,
    legal_hold: bool = False,
    recording: bool = True,
    turns: bool = True,
    slots: bool = False,
    status: str = "completed",
) -> CallFacts:
    return CallFacts(
        id=call_id, assistant_id=assistant_id,
        started_at=format_iso(NOW - timedelta(days=age_days)), status=status,
        legal_hold=legal_hold, recording_path=f"/rec/{call_id}.wav" if recording else None,
        has_turns=turns, has_slots=slots,
    )


@pytest.mark.parametrize(
    ("age_days", "expected"),
    [
        (1, (False, False, False)),
        (29.9, (False, False, False)),
        (30.01, (False, False, True)),
        (180.01, (False, True, True)),
        (365.01, (True, True, True)),
        (5000, (True, True, True)),
    ],
)
def test_each_clock_expires_its_own_data(age_days: float, expected: tuple[bool, ...]) -> None:
    assert decide(facts(age_days=age_days), POLICY, NOW) == expected


def test_exactly_at_the_cutoff_is_kept() -> None:
    assert decide(facts(age_days=30), POLICY, NOW) == (False, False, False)
    assert decide(facts(age_days=30, recording=True), POLICY,
                  NOW + timedelta(milliseconds=1)) == (False, False, True)


def test_nothing_to_delete_means_no_action() -> None:
    bare = facts(age_days=200, recording=False, turns=False)
    assert decide(bare, POLICY, NOW) == (False, False, False)
    assert decide(facts(age_days=200, recording=False, turns=False, slots=True), POLICY,
                  NOW) == (False, True, False)


def test_calls_in_progress_are_never_touched() -> None:
    assert decide(facts(age_days=900, status="in_progress"), POLICY, NOW) == (False, False, False)
    assert plan(OrgPolicies(1, POLICY), NOW, [facts(age_days=900, status="in_progress")]).empty


def test_plan_sorts_calls_by_what_happens_to_them() -> None:
    calls = [
        facts(1, age_days=10),
        facts(2, age_days=40),
        facts(3, age_days=200),
        facts(4, age_days=400),
        facts(5, age_days=400, legal_hold=True),
        facts(6, age_days=40, legal_hold=True),
        facts(7, age_days=10, legal_hold=True),
        facts(8, age_days=200, recording=False),
    ]
    result = plan(OrgPolicies(1, POLICY), NOW, calls)
    assert result.delete_calls == (4,)
    assert result.delete_transcripts == (3, 8)
    assert result.delete_recordings == (2, 3)
    assert result.held == (5, 6)
    assert not result.empty


def test_an_assistant_policy_overrides_the_org_default() -> None:
    short = Policy(metadata_days=20, transcript_days=10, recording_days=5)
    policies = OrgPolicies(1, POLICY, {7: short})
    result = plan(policies, NOW, [facts(1, age_days=25, assistant_id=7),
                                  facts(2, age_days=25, assistant_id=8),
                                  facts(3, age_days=25, assistant_id=None)])
    assert result.delete_calls == (1,)
    assert result.delete_recordings == ()
    longer = OrgPolicies(1, short, {7: POLICY})
    result = plan(longer, NOW, [facts(1, age_days=25, assistant_id=7),
                                facts(2, age_days=25, assistant_id=8)])
    assert result.delete_calls == (2,)


def test_scan_cutoffs_use_the_shortest_period_of_any_policy() -> None:
    policies = OrgPolicies(1, POLICY, {3: Policy(400, 300, 7), 4: Policy(100, 50, 40)})
    assert scan_cutoff(policies, NOW) == format_iso(NOW - timedelta(days=7))
    assert metadata_scan_cutoff(policies, NOW) == format_iso(NOW - timedelta(days=100))
    assert scan_cutoff(OrgPolicies(None), NOW) == format_iso(NOW - timedelta(days=90))


def test_policies_refuse_zero_days() -> None:
    with pytest.raises(ValueError):
        Policy(metadata_days=0)


@given(
    age=st.floats(0, 2000),
    days=st.tuples(st.integers(1, 1000), st.integers(1, 1000), st.integers(1, 1000)),
    hold=st.booleans(),
    recording=st.booleans(),
    turns=st.booleans(),
)
def test_rules_invariants(
    age: float, days: tuple[int, int, int], hold: bool, recording: bool, turns: bool
) -> None:
    policy = Policy(*days)
    call = facts(age_days=age, legal_hold=hold, recording=recording, turns=turns)
    result = plan(OrgPolicies(1, policy), NOW, [call])
    touched = result.delete_calls + result.delete_transcripts + result.delete_recordings
    if hold:
        assert touched == ()
    if result.delete_calls:
        assert age > policy.metadata_days - 1e-6
        assert result.delete_transcripts == result.delete_recordings == ()
    if result.delete_recordings:
        assert recording and age > policy.recording_days - 1e-6
    if result.delete_transcripts:
        assert turns and age > policy.transcript_days - 1e-6
    if age < min(days) - 0.001:
        assert result.empty and result.held == ()
