"""The retention job: applies :mod:`callwright.privacy.retention_rules` to the store.

``await RetentionJob(db).run_once()`` sweeps every org (and the calls to unknown numbers, which
belong to no org and follow the built-in defaults), reading candidate calls in batches of at
most ``batch_size`` (oldest first, keyset-paged, only calls old enough for some rule of the org
and with something left to delete) and applying each batch's plan in its own short transaction
(the batch shrinks until that transaction takes about ``max_batch_s``, 20 ms) and yielding
between batches, so a store of a million calls never holds the single writer for long: a live
call's write waits for one short batch at most. While it deletes, WAL checkpoints run on a
connection of the job's own rather than inside one of the writer's commits (see
``CHECKPOINT_EVERY``), and the full-text index is merged in small steps of the job's own between
batches instead of inside them (see ``MERGE_PAGES``). Inside each batch's transaction its calls
are read again, so a legal hold set since the read is still respected; recording files are
deleted (in a worker thread) before the rows that reference them, and a file that cannot be
deleted keeps its reference (and its call) for the next run. Before a batch deletes calls or
turns, the same transaction adds them to the anonymous daily statistics
(:func:`callwright.store.call_stats.add_deleted`), so figures outlive their rows. Each run
appends one ``retention.run`` audit entry per org (actor ``system``) with the counts.

A call is held by its own legal hold (``calls.legal_hold``) or by a hold on its caller number in
its org (``legal_holds``, :mod:`callwright.store.legal_holds`). ``run_once(dry_run=True)`` walks
the same batches and counts what the run would delete (with the oldest start date per kind),
writing nothing.

Deleted turns leave their entries in the full-text index's segments until FTS merges rewrite them
(they are no longer searchable): the run's merge steps, then SQLite's automatic merges;
:func:`callwright.privacy.caller_data.erase_caller` forces that at once, because an erasure must
leave nothing behind.

The call service starts ``run_forever`` as a background task.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from callwright.errors import StoreError
from callwright.privacy.recording_crypto import remove_recording
from callwright.privacy.retention_rules import (
    CallFacts,
    OrgPolicies,
    Policy,
    RetentionPlan,
    metadata_scan_cutoff,
    plan,
    scan_cutoff,
)
from callwright.store.audit import AuditRepo
from callwright.store.call_stats import add_deleted
from callwright.store.clock import format_iso, utc_now
from callwright.store.db import Database
from callwright.store.engine import Connection
from callwright.store.legal_holds import HELD_SQL
from callwright.store.retention import RetentionRepository

log = logging.getLogger(__name__)

#: A purge transaction should hold the store's one writer about this long at most (live calls'
#: writes wait for it); batches shrink or grow towards it, between MIN_BATCH and batch_size.
MAX_BATCH_S = 0.02
MIN_BATCH = 10
#: While a run deletes, the writer does not checkpoint the WAL (a checkpoint inside one of its
#: commits would hold every live write behind it): the job checkpoints on its own connection
#: after this many batches, and gives the writer back SQLite's default at the end.
CHECKPOINT_EVERY = 20
DEFAULT_AUTOCHECKPOINT = 1000
#: FTS5 merges the transcript index's segments inside whichever write fills a level, and the
#: deletes of a purge write segments fast: measured (bench.fts_merges), such a merge inside one
#: batch costs 40-70 ms of CPU at 200,000-400,000 turns, growing with the index, and the live
#: writes bench.purge found slowest waited behind batches of that kind. While a run deletes
#: (SQLite only), FTS5's own merges are off (automerge 0, crisismerge out of reach) and the job
#: merges after each batch, in a transaction of its own, about this many pages; FTS5's defaults
#: are back at the end (a run killed midway leaves them off until the next run ends: searches
#: still work, on more segments).
MERGE_PAGES = 64
FTS_MERGE_DEFAULTS = {"automerge": 4, "crisismerge": 16}
FTS_MERGES_OFF = {"automerge": 0, "crisismerge": 2000}

_HAS_TURNS = "EXISTS (SELECT 1 FROM call_turns t WHERE t.call_id = c.id)"
_HAS_SLOTS = "c.slots NOT IN ('{}', '')"
_HAS_NOTES = "EXISTS (SELECT 1 FROM call_notes n WHERE n.call_id = c.id)"
_HAS_DELIVERIES = ("EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.call_id = c.id"
                   " AND d.status != 'pending')")
#: A call is held by its own hold (the flag) or by a hold on its caller number (migration 0016).
HELD = HELD_SQL
_CANDIDATES = (
    f"SELECT c.id, c.assistant_id, c.started_at, c.status, {HELD} AS legal_hold,"
    " c.recording_path,"
    f" {_HAS_TURNS} AS has_turns, {_HAS_SLOTS} AS has_slots,"
    f" (:notes_on AND {_HAS_NOTES}) AS has_notes,"
    f" (:logs_on AND {_HAS_DELIVERIES}) AS has_deliveries"
    " FROM calls c"
    " WHERE c.org_id IS :org AND c.started_at < :scan"
    " AND (c.started_at, c.id) > (:after_at, :after_id) AND c.status != 'in_progress'"
    f" AND (c.recording_path IS NOT NULL OR c.started_at < :meta OR {_HAS_SLOTS}"
    f" OR {_HAS_TURNS} OR (:notes_on AND {_HAS_NOTES}) OR (:logs_on AND {_HAS_DELIVERIES}))"
    " ORDER BY c.started_at, c.id LIMIT :limit"
)


@dataclass(slots=True)
class OrgRetentionCounts:
    """What one run did to one org (``org_id`` None: calls to unknown numbers)."""

    org_id: int | None
    calls_deleted: int = 0
    transcripts_deleted: int = 0  # kept calls whose turns were deleted
    turns_deleted: int = 0  # every turn row deleted, those of deleted calls included
    recordings_deleted: int = 0  # recording references removed, deleted calls included
    files_missing: int = 0  # of those, files that were already gone
    files_failed: int = 0  # files that could not be deleted: kept, retried next run
    held: int = 0  # calls on legal hold with something expired, left untouched
    notes_deleted: int = 0  # every note deleted, those of deleted calls included
    deliveries_deleted: int = 0  # finished webhook deliveries of kept calls, past their clock
    # started_at of the oldest call whose row / transcript / recording went (or would go):
    oldest_call: str | None = None
    oldest_transcript: str | None = None
    oldest_recording: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.calls_deleted or self.transcripts_deleted or self.recordings_deleted
                    or self.turns_deleted or self.files_failed or self.held)

    def detail(self) -> dict[str, Any]:
        counts = asdict(self)
        counts.pop("org_id")
        return counts


@dataclass(frozen=True, slots=True)
class RetentionReport:
    started_at: str
    finished_at: str
    orgs: tuple[OrgRetentionCounts, ...] = field(default=())

    def for_org(self, org_id: int | None) -> OrgRetentionCounts:
        for counts in self.orgs:
            if counts.org_id == org_id:
                return counts
        return OrgRetentionCounts(org_id)

    def total(self, name: str) -> int:
        return sum(int(getattr(counts, name)) for counts in self.orgs)


class RetentionJob:
    def __init__(
        self,
        db: Database,
        clock: Callable[[], datetime] = utc_now,
        *,
        batch_size: int = 500,
        max_batch_s: float | None = MAX_BATCH_S,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if max_batch_s is not None and max_batch_s <= 0:
            raise ValueError("max_batch_s must be positive (or None: batches of batch_size)")
        self._db = db
        self._clock = clock
        self._batch = batch_size
        self._max_batch_s = max_batch_s
        self._batches = 0
        self._audit = AuditRepo(db)

    async def run_once(self, *, dry_run: bool = False) -> RetentionReport:
        """One sweep over every org; returns the counts (also written to the audit log).

        ``dry_run``: change nothing and write no audit entry, only count what this run would
        delete (with the oldest start date per kind); recording files are not looked at, so a
        file that would fail to delete counts as deleted."""
        if not dry_run:
            await self._db.set_autocheckpoint(0)
            await self._fts_merges(FTS_MERGES_OFF)
            try:
                return await self._run(dry_run=False)
            finally:
                try:
                    await self._fts_merges(FTS_MERGE_DEFAULTS)
                    await self._db.set_autocheckpoint(DEFAULT_AUTOCHECKPOINT)
                    await self._db.checkpoint()
                except StoreError as exc:  # the run's own outcome (or error) matters more
                    log.warning("retention: could not restore WAL checkpoints or FTS merges: %s",
                                exc)
        return await self._run(dry_run=True)

    async def _run(self, *, dry_run: bool) -> RetentionReport:
        now = self._clock()
        started_at = format_iso(now)
        results: list[OrgRetentionCounts] = []
        for row in await self._db.fetch_all("SELECT id FROM orgs ORDER BY id"):
            org_id = int(row["id"])
            policies = await self._policies(org_id)
            counts = await self._sweep(policies, now, dry_run)
            results.append(counts)
            if dry_run:
                continue
            await self._audit.append(
                org_id=org_id, user_id=None, actor="system", action="retention.run",
                target=f"org:{org_id}",
                detail={**counts.detail(), "policy": _describe(policies)},
            )
        orphans = await self._sweep(OrgPolicies(None), now, dry_run)
        if orphans.changed and dry_run:
            results.append(orphans)
        elif orphans.changed:
            await self._audit.append(
                org_id=None, user_id=None, actor="system", action="retention.run",
                target="calls-without-org", detail=orphans.detail(),
            )
            results.append(orphans)
        return RetentionReport(started_at, format_iso(utc_now()), tuple(results))

    async def preview(self, org_id: int) -> OrgRetentionCounts:
        """The dry run of one org: what the next run would delete there (nothing is written)."""
        return await self._sweep(await self._policies(org_id), self._clock(), dry_run=True)

    async def run_forever(self, interval_s: float = 3600.0) -> None:
        """Run now, then every ``interval_s`` seconds, until cancelled. A failed run is logged
        and retried at the next interval."""
        while True:
            try:
                report = await self.run_once()
                log.info(
                    "retention: %d call(s), %d transcript(s), %d recording(s) deleted; %d held",
                    report.total("calls_deleted"), report.total("transcripts_deleted"),
                    report.total("recordings_deleted"), report.total("held"),
                )
            except Exception:  # the job's outermost boundary: keep the service's job alive
                log.exception("retention run failed; retrying in %.0f s", interval_s)
            await asyncio.sleep(interval_s)

    async def _policies(self, org_id: int) -> OrgPolicies:
        default = Policy()
        overrides: dict[int, Policy] = {}
        for stored in await RetentionRepository(self._db).list(org_id):
            policy = Policy(stored.metadata_days, stored.transcript_days, stored.recording_days,
                            stored.notes_days, stored.webhook_log_days)
            if stored.assistant_id is None:
                default = policy
            else:
                overrides[stored.assistant_id] = policy
        return OrgPolicies(org_id, default, overrides)

    async def _sweep(self, policies: OrgPolicies, now: datetime,
                     dry_run: bool = False) -> OrgRetentionCounts:
        counts = OrgRetentionCounts(policies.org_id)
        params: dict[str, Any] = {
            "org": policies.org_id, "scan": scan_cutoff(policies, now),
            "meta": metadata_scan_cutoff(policies, now), "after_at": "", "after_id": 0,
            "limit": self._batch,
            "notes_on": any(p.notes_days is not None for p in policies.all()),
            "logs_on": any(p.webhook_log_days is not None for p in policies.all()),
        }
        while True:
            rows = await self._db.fetch_all(_CANDIDATES, params)
            limit = params["limit"]
            if not rows:
                break
            facts = [
                CallFacts(
                    id=int(r["id"]), assistant_id=r["assistant_id"],
                    started_at=str(r["started_at"]), status=str(r["status"]),
                    legal_hold=bool(r["legal_hold"]), recording_path=r["recording_path"],
                    has_turns=bool(r["has_turns"]), has_slots=bool(r["has_slots"]),
                    has_notes=bool(r["has_notes"]), has_deliveries=bool(r["has_deliveries"]),
                )
                for r in rows
            ]
            params["after_at"], params["after_id"] = facts[-1].started_at, facts[-1].id
            decided = plan(policies, now, facts)
            counts.held += len(decided.held)
            if decided.empty:
                pass
            elif dry_run:
                await self._count(decided, facts, counts)
            else:
                started = time.perf_counter()
                await self._apply(decided, {f.id: f.started_at for f in facts}, counts)
                params["limit"] = self.next_limit(limit, time.perf_counter() - started)
                await self._merge_step()
                self._batches += 1
                if self._batches % CHECKPOINT_EVERY == 0:
                    await self._db.checkpoint()
            if len(rows) < limit:
                break
            await asyncio.sleep(0)  # let the call path's writes in between batches
        return counts

    @property
    def _fts5(self) -> bool:
        """The transcript index is SQLite's FTS5 (PostgreSQL's has no segments to merge)."""
        return self._db.engine == "sqlite"

    async def _fts_merges(self, settings: dict[str, int]) -> None:
        """Set FTS5's merge settings of the transcript index (kept in the index itself)."""
        if self._fts5:
            for name, value in settings.items():
                await self._db.execute(
                    "INSERT INTO call_turns_fts(call_turns_fts, rank) VALUES (?, ?)",
                    (name, value))

    async def _merge_step(self) -> None:
        """About ``MERGE_PAGES`` pages of the index's merging, in a short write of its own."""
        if self._fts5:
            await self._db.execute(
                "INSERT INTO call_turns_fts(call_turns_fts, rank) VALUES ('merge', ?)",
                (MERGE_PAGES,))

    def next_limit(self, limit: int, took_s: float) -> int:
        """The size of the next batch: one whose transaction should take about
        ``max_batch_s`` at the pace of the last one (halfway there, between ``MIN_BATCH`` and
        ``batch_size``), so the writer is never held long whatever the store's speed."""
        if self._max_batch_s is None or took_s <= 0:
            return self._batch
        wanted = int(limit * self._max_batch_s / took_s)
        return max(min(MIN_BATCH, self._batch), min(self._batch, (limit + wanted) // 2))

    async def _count(self, decided: RetentionPlan, facts: Sequence[CallFacts],
                     counts: OrgRetentionCounts) -> None:
        """What :meth:`_apply` would do to this batch, counted without a write."""
        by_id = {f.id: f for f in facts}
        calls, turns = decided.delete_calls, decided.delete_transcripts
        recordings = [*(i for i in calls if by_id[i].recording_path is not None),
                      *decided.delete_recordings]
        counts.calls_deleted += len(calls)
        counts.transcripts_deleted += len(turns)
        counts.recordings_deleted += len(recordings)
        if calls or turns:
            ids = [*calls, *turns]
            marks = ",".join("?" * len(ids))
            counts.turns_deleted += int(await self._db.fetch_value(
                f"SELECT count(*) FROM call_turns WHERE call_id IN ({marks})", ids))
        if calls or decided.delete_notes:
            ids = [*calls, *decided.delete_notes]
            marks = ",".join("?" * len(ids))
            counts.notes_deleted += int(await self._db.fetch_value(
                f"SELECT count(*) FROM call_notes WHERE call_id IN ({marks})", ids))
        if decided.delete_deliveries:
            ids = list(decided.delete_deliveries)
            marks = ",".join("?" * len(ids))
            counts.deliveries_deleted += int(await self._db.fetch_value(
                f"SELECT count(*) FROM webhook_deliveries WHERE call_id IN ({marks})"
                " AND status != 'pending'", ids))
        _note_oldest(counts, {i: by_id[i].started_at for i in by_id}, calls, turns, recordings)

    async def _apply(self, decided: RetentionPlan, started: dict[int, str],
                     counts: OrgRetentionCounts) -> None:
        wanted = {*decided.delete_calls, *decided.delete_transcripts, *decided.delete_recordings,
                  *decided.delete_notes, *decided.delete_deliveries}
        async with self._db.transaction() as conn:
            current = await _current(conn, sorted(wanted))
            held_now = {i for i in wanted if i not in current}
            counts.held += len(held_now)
            paths = {
                i: current[i] for i in (*decided.delete_calls, *decided.delete_recordings)
                if i in current and current[i] is not None
            }
            gone, missing, failed = await asyncio.to_thread(_remove_files, paths)
            counts.recordings_deleted += len(gone) + len(missing)
            counts.files_missing += len(missing)
            counts.files_failed += len(failed)
            calls = [i for i in decided.delete_calls if i in current and i not in failed]
            turns = [i for i in decided.delete_transcripts if i in current]
            recordings = [i for i in decided.delete_recordings if i in gone or i in missing]
            deliveries = [i for i in decided.delete_deliveries if i in current]
            await add_deleted(conn, calls, turns)  # the statistics outlive the rows (0022)
            if deliveries:  # before the turns, whose deletion takes every delivery with them
                cursor = await conn.execute(
                    "DELETE FROM webhook_deliveries WHERE status != 'pending' AND call_id IN"
                    f" ({','.join('?' * len(deliveries))})", deliveries)
                counts.deliveries_deleted += cursor.rowcount
                await cursor.close()
            notes = [i for i in decided.delete_notes if i in current]
            if notes:
                counts.notes_deleted += await _delete_in(conn, "call_notes", "call_id", notes)
            if calls:
                counts.turns_deleted += await _delete_in(conn, "call_turns", "call_id", calls)
                await _delete_in(conn, "call_events", "call_id", calls)
                counts.notes_deleted += await _delete_in(conn, "call_notes", "call_id", calls)
                counts.calls_deleted += await _delete_in(conn, "calls", "id", calls)
            if turns:
                counts.turns_deleted += await _delete_in(conn, "call_turns", "call_id", turns)
                await _update_in(conn, "slots = '{}'", turns)
                counts.transcripts_deleted += len(turns)
            if recordings:
                await _update_in(conn, "recording_path = NULL, recording_key_id = NULL",
                                 recordings)
            _note_oldest(counts, started, calls, turns,
                         [i for i in paths if i in gone or i in missing])


def _note_oldest(counts: OrgRetentionCounts, started: dict[int, str], calls: Sequence[int],
                 turns: Sequence[int], recordings: Sequence[int]) -> None:
    """Lower the oldest dates of ``counts`` to those of the calls deleted, the kept calls whose
    transcript went and the recordings removed (the same sets the counts count)."""
    for name, ids in (("oldest_call", calls), ("oldest_transcript", turns),
                      ("oldest_recording", recordings)):
        dates = [started[i] for i in ids if i in started]
        current = getattr(counts, name)
        if dates and (current is None or min(dates) < current):
            setattr(counts, name, min(dates))


async def _current(conn: Connection, ids: Sequence[int]) -> dict[int, str | None]:
    """The recording paths of those of ``ids`` still present and not on legal hold (their own
    or their number's), read under the write lock."""
    marks = ",".join("?" * len(ids))
    async with conn.execute(
        f"SELECT c.id, c.recording_path FROM calls c WHERE c.id IN ({marks}) AND NOT {HELD}"
        " AND c.status != 'in_progress'",
        tuple(ids),
    ) as cur:
        return {int(row[0]): row[1] for row in await cur.fetchall()}


async def _delete_in(conn: Connection, table: str, column: str,
                     ids: Sequence[int]) -> int:
    marks = ",".join("?" * len(ids))
    cursor = await conn.execute(f"DELETE FROM {table} WHERE {column} IN ({marks})", tuple(ids))
    count = cursor.rowcount
    await cursor.close()
    return count


async def _update_in(conn: Connection, assignments: str, ids: Sequence[int]) -> None:
    marks = ",".join("?" * len(ids))
    await conn.execute(f"UPDATE calls SET {assignments} WHERE id IN ({marks})", tuple(ids))


def _remove_files(paths: dict[int, str | None]) -> tuple[set[int], set[int], set[int]]:
    """Delete recording files: (call ids whose file was deleted, already missing, failed)."""
    gone: set[int] = set()
    missing: set[int] = set()
    failed: set[int] = set()
    for call_id, path in paths.items():
        if path is None:
            continue
        try:
            (gone if remove_recording(Path(path)) else missing).add(call_id)
        except OSError as exc:
            log.warning("retention: cannot delete recording %s of call %d: %s", path, call_id, exc)
            failed.add(call_id)
    return gone, missing, failed


def _describe(policies: OrgPolicies) -> dict[str, Any]:
    def days(policy: Policy) -> list[int]:
        return [policy.metadata_days, policy.transcript_days, policy.recording_days]

    return {
        "org_default": days(policies.default),
        "by_assistant": {str(a): days(p) for a, p in sorted(policies.by_assistant.items())},
    }
