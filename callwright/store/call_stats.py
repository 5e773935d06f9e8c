"""Aggregated, anonymised call statistics that survive the deletion of their rows.

``call_stats_daily`` (migration 0022) holds, per org, assistant, day and status, what the
retention job deleted: calls (their count, total duration and how many had a duration) and turns.
:func:`add_deleted` writes it inside the retention job's own transaction, just before the delete,
so a call or turn is counted once whatever runs are repeated or cut short. The figures of a
period are that aggregate plus the rows still stored (:meth:`CallStatsRepository.period`), so
they do not shrink when retention deletes calls. Test calls (direction ``test``) are left out,
as the dashboard leaves them out. Nothing personal is kept: no number, name or text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from callwright.store.db import Database
from callwright.store.engine import Connection

__all__ = ["CallStatsRepository", "DayStats", "PeriodStats", "StatsKey", "add_deleted",
           "aggregate"]

#: (org_id, assistant_id or 0, day YYYY-MM-DD, status)
StatsKey = tuple[int, int, str, str]

_UPSERT = (
    "INSERT INTO call_stats_daily (org_id, assistant_id, day, status, calls, duration_ms,"
    " timed_calls, turns) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (org_id, assistant_id, day, status) DO UPDATE SET"
    " calls = call_stats_daily.calls + excluded.calls,"
    " duration_ms = call_stats_daily.duration_ms + excluded.duration_ms,"
    " timed_calls = call_stats_daily.timed_calls + excluded.timed_calls,"
    " turns = call_stats_daily.turns + excluded.turns"
)


@dataclass(slots=True)
class DayStats:
    """One day's (or a period's) figures: calls per status, durations, turns."""

    day: str
    by_status: dict[str, int] = field(default_factory=dict)
    duration_ms: int = 0
    timed_calls: int = 0
    turns: int = 0

    @property
    def calls(self) -> int:
        return sum(self.by_status.values())

    @property
    def mean_duration_ms(self) -> int | None:
        return round(self.duration_ms / self.timed_calls) if self.timed_calls else None

    def add(self, status: str, calls: int, duration_ms: int, timed_calls: int,
            turns: int) -> None:
        if calls:
            self.by_status[status] = self.by_status.get(status, 0) + calls
        self.duration_ms += duration_ms
        self.timed_calls += timed_calls
        self.turns += turns

    def to_json(self) -> dict[str, Any]:
        return {"day": self.day, "calls": self.calls, "by_status": dict(self.by_status),
                "duration_ms": self.duration_ms, "mean_duration_ms": self.mean_duration_ms,
                "turns": self.turns}


@dataclass(slots=True)
class PeriodStats:
    """Days from ``since`` (inclusive) to ``until`` (exclusive), each day with calls, and the
    total of the period."""

    since: str
    until: str
    days: list[DayStats]
    total: DayStats

    def to_json(self) -> dict[str, Any]:
        total = self.total.to_json()
        total.pop("day")
        return {"since": self.since, "until": self.until, "total": total,
                "days": [d.to_json() for d in self.days]}


def aggregate(calls: Iterable[Sequence[Any]],
              turns_only: Iterable[Sequence[Any]] = ()) -> dict[StatsKey, list[int]]:
    """Sum deleted rows into aggregate rows (pure).

    ``calls``: (org_id, assistant_id, started_at, status, duration_ms, is_test, turns) of
    calls deleted whole; ``turns_only``: the same of kept calls whose turns alone were deleted.
    Returns ``{key: [calls, duration_ms, timed_calls, turns]}``; calls without an org and test
    calls are left out."""
    sums: dict[StatsKey, list[int]] = {}
    for rows, whole in ((calls, True), (turns_only, False)):
        for org_id, assistant_id, started_at, status, duration, is_test, turns in rows:
            if org_id is None or is_test:
                continue
            key = (int(org_id), int(assistant_id or 0), str(started_at)[:10], str(status))
            row = sums.setdefault(key, [0, 0, 0, 0])
            if whole:
                row[0] += 1
                if duration is not None:
                    row[1] += int(duration)
                    row[2] += 1
            row[3] += int(turns)
    return {k: v for k, v in sums.items() if any(v)}


async def add_deleted(conn: Connection, calls: Sequence[int],
                      turns_only: Sequence[int] = ()) -> None:
    """Add to the aggregate the calls about to be deleted whole and the kept calls whose turns
    are about to be deleted; run inside the transaction that deletes them, before the deletes."""
    found: dict[bool, list[Any]] = {True: [], False: []}
    for ids, whole in ((calls, True), (turns_only, False)):
        if not ids:
            continue
        marks = ",".join("?" * len(ids))
        async with conn.execute(
            "SELECT c.org_id, c.assistant_id, c.started_at, c.status, c.duration_ms,"
            " c.direction = 'test', (SELECT count(*) FROM call_turns t WHERE t.call_id = c.id)"
            f" FROM calls c WHERE c.id IN ({marks})", tuple(ids),
        ) as cur:
            found[whole] = [tuple(row) for row in await cur.fetchall()]
    sums = aggregate(found[True], found[False])
    if sums:
        await conn.executemany(_UPSERT, [(*key, *values) for key, values in sums.items()])


class CallStatsRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def deleted_by_status(self, org_id: int, since: str, until: str) -> dict[str, int]:
        """Calls per status that retention deleted, of days ``since`` <= day < ``until`` (the
        dashboard adds them to its counts of the calls stored)."""
        rows = await self._db.fetch_all(
            "SELECT status, sum(calls) AS n FROM call_stats_daily WHERE org_id = ? AND day >= ?"
            " AND day < ? GROUP BY status", (org_id, since, until))
        return {str(r["status"]): int(r["n"]) for r in rows if r["n"]}

    async def period(self, org_id: int, since: str, until: str,
                     assistant_id: int | None = None) -> PeriodStats:
        """The figures of days ``since`` <= day < ``until`` (YYYY-MM-DD): the aggregate of what
        retention deleted plus the calls still stored (test calls left out)."""
        days: dict[str, DayStats] = {}
        total = DayStats("")

        def add(day: str, status: str, calls: int, duration: int, timed: int,
                turns: int) -> None:
            days.setdefault(day, DayStats(day)).add(status, calls, duration, timed, turns)
            total.add(status, calls, duration, timed, turns)

        where_a = " AND assistant_id = ?" if assistant_id is not None else ""
        extra: tuple[Any, ...] = (assistant_id,) if assistant_id is not None else ()
        for row in await self._db.fetch_all(
            "SELECT day, status, sum(calls) AS calls, sum(duration_ms) AS duration_ms,"
            " sum(timed_calls) AS timed_calls, sum(turns) AS turns FROM call_stats_daily"
            f" WHERE org_id = ? AND day >= ? AND day < ?{where_a} GROUP BY day, status",
            (org_id, since, until, *extra),
        ):
            add(str(row["day"]), str(row["status"]), int(row["calls"]),
                int(row["duration_ms"]), int(row["timed_calls"]), int(row["turns"]))
        live_a = " AND c.assistant_id = ?" if assistant_id is not None else ""
        live = (org_id, since, until, *extra)  # started_at is ISO text, ordered as days are
        for row in await self._db.fetch_all(
            "SELECT substr(c.started_at, 1, 10) AS day, c.status, count(*) AS calls,"
            " coalesce(sum(c.duration_ms), 0) AS duration_ms, count(c.duration_ms) AS timed_calls"
            " FROM calls c WHERE c.org_id = ? AND c.started_at >= ? AND c.started_at < ?"
            f" AND c.direction != 'test'{live_a} GROUP BY substr(c.started_at, 1, 10), c.status",
            live,
        ):
            add(str(row["day"]), str(row["status"]), int(row["calls"]),
                int(row["duration_ms"]), int(row["timed_calls"]), 0)
        for row in await self._db.fetch_all(
            "SELECT substr(c.started_at, 1, 10) AS day, c.status, count(*) AS turns"
            " FROM call_turns t JOIN calls c ON c.id = t.call_id WHERE c.org_id = ?"
            f" AND c.started_at >= ? AND c.started_at < ? AND c.direction != 'test'{live_a}"
            " GROUP BY substr(c.started_at, 1, 10), c.status",
            live,
        ):
            add(str(row["day"]), str(row["status"]), 0, 0, 0, int(row["turns"]))
        return PeriodStats(since, until, [days[d] for d in sorted(days)], total)
