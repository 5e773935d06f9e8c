"""Smoke test of the purge benchmark at a small scale (figures are checked in make bench only)."""

from __future__ import annotations

from pathlib import Path

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
