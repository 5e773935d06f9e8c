"""``make bench``: run every benchmark in its own process, print the figures, save them.

Each benchmark is a module ``bench.<name>`` runnable as ``python -m bench.<name>``; it prints its
figures and writes ``bench/results/<name>.json``. This runner runs them in order (or those named
on the command line), then writes ``bench/results/summary.json`` with everything collected (a run
of named benchmarks updates their entries and keeps the others).
Speed and memory targets are checked here, never in the unit tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

#: (module, extra arguments) in the order they run.
BENCHES: list[tuple[str, list[str]]] = [
    ("call_latency", []),
    ("pipeline_latency", []),
    ("pacing", ["--repeat", "3", "--duration", "8"]),
    ("barge_in", []),
    ("turn_taking", []),
    ("turn_eager", []),
    ("vad_compare", []),
    ("live_capacity", []),
    ("media_capacity", []),
    ("admin_calls", []),
    ("admin_calls_postgres", []),
    ("first_use", []),
    ("purge", []),
    ("lifecycle", []),
    ("freeswitch_calls", []),
    ("campaign", []),
    ("two_nodes", []),
]


def main(argv: list[str]) -> int:
    wanted = set(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    summary: dict[str, object] = {}
    summary_file = RESULTS / "summary.json"
    if wanted and summary_file.exists():  # a partial run updates the figures it ran
        summary = json.loads(summary_file.read_text())
    summary["started"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    failed: list[str] = []
    for name, args in BENCHES:
        if wanted and name not in wanted:
            continue
        module = Path(__file__).resolve().parent / f"{name}.py"
        if not module.exists():
            print(f"== {name}: not present, skipped", flush=True)
            continue
        print(f"== {name}", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, "-m", f"bench.{name}", *args])
        result_file = RESULTS / f"{name}.json"
        if code != 0 or not result_file.exists():
            failed.append(name)
            summary[name] = {"error": f"exit code {code}"}
            continue
        summary[name] = json.loads(result_file.read_text())
        print(f"   ({time.monotonic() - started:.0f} s)", flush=True)
    summary_file.write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    print(f"figures saved in {RESULTS / 'summary.json'}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
