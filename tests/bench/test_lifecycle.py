"""The lifecycle benchmark: its measures (pure), and one tiny run of every part (a kill cycle, a
drain cycle and a short soak with the service as a real process) so that the code cannot rot.
The figures' targets are checked by the benchmark, not here; only what must hold on any machine
is asserted (every caller served, no row left open, nothing left in the PBX)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.lifecycle import Options, parse_args
from bench.lifecycle_measures import longest_silence, rss_slope_mb_per_min
from bench.lifecycle_rig import deployed_malloc_env

REPO = Path(__file__).resolve().parents[2]


def test_longest_silence_counts_the_edges_and_the_frames() -> None:
    frames = [1.00, 1.02, 1.04, 2.00, 2.02]  # speech 1.00-1.06 and 2.00-2.04
    assert longest_silence(frames, 0.5, 2.5) == pytest.approx(2.0 - 1.06)  # between the two
    assert longest_silence(frames, 0.0, 1.5) == pytest.approx(1.0)        # before the first
    assert longest_silence(frames, 1.9, 4.0) == pytest.approx(4.0 - 2.04)  # after the last
    assert longest_silence([], 1.0, 2.5) == pytest.approx(1.5)
    assert longest_silence(frames, 2.0, 2.0) == 0.0


def test_rss_slope_is_a_least_squares_fit_after_the_warm_up() -> None:
    mib = 2**20
    # A jump during the warm-up, then 0.5 MB a minute with noise around the line.
    samples = [(0.0, 100 * mib), (30.0, 300 * mib)] + [
        (60.0 + 10 * i, int((300 + 0.5 * (10 * i) / 60 + (0.2 if i % 2 else -0.2)) * mib))
        for i in range(30)
    ]
    slope = rss_slope_mb_per_min(samples, after_s=60.0)
    assert slope is not None and slope == pytest.approx(0.5, abs=0.05)
    assert rss_slope_mb_per_min(samples[:3], after_s=60.0) is None  # too few after the warm-up
    flat = [(float(t), 500 * mib) for t in range(0, 600, 5)]
    assert rss_slope_mb_per_min(flat, after_s=60.0) == pytest.approx(0.0)


def test_the_full_run_is_the_default_and_flags_shorten_it() -> None:
    opts, out = parse_args([])
    assert (opts.cycles, opts.calls, opts.soak_minutes, opts.soak_calls) == (10, 10, 10.0, 50)
    assert out is None
    opts, out = parse_args(["--cycles", "1", "--soak-minutes", "0.5", "--out", "x.json"])
    assert opts == Options(cycles=1, soak_minutes=0.5) and out == Path("x.json")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_one_tiny_cycle_of_each(tmp_path: Path) -> None:
    out = tmp_path / "lifecycle.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.lifecycle", "--cycles", "1", "--calls", "5",
         "--drain-s", "1", "--soak-minutes", "0.25", "--soak-calls", "3",
         "--soak-warmup-s", "5", "--sample-s", "1", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=570,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures = json.loads(out.read_text())
    kills, drains, soak = figures["kill_cycles"], figures["drain_cycles"], figures["soak"]
    for part in (kills, drains):
        assert part["failed_cycles"] == [] and part["callers"] == 5
        assert (part["rows_open"], part["rows_missing"], part["callers_stuck"]) == (0, 0, 0)
        assert (part["leftover_channels"], part["leftover_bridges"]) == (0, 0)
    # Four callers resumed (each heard the assistant again), one handed to the dialplan.
    assert kills["served_how"] == {"speech": 4, "handed_back": 1}
    assert kills["never_served"] == 0 and kills["silence_from_back_s"]["n"] == 5
    # One caller hung up during the drain, four were handed back; the newcomer went straight
    # back to the dialplan and left no row; the process exited 0.
    assert drains["served_how"] == {"hung_up": 1, "handed_back": 4}
    assert drains["newcomers_turned_away"] == 1 and drains["newcomer_rows"] == 0
    assert drains["exit_codes"] == {"0": 1}
    assert soak["calls_reached_app"] >= 3 and soak["rows_lost"] == 0
    assert soak["rows_in_progress_after_exit"] == 0 and soak["exit_code"] == 0
    assert soak["leftovers"] == {"channels": 0, "bridges": 0}
    assert len(soak["rss_samples"]) >= 10 and soak["rss_slope_mb_per_min"] is not None
    assert set(figures["targets"]) == {
        "silence_from_back_p95_le_3s", "rows_left_open_0", "leftovers_0", "soak_rows_lost_0",
        "soak_rss_slope_lt_1_mb_per_min"}


def test_the_bench_runs_the_service_with_the_units_malloc_settings(tmp_path: Path) -> None:
    assert deployed_malloc_env() == {"MALLOC_ARENA_MAX": "2",  # deploy/callwright.service
                                     "MALLOC_MMAP_THRESHOLD_": "65536"}
    unit = tmp_path / "x.service"
    unit.write_text("[Service]\nEnvironment=A=1 MALLOC_ARENA_MAX=4\n"
                    "Environment=MALLOC_TRIM_THRESHOLD_=65536\n# Environment=MALLOC_X=1\n")
    assert deployed_malloc_env(unit) == {"MALLOC_ARENA_MAX": "4",
                                         "MALLOC_TRIM_THRESHOLD_": "65536"}
