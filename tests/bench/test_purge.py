"""Smoke test of the purge benchmark at a small scale (figures are checked in make bench only)."""

from __future__ import annotations

from pathlib import Path

from bench.fts_merges import main as fts_main
from bench.purge import main


def test_the_purge_bench_runs_small_and_purges_everything_but_the_live_call(
    tmp_path: Path
) -> None:
    figures = main(["--calls", "1200", "--turns", "3", "--batch", "100", "--no-save",
                    "--db", str(tmp_path / "purge.db")])
    assert figures["calls_deleted"] == 1200
    assert figures["turns_deleted"] == 3600
    assert figures["calls_left"] == 2  # the two live calls, still in progress
    assert figures["live_turns_kept"] >= 1
    during = figures["live_write_ms_during"]
    assert during["n"] >= 1 and during["max"] >= during["p50"] > 0
    assert figures["purge_calls_per_s"] > 0
    # The trace names what ran during the slowest live writes (the purge's transactions).
    assert figures["purge_transactions"]["n"] >= 12  # 1200 calls in batches of at most 100
    assert figures["slowest_live_writes"] and all(
        {"write_ms", "overlapping"} <= set(w) for w in figures["slowest_live_writes"])


def test_the_fts_merge_measurement_runs_small(tmp_path: Path) -> None:
    figures = fts_main(["--turns", "4000", "--batch", "50", "--no-save"])
    for mode in ("fts5_defaults", "retention_job"):
        assert figures[mode]["transactions"] == 40
        assert figures[mode]["delete_cpu_ms"]["max"] > 0
    assert figures["retention_job"]["merge_step_cpu_ms"]["n"] == 40
