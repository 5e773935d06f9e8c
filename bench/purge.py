"""Benchmark: a retention purge of a million calls while a live call writes its turns.

    .venv/bin/python -m bench.purge [--calls 1000000] [--turns 2] [--batch 500]
                                    [--max-batch-ms 20] [--db PATH]

Seeds a fresh SQLite store (outside the measured part: plain ``sqlite3``, ``executemany`` in a
few large transactions) with ``--calls`` finished calls of one org, all older than the default
12-month retention, each with ``--turns`` transcript turns (full-text indexed, as in service).
Then, through one :class:`~callwright.store.db.Database` (the single writer), a simulated live
call writes a turn every 200 ms while :class:`~callwright.privacy.retention_job.RetentionJob`
purges every old call in batches of at most ``--batch`` calls, sized so that each
transaction takes about ``--max-batch-ms`` (the job's default, 20 ms). It prints and saves
(``bench/results/purge.json``) the live write latency (p50/p99/max, ms) before and during the
purge, the purge's duration and rate (calls/s), and the seeding time. Smaller scales
(``--calls 2000``) run in a second; the figure of ``make bench`` is the full million.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.purge_trace import (  # noqa: E402
    LIVE_TASK,
    StoreTrace,
    slowest_writes,
    span_stats,
)
from bench.report import save, summarize  # noqa: E402
from callwright.privacy.retention_job import MAX_BATCH_S, RetentionJob  # noqa: E402
from callwright.store.calls import CallRepository  # noqa: E402
from callwright.store.clock import format_iso, utc_now_iso  # noqa: E402
from callwright.store.db import Database  # noqa: E402
from callwright.store.orgs import OrgRepository  # noqa: E402
from callwright.store.turns import NewTurn  # noqa: E402

WORDS = ("booking appointment invoice refund delivery plumber tomorrow cancel address opening"
         " hours price warranty manager callback").split()
CHUNK = 100_000
LIVE_INTERVAL_S = 0.2
BASELINE_S = 2.0


def seed(path: Path, org_id: int, calls: int, turns: int, now: datetime) -> None:
    """``calls`` finished calls of the org, 400 to 1100 days old, with ``turns`` turns each."""
    rng = random.Random(12)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        for first in range(1, calls + 1, CHUNK):
            last = min(calls, first + CHUNK - 1)
            rows = []
            turn_rows = []
            for call_id in range(first, last + 1):
                started = format_iso(now - timedelta(days=400 + rng.random() * 700))
                rows.append((call_id, f"bench-{call_id}", org_id, f"+1555{call_id % 10**7:07d}",
                             started, started, 60_000))
                for seq in range(turns):
                    text = " ".join(rng.choices(WORDS, k=6))
                    turn_rows.append((call_id, seq, "caller" if seq % 2 == 0 else "assistant",
                                       text, started))
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO calls (id, uid, org_id, caller_number, started_at, ended_at,"
                " duration_ms, status, end_reason) VALUES (?, ?, ?, ?, ?, ?, ?, 'completed',"
                " 'caller_hangup')", rows)
            conn.executemany(
                "INSERT INTO call_turns (call_id, seq, speaker, text, started_at)"
                " VALUES (?, ?, ?, ?, ?)", turn_rows)
            conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


async def live_call(db: Database, org_id: int, latencies: list[float],
                    stop: asyncio.Event, trace: StoreTrace | None = None) -> int:
    """A call in progress writing one turn every 200 ms; each write's latency in ms (and, with
    ``trace``, its span)."""
    repo = CallRepository(db)
    call = await repo.create_call(org_id, None, None, "100", "+15550000000", "Live", "live-1")
    seq = 0
    while not stop.is_set():
        started = time.perf_counter()
        await repo.add_turn(call.id, NewTurn(seq, "caller" if seq % 2 == 0 else "assistant",
                            "live turn while the purge runs", utc_now_iso()))
        latencies.append((time.perf_counter() - started) * 1000)
        if trace is not None:
            trace.note("live_write", started)
        seq += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), LIVE_INTERVAL_S)
    return call.id


async def create_org(path: Path) -> int:
    db = await Database.open(path)
    try:
        return (await OrgRepository(db).create("Bench", "bench")).id
    finally:
        await db.close()


def prepare(path: Path, calls: int, turns: int) -> tuple[int, dict[str, float]]:
    """A migrated store with the org and its seeded calls: (org id, seeding figures)."""
    org_id = asyncio.run(create_org(path))
    started = time.perf_counter()
    seed(path, org_id, calls, turns, datetime.now(UTC))
    seeded_s = time.perf_counter() - started
    return org_id, {"seed_s": round(seeded_s, 1),
                    "store_mb": round(path.stat().st_size / 2**20, 1)}


async def measure(path: Path, org_id: int, batch: int, max_batch_s: float) -> dict[str, Any]:
    db = await Database.open(path)
    try:
        baseline: list[float] = []
        stop = asyncio.Event()
        task = asyncio.create_task(live_call(db, org_id, baseline, stop))
        await asyncio.sleep(BASELINE_S)
        during: list[float] = []
        stop.set()
        live_id = await task
        stop = asyncio.Event()
        trace = StoreTrace()
        trace.attach(db)
        task = asyncio.create_task(live_call(db, org_id, during, stop, trace), name=LIVE_TASK)
        started = time.perf_counter()
        job = RetentionJob(db, batch_size=batch, max_batch_s=max_batch_s or None)
        report = await job.run_once()
        purge_s = time.perf_counter() - started
        stop.set()
        await task
        remaining = int(await db.fetch_value("SELECT count(*) FROM calls"))
        live_turns = int(await db.fetch_value(
            "SELECT count(*) FROM call_turns WHERE call_id = ?", (live_id,)))
    finally:
        await db.close()
    counts = report.for_org(org_id)
    return {
        "batch": batch, "max_batch_ms": round(max_batch_s * 1000, 1), "purge_s": round(purge_s, 2),
        "calls_deleted": counts.calls_deleted, "turns_deleted": counts.turns_deleted,
        "purge_calls_per_s": round(counts.calls_deleted / purge_s) if purge_s else 0,
        "calls_left": remaining, "live_turns_kept": live_turns,
        "live_write_ms_before": summarize(baseline),
        "live_write_ms_during": summarize(during),
        "purge_transactions": span_stats(trace, "transaction"),
        "checkpoints": span_stats(trace, "checkpoint"),
        "slowest_live_writes": slowest_writes(trace),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--turns", type=int, default=2)
    parser.add_argument("--batch", type=int, default=500, help="largest batch (calls)")
    parser.add_argument("--max-batch-ms", type=float, default=MAX_BATCH_S * 1000,
                        help="target length of a purge transaction; 0: fixed batches")
    parser.add_argument("--db", type=Path, help="store file (default: a temporary one)")
    parser.add_argument("--no-save", action="store_true", help="print, do not save the figures")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cw-purge-") as folder:
        path = args.db or Path(folder) / "purge.db"
        if path.exists():
            parser.error(f"{path} exists: the benchmark needs a fresh store")
        org_id, seeding = prepare(path, args.calls, args.turns)
        figures = {"calls": args.calls, "turns_per_call": args.turns, **seeding,
                   **asyncio.run(measure(path, org_id, args.batch, args.max_batch_ms / 1000))}
    if args.no_save:
        print(figures)
    else:
        save("purge", figures)
    return figures


if __name__ == "__main__":
    main()
