"""Retention rules, pure: given an org's policies, the time and some calls, what must go.

Three clocks run for every call, from its ``started_at``:

- ``recording_days``: past it, the recording file is deleted and ``recording_path`` cleared;
- ``transcript_days``: past it, the call's turns are deleted (the rows, not just their text: a
  turn's timings and meta say what was said, and keeping empty rows would look like a transcript
  that exists), and the slots the dialog collected from them are cleared;
- ``metadata_days``: past it, the whole call goes: row, turns, events, notes and recording;
- ``notes_days`` (optional, None: the notes go with the call): past it, the call's notes go;
- ``webhook_log_days`` (optional, None: with the call): past it, the call's webhook deliveries
  that are no longer pending (the delivery log, which copies the call) go.

An assistant's own policy replaces the org's for that assistant's calls (all three values, as
:meth:`~callwright.store.retention.RetentionRepository.effective` resolves it). A call on legal
hold is never touched, and neither is a call still in progress. A call is expired for a clock when
it started strictly before ``now - days``.

Nothing here does I/O; :mod:`callwright.privacy.retention_job` feeds it rows from the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from callwright.store.clock import format_iso, parse_iso
from callwright.store.retention import (
    DEFAULT_METADATA_DAYS,
    DEFAULT_RECORDING_DAYS,
    DEFAULT_TRANSCRIPT_DAYS,
)


@dataclass(frozen=True, slots=True)
class Policy:
    metadata_days: int = DEFAULT_METADATA_DAYS
    transcript_days: int = DEFAULT_TRANSCRIPT_DAYS
    recording_days: int = DEFAULT_RECORDING_DAYS
    notes_days: int | None = None
    webhook_log_days: int | None = None

    def periods(self) -> list[int]:
        """Every period of the policy that is set."""
        return [d for d in (self.metadata_days, self.transcript_days, self.recording_days,
                            self.notes_days, self.webhook_log_days) if d is not None]

    def __post_init__(self) -> None:
        for days in self.periods():
            if days < 1:
                raise ValueError(f"retention periods are at least one day, got {days}")


@dataclass(frozen=True, slots=True)
class OrgPolicies:
    """The policies of one org (``org_id`` None: calls to unknown numbers, built-in defaults)."""

    org_id: int | None
    default: Policy = field(default_factory=Policy)
    by_assistant: Mapping[int, Policy] = field(default_factory=dict)

    def for_assistant(self, assistant_id: int | None) -> Policy:
        if assistant_id is not None and assistant_id in self.by_assistant:
            return self.by_assistant[assistant_id]
        return self.default

    def all(self) -> list[Policy]:
        return [self.default, *self.by_assistant.values()]


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """Calls that started before these moments are expired for that clock."""

    metadata: datetime
    transcript: datetime
    recording: datetime


def cutoffs(policy: Policy, now: datetime) -> Cutoffs:
    return Cutoffs(
        metadata=now - timedelta(days=policy.metadata_days),
        transcript=now - timedelta(days=policy.transcript_days),
        recording=now - timedelta(days=policy.recording_days),
    )


def scan_cutoff(policies: OrgPolicies, now: datetime) -> str:
    """The newest cutoff any rule of the org uses, in the store's text form: calls that started
    at or after it have nothing to delete, so the job never reads them."""
    shortest = min(min(p.periods()) for p in policies.all())
    return format_iso(now - timedelta(days=shortest))


def metadata_scan_cutoff(policies: OrgPolicies, now: datetime) -> str:
    """The newest metadata cutoff of the org: older calls may have to go entirely."""
    shortest = min(p.metadata_days for p in policies.all())
    return format_iso(now - timedelta(days=shortest))


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What the rules need to know about a call."""

    id: int
    assistant_id: int | None
    started_at: str
    status: str
    legal_hold: bool
    recording_path: str | None
    has_turns: bool
    has_slots: bool = False
    has_notes: bool = False
    has_deliveries: bool = False  # webhook deliveries no longer pending


@dataclass(frozen=True, slots=True)
class RetentionPlan:
    """Call ids by what happens to them. A deleted call (which loses its transcript and recording
    with it) is in no other list; a kept call may lose both its transcript and its recording."""

    delete_calls: tuple[int, ...] = ()
    delete_transcripts: tuple[int, ...] = ()  # kept calls: turns deleted, slots cleared
    delete_recordings: tuple[int, ...] = ()  # kept calls: file deleted, path cleared
    held: tuple[int, ...] = ()  # on legal hold, with something expired: untouched
    delete_notes: tuple[int, ...] = ()  # kept calls: notes deleted
    delete_deliveries: tuple[int, ...] = ()  # kept calls: finished webhook deliveries deleted

    @property
    def empty(self) -> bool:
        return not (self.delete_calls or self.delete_transcripts or self.delete_recordings
                    or self.delete_notes or self.delete_deliveries)


def decide(call: CallFacts, policy: Policy, now: datetime) -> tuple[bool, bool, bool]:
    """(delete the call, delete its transcript, delete its recording), ignoring legal hold."""
    if call.status == "in_progress":
        return (False, False, False)
    limits = cutoffs(policy, now)
    started = parse_iso(call.started_at)
    if started < limits.metadata:
        return (True, call.has_turns or call.has_slots, call.recording_path is not None)
    transcript = started < limits.transcript and (call.has_turns or call.has_slots)
    recording = started < limits.recording and call.recording_path is not None
    return (False, transcript, recording)


def decide_logs(call: CallFacts, policy: Policy, now: datetime) -> tuple[bool, bool]:
    """(delete its notes, delete its finished webhook deliveries) for a call that is kept,
    ignoring legal hold."""
    if call.status == "in_progress":
        return (False, False)
    started = parse_iso(call.started_at)
    notes = (policy.notes_days is not None and call.has_notes
             and started < now - timedelta(days=policy.notes_days))
    deliveries = (policy.webhook_log_days is not None and call.has_deliveries
                  and started < now - timedelta(days=policy.webhook_log_days))
    return (notes, deliveries)


def plan(policies: OrgPolicies, now: datetime, calls: Iterable[CallFacts]) -> RetentionPlan:
    """What to delete among ``calls`` (all of the org ``policies`` belongs to)."""
    delete_calls: list[int] = []
    transcripts: list[int] = []
    recordings: list[int] = []
    held: list[int] = []
    notes: list[int] = []
    deliveries: list[int] = []
    for call in calls:
        policy = policies.for_assistant(call.assistant_id)
        whole, transcript, recording = decide(call, policy, now)
        old_notes, old_deliveries = decide_logs(call, policy, now)
        if not (whole or transcript or recording or old_notes or old_deliveries):
            continue
        if call.legal_hold:
            held.append(call.id)
        elif whole:
            delete_calls.append(call.id)
        else:
            if transcript:
                transcripts.append(call.id)
            if recording:
                recordings.append(call.id)
            if old_notes:
                notes.append(call.id)
            if old_deliveries:
                deliveries.append(call.id)
    return RetentionPlan(
        delete_calls=tuple(delete_calls), delete_transcripts=tuple(transcripts),
        delete_recordings=tuple(recordings), held=tuple(held), delete_notes=tuple(notes),
        delete_deliveries=tuple(deliveries),
    )
