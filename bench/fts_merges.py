"""Measurement: where the purge's long transactions came from (FTS5 segment merges).

    .venv/bin/python -m bench.fts_merges [--turns 400000] [--batch 100]

Seeds a migrated store with ``--turns`` transcript turns (two per call, full-text indexed by the
store's own triggers), then deletes them call by call in batches of ``--batch`` calls, one
transaction each, twice on fresh copies: once with FTS5's default settings (its merges run inside
whichever delete fills a level of the index), once as the retention job runs
(:data:`~callwright.privacy.retention_job.FTS_MERGES_OFF`, and a ``merge`` of
:data:`~callwright.privacy.retention_job.MERGE_PAGES` pages after each batch, in a transaction of
its own). For every transaction it takes the wall time and the thread's **CPU time** (plus
context switches and blocks written, from ``getrusage``): CPU time is what the transaction made
SQLite do, whatever else the machine was running, so a batch that merges shows up even on a busy
machine. Prints and saves ``bench/results/fts_merges.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import save, summarize  # noqa: E402
from callwright.privacy.retention_job import FTS_MERGES_OFF, MERGE_PAGES  # noqa: E402
from callwright.store.db import Database  # noqa: E402

WORDS = ("booking appointment invoice refund delivery plumber tomorrow cancel address opening"
         " hours price warranty manager callback").split()


async def migrate(path: Path) -> None:
    db = await Database.open(path)
    await db.close()


def seed(path: Path, turns: int) -> None:
    rng = random.Random(7)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO calls (id, uid, started_at, status)"
            " VALUES (?, ?, '2020-01-01', 'completed')",
            [(i, f"c{i}") for i in range(1, turns // 2 + 1)])
        conn.executemany(
            "INSERT INTO call_turns (call_id, seq, speaker, text, started_at)"
            " VALUES (?, ?, 'caller', ?, '2020-01-01')",
            [(i // 2 + 1, i % 2, " ".join(rng.choices(WORDS, k=6))) for i in range(turns)])
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _usage() -> tuple[float, float, resource.struct_rusage]:
    return time.perf_counter(), time.thread_time(), resource.getrusage(resource.RUSAGE_THREAD)


def _spent(before: tuple[float, float, resource.struct_rusage]) -> dict[str, float]:
    wall, cpu, usage = before
    after = resource.getrusage(resource.RUSAGE_THREAD)
    return {"wall_ms": (time.perf_counter() - wall) * 1000, "cpu_ms": (time.thread_time() - cpu)
            * 1000, "involuntary": after.ru_nivcsw - usage.ru_nivcsw,
            "blocks_out": after.ru_oublock - usage.ru_oublock}


def purge(path: Path, calls: int, batch: int, stepped: bool) -> dict[str, Any]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=NORMAL")
        if stepped:
            for name, value in FTS_MERGES_OFF.items():
                conn.execute("INSERT INTO call_turns_fts(call_turns_fts, rank) VALUES (?, ?)",
                             (name, value))
        deletes: list[dict[str, float]] = []
        merges: list[dict[str, float]] = []
        for first in range(1, calls + 1, batch):
            before = _usage()
            conn.execute("BEGIN")
            conn.execute("DELETE FROM call_turns WHERE call_id >= ? AND call_id < ?",
                         (first, first + batch))
            conn.execute("COMMIT")
            deletes.append(_spent(before))
            if stepped:
                before = _usage()
                conn.execute("INSERT INTO call_turns_fts(call_turns_fts, rank)"
                             " VALUES ('merge', ?)", (MERGE_PAGES,))
                merges.append(_spent(before))
        segments = int(conn.execute("SELECT count(*) FROM call_turns_fts_data").fetchone()[0])
    finally:
        conn.close()
    slowest = sorted(deletes, key=lambda d: -d["cpu_ms"])[:3]
    figures: dict[str, Any] = {
        "transactions": len(deletes),
        "delete_wall_ms": summarize([d["wall_ms"] for d in deletes]),
        "delete_cpu_ms": summarize([d["cpu_ms"] for d in deletes]),
        "deletes_over_20ms_cpu": sum(1 for d in deletes if d["cpu_ms"] > 20),
        "most_cpu": [{k: round(v, 1) for k, v in d.items()} for d in slowest],
        "index_rows_left": segments,
    }
    if merges:
        figures["merge_step_wall_ms"] = summarize([m["wall_ms"] for m in merges])
        figures["merge_step_cpu_ms"] = summarize([m["cpu_ms"] for m in merges])
    return figures


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--turns", type=int, default=400_000)
    parser.add_argument("--batch", type=int, default=100, help="calls per delete transaction")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    figures: dict[str, Any] = {"turns": args.turns, "batch_calls": args.batch,
                               "merge_pages": MERGE_PAGES}
    with tempfile.TemporaryDirectory(prefix="cw-fts-") as folder:
        seeded = Path(folder) / "seeded.db"
        asyncio.run(migrate(seeded))
        seed(seeded, args.turns)
        for name, stepped in (("fts5_defaults", False), ("retention_job", True)):
            copy = Path(folder) / f"{name}.db"
            shutil.copyfile(seeded, copy)
            figures[name] = purge(copy, args.turns // 2, args.batch, stepped)
    if args.no_save:
        print(figures)
    else:
        save("fts_merges", figures)
    return figures


if __name__ == "__main__":
    main()
