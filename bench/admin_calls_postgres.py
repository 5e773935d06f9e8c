"""Benchmark: the admin's calls list and call page over a million calls on PostgreSQL.

    .venv/bin/python -m bench.admin_calls_postgres [--calls 1000000] [--requests 40] [--url URL]

The same store, requests and figures as :mod:`bench.admin_calls` (SQLite), on a PostgreSQL store:
by default a throwaway cluster started for the run (tests/pg_server.py: initdb in a temporary
directory, a free port; run as the ``postgres`` account under root), or the empty database
``--url`` names. It writes ``bench/results/admin_calls_postgres.json``. Target: ≤ 100 ms a page,
as on SQLite. The throwaway cluster runs with fsync off (a benchmark of reads, not of durability).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import admin_calls  # noqa: E402
from bench.admin_calls import _measure  # noqa: E402
from callwright.store.db import Database  # noqa: E402
from tests.pg_server import PgServer, find_bin_dir  # noqa: E402

_FILL = admin_calls.fill


async def fill_then_index(db: Database, calls: int, seed: int = 7) -> dict[str, Any]:
    """:func:`bench.admin_calls.fill`, with the calls' indexes built after the rows rather than
    kept up to date row by row (ten times faster to load; the pages read the same indexes)."""
    indexes = await db.fetch_all(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'calls'"
        " AND indexname NOT IN (SELECT conname FROM pg_constraint)"
    )
    for row in indexes:
        await db.execute(f'DROP INDEX "{row["indexname"]}"')
    info = await _FILL(db, calls, seed)
    began = time.perf_counter()
    for row in indexes:
        await db.execute(row["indexdef"])
    await db.execute("ANALYZE")
    info["index_s"] = round(time.perf_counter() - began, 1)
    print(f"indexed in {info['index_s']} s", flush=True)
    return info


async def measure(calls: int, requests: int, url: str) -> dict[str, Any]:
    db = await Database.open(url)
    original = admin_calls.fill
    admin_calls.fill = fill_then_index  # what _measure calls to load the store
    try:
        figures = await _measure(db, calls, requests)
        size = int(await db.fetch_value("SELECT pg_database_size(current_database())"))
        version = str(await db.fetch_value("SHOW server_version"))
    finally:
        admin_calls.fill = original
        await db.close()
    figures.update(engine="postgresql", server_version=version, store_bytes=size,
                   store_mb=round(size / 1e6, 1), bytes_per_call=round(size / max(1, calls)))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--url", help="an empty PostgreSQL database (default: a throwaway one)")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "bench" / "results" / "admin_calls_postgres.json")
    args = parser.parse_args()
    server: PgServer | None = None
    url = args.url
    if url is None:
        bin_dir = find_bin_dir()
        if bin_dir is None:
            raise SystemExit("PostgreSQL is not installed (make bench installs it)")
        server = PgServer(bin_dir)
        server.start()
    try:
        if server is not None:
            url = asyncio.run(server.create_database())
        figures = asyncio.run(measure(args.calls, args.requests, url))
    finally:
        if server is not None:
            server.stop()
    print(f"{figures['calls']:,} calls on PostgreSQL {figures['server_version']}, inserted in"
          f" {figures['insert_seconds']} s, database {figures['store_mb']} MB")
    print(f"{'case':32} {'server p50':>11} {'p95':>8} {'trip p50':>9} {'p95':>8}  (ms)")
    for name, row in figures["cases"].items():
        print(f"{name:32} {row['server_p50_ms']:11.1f} {row['server_p95_ms']:8.1f} "
              f"{row['round_trip_p50_ms']:9.1f} {row['round_trip_p95_ms']:8.1f}")
    verdict = "meets" if figures["worst_server_p95_ms"] <= 100 else "MISSES"
    print(f"worst server p95 {figures['worst_server_p95_ms']} ms: {verdict} the 100 ms target")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"written to {os.path.relpath(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
