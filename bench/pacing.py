"""Benchmark: outbound pacing, the deviation of inter-frame gaps from 20 ms.

    python -m bench.pacing [--levels 1,50,200] [--duration 10] [--warmup 3] [--repeat 1]

For each level, a fresh host process (``bench.media_host``) runs that many real call pipelines,
each with its own ``RtpTransport`` on 127.0.0.1 and its pacer on the one process-wide
``PacerClock``. Every call is speaking for the whole window (about 40 s of espeak-ng speech is
queued at call start); the caller is silent but its side sends RTP silence, as a phone does. The
load generator (``bench.loadgen``, a separate process playing Asterisk) timestamps each packet's
arrival in the kernel (SO_TIMESTAMPNS) and measures |gap - 20 ms| between consecutive packets of
each call; the host measures the same on the sender side (``PacerStats``: the times the pacers
sent). Figures: p50/p99/max in ms per level, plus the clock's tick lateness, skipped ticks, CPU
and how much the host waited for a CPU (other processes on the machine).

On a virtual machine the hypervisor sometimes stops the host's vCPU for milliseconds (steal time):
every call's frame of that tick is late at once, and a few such stalls decide the p99. Each run
reports the steal it suffered (``/proc/stat``, the host's core); a run with more than
``--max-steal`` % is kept and listed but marked ``stolen`` and run again (``--retry-stolen``). The
target is judged on the runs that were not stolen, and the median over all runs is printed beside
it.

Target (DESIGN.md §6): receiver-side p99 ≤ 2 ms at 50 concurrent calls.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import report  # noqa: E402
from bench.media_host import HostConfig, run_host  # noqa: E402

TARGET_CALLS = 50
TARGET_P99_MS = 2.0


def one_level(
    calls: int, warmup: float, duration: float, seed: int, wait_calm_s: float
) -> dict[str, Any]:
    figures = run_host(HostConfig(calls=calls, scenario="listen", warmup_s=warmup,
                                  duration_s=duration, seed=seed), wait_calm_s=wait_calm_s)
    gen, sender = figures["generator"], figures["sender"]
    return {
        "calls": calls,
        "receiver_gap_deviation_ms": gen["gap_deviation_ms"],
        "receiver_worst_call_p99_ms": gen["per_call_p99_ms"]["max"],
        "sender_gap_deviation_ms": sender["pacer_gap_deviation_ms"],
        "sender_undisturbed_gap_deviation_ms": sender["pacer_gap_deviation_undisturbed_ms"],
        "disturbed_tick_pct": sender["disturbed_tick_pct"],
        "tick_lateness_ms": sender["tick_lateness_ms"],
        "pacer_phase_ms": sender["pacer_phase_ms"],
        "clock_skipped_ticks": sender["clock_skipped_ticks"],
        "packets_received": gen["received_in_window"],
        "packets_expected": gen["expected_in_window"],
        "lost_in_sequence": gen["lost_in_sequence"],
        "host_cpu_pct_one_core": figures["cpu_pct_one_core"],
        "loadgen_cpu_pct": gen["loadgen_cpu_pct"],
        "interference": figures["interference"],
        "machine_cpu_pressure_avg10_at_start": figures["machine_cpu_pressure_avg10_at_start"],
        "loadavg": figures["loadavg_end"],
    }


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--levels", default="1,50,200", help="comma-separated call counts")
    p.add_argument("--duration", type=float, default=10.0, help="measured seconds per level")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--repeat", type=int, default=1, help="runs per level (fresh process each)")
    p.add_argument("--wait-calm", type=float, default=0.0, metavar="S",
                   help="before each run, wait up to S seconds for the machine's CPU pressure "
                        "(/proc/pressure/cpu avg10) to fall below 5 %%")
    p.add_argument("--max-steal", type=float, default=0.5, metavar="PCT",
                   help="a run during which the hypervisor took more than PCT %% of the host's "
                        "core (steal time, /proc/stat) is kept and reported, but marked stolen")
    p.add_argument("--retry-stolen", type=int, default=2, metavar="N",
                   help="run a stolen run again, at most N more times")
    args = p.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",") if x.strip()]

    runs: list[dict[str, Any]] = []
    print(f"pacing: {args.duration:g} s per run after {args.warmup:g} s warm-up; "
          "deviation of inter-frame gaps from 20 ms, in ms")
    header = (f"{'calls':>5}  {'recv p50':>8} {'p99':>7} {'max':>7}   {'send p50':>8} {'p99':>7} "
              f"{'max':>7}   {'undist. p99':>11} {'skipped':>7} {'cpu %':>6} {'waited %':>8} "
              f"{'dist. ticks %':>13} {'steal %':>7}")
    print(header)
    for run in range(args.repeat):
        for calls in levels:
            for _attempt in range(1 + max(0, args.retry_stolen)):
                r = one_level(calls, args.warmup, args.duration, run + 1, args.wait_calm)
                steal = r["interference"]["host_core_steal_pct"]
                r["stolen"] = steal > args.max_steal
                runs.append(r)
                rd, sd = r["receiver_gap_deviation_ms"], r["sender_gap_deviation_ms"]
                print(f"{calls:>5}  {rd['p50']:>8.3f} {rd['p99']:>7.3f} {rd['max']:>7.2f}   "
                      f"{sd['p50']:>8.3f} {sd['p99']:>7.3f} {sd['max']:>7.2f}   "
                      f"{r['sender_undisturbed_gap_deviation_ms']['p99']:>11.3f} "
                      f"{r['clock_skipped_ticks']:>7} {r['host_cpu_pct_one_core']:>6.1f} "
                      f"{r['interference']['run_delay_pct']:>8.2f} "
                      f"{r['disturbed_tick_pct']:>13.1f} {steal:>7.1f}"
                      f"{'  (stolen: run again)' if r['stolen'] else ''}", flush=True)
                if not r["stolen"]:
                    break

    by_level: dict[str, Any] = {}
    for calls in levels:
        mine = [r for r in runs if r["calls"] == calls]
        p99s = [r["receiver_gap_deviation_ms"]["p99"] for r in mine]
        clean = [r["receiver_gap_deviation_ms"]["p99"] for r in mine if not r["stolen"]]
        by_level[str(calls)] = {
            # runs during which the hypervisor took at most --max-steal % of the host's core
            "receiver_p99_ms_median_of_unstolen_runs": statistics.median(clean) if clean else None,
            "receiver_p99_ms_unstolen_runs": clean,
            "steal_pct_runs": [r["interference"]["host_core_steal_pct"] for r in mine],
            "receiver_p50_ms": statistics.median(
                r["receiver_gap_deviation_ms"]["p50"] for r in mine
            ),
            "receiver_p99_ms_median_of_runs": statistics.median(p99s),
            "receiver_p99_ms_runs": p99s,
            "receiver_max_ms": max(r["receiver_gap_deviation_ms"]["max"] for r in mine),
            "sender_p99_ms_median_of_runs": statistics.median(
                r["sender_gap_deviation_ms"]["p99"] for r in mine
            ),
            "sender_undisturbed_p99_ms_median_of_runs": statistics.median(
                r["sender_undisturbed_gap_deviation_ms"]["p99"] for r in mine
            ),
            "host_waited_for_cpu_pct_runs": [r["interference"]["run_delay_pct"] for r in mine],
        }
    target_level = by_level.get(str(TARGET_CALLS))
    met: bool | None = None
    if target_level is not None:
        clean_median = target_level["receiver_p99_ms_median_of_unstolen_runs"]
        met = clean_median is not None and clean_median <= TARGET_P99_MS
        verdict = "MET" if met else "NOT MET"
        shown = "none" if clean_median is None else f"{clean_median:.3f} ms"
        print(f"target p99 ≤ {TARGET_P99_MS:g} ms at {TARGET_CALLS} calls: {verdict} "
              f"(receiver p99, median of the {len(target_level['receiver_p99_ms_unstolen_runs'])} "
              f"run(s) with steal ≤ {args.max_steal:g} %: {shown}; median of all "
              f"{len(target_level['receiver_p99_ms_runs'])} run(s): "
              f"{target_level['receiver_p99_ms_median_of_runs']:.3f} ms)")
    else:
        print(f"target level ({TARGET_CALLS} calls) not run")
    report.save("pacing", {
        "target": f"p99 ≤ {TARGET_P99_MS:g} ms at {TARGET_CALLS} calls (receiver side)",
        "target_met": met,
        "target_judged_on": f"the median of runs during which the hypervisor took ≤ "
                            f"{args.max_steal:g} % of the host's core (steal); every run is "
                            "listed under runs, stolen ones too",
        "conditions": {
            "duration_s": args.duration, "warmup_s": args.warmup, "repeat": args.repeat,
            "max_steal_pct": args.max_steal, "retry_stolen": args.retry_stolen,
            "assistant": "espeak-ng speech queued for the whole window",
            "caller": "silent, RTP silence every 20 ms",
        },
        "levels": by_level,
        "runs": runs,
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
