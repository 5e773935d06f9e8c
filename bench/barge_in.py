"""Benchmark: barge-in stop time, caller speech onset → last assistant frame sent.

    python -m bench.barge_in [--calls 4] [--per-call 6] [--assistant-audio tone] [--max-s 90]

A host process (``bench.media_host``, scenario ``barge_in``) runs ``--calls`` real call pipelines
(RtpTransport on 127.0.0.1, real VAD, endpointing and barge-in detector with the default settings,
pacer on the shared clock, fake STT). The dialog speaks a long reply (40 s) at call start and after
every caller turn. The load generator (``bench.loadgen``, a separate process acting as Asterisk)
sends RTP silence, waits until the assistant has been talking for 0.8-2 s, then sends caller speech
(espeak-ng, 8 kHz µ-law); the first speech packet carries the RTP marker bit. It measures, per
barge-in, the time from sending that packet to the kernel arrival time of the last non-silent
assistant packet. After the caller's turn the assistant answers with a new long reply and the
generator barges in again, ``--per-call`` times per call.

The host reports, per onset (the marker packet's arrival at the app's socket): the time to the
Pause decision (the pacer stops sending audio at its next tick), to the last assistant frame it
sent, to the Interrupt decision and to the flush.

The assistant's audio is a continuous tone by default, so that "the last non-silent frame" is
exactly the last frame of TTS audio (espeak-ng speech has silent gaps between words that would
make the stop look earlier than it was); ``--assistant-audio speech`` uses espeak-ng speech.

Target (DESIGN.md §6): p95 ≤ 150 ms (generator side: what the caller hears).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import report  # noqa: E402
from bench.media_host import HostConfig, run_host  # noqa: E402

TARGET_P95_MS = 150.0


def values(rows: list[dict[str, Any]], key: str) -> list[float]:
    return [float(r[key]) for r in rows if r.get(key) is not None]


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--calls", type=int, default=4, help="concurrent calls")
    p.add_argument("--per-call", type=int, default=6, help="barge-ins per call")
    p.add_argument("--assistant-audio", choices=("tone", "speech"), default="tone")
    p.add_argument("--caller-idle", choices=("silence", "none"), default="silence",
                   help="what the caller sends while silent (RTP silence, or nothing)")
    p.add_argument("--max-s", type=float, default=90.0, help="upper bound on the run")
    p.add_argument("--wait-calm", type=float, default=0.0, metavar="S",
                   help="before each run, wait up to S seconds for the machine's CPU pressure "
                        "(/proc/pressure/cpu avg10) to fall below 5 %%")
    args = p.parse_args(argv)

    figures = run_host(HostConfig(
        calls=args.calls, scenario="barge_in", warmup_s=1.0, duration_s=args.max_s,
        assistant_audio=args.assistant_audio, caller_idle=args.caller_idle,
        barge_per_call=args.per_call,
    ), wait_calm_s=args.wait_calm)
    gen_rows: list[dict[str, Any]] = figures["generator"]["barge_ins"]
    app_rows: list[dict[str, Any]] = figures["barge_ins_app"]
    stop = values(gen_rows, "stop_ms")
    no_voice = sum(1 for r in gen_rows if r["stop_ms"] is None)
    resumed = sum(1 for r in gen_rows if r["resumed"])
    gen_summary = report.summarize(stop)
    app_summary = {
        key: report.summarize(values(app_rows, key))
        for key in ("pause_ms", "last_voiced_sent_ms", "interrupt_ms", "flush_ms")
    }
    met = bool(stop) and gen_summary["p95"] <= TARGET_P95_MS and len(gen_rows) >= 20

    print(f"barge-in: {len(gen_rows)} barge-ins over {args.calls} concurrent calls "
          f"(caller speech clip {figures['generator']['clip_ms']} ms, "
          f"assistant audio: {args.assistant_audio})")
    print(f"  caller side, speech onset sent → last assistant frame received: "
          f"p50 {gen_summary['p50']:.1f} ms, p95 {gen_summary['p95']:.1f} ms, "
          f"max {gen_summary['max']:.1f} ms (n={gen_summary['n']}; "
          f"{no_voice} with no assistant audio after the onset, {resumed} resumed)")
    for key, label in (
        ("pause_ms", "onset packet arrived → Pause decided"),
        ("last_voiced_sent_ms", "onset packet arrived → last assistant frame sent"),
        ("interrupt_ms", "onset packet arrived → Interrupt decided"),
        ("flush_ms", "onset packet arrived → pacer flushed"),
    ):
        s = app_summary[key]
        print(f"  app side, {label}: p50 {s['p50']:.1f} ms, p95 {s['p95']:.1f} ms, "
              f"max {s['max']:.1f} ms (n={s['n']})")
    print(f"  host CPU {figures['cpu_pct_one_core']:.1f} % of one core; waited for a CPU "
          f"{figures['interference']['run_delay_pct']:.2f} % of the time")
    print(f"target p95 ≤ {TARGET_P95_MS:g} ms (≥ 20 barge-ins): {'MET' if met else 'NOT MET'}")
    report.save("barge_in", {
        "target": f"p95 ≤ {TARGET_P95_MS:g} ms, caller speech onset → last assistant frame",
        "target_met": met,
        "conditions": {
            "calls": args.calls, "barge_ins_per_call": args.per_call,
            "assistant_audio": args.assistant_audio, "caller_idle": args.caller_idle,
            "caller_speech_ms": figures["generator"]["clip_ms"],
            "settings": "default EndpointingConfig and BargeInConfig (start 60 ms, "
                        "min speech 200 ms), VAD aggressiveness 2, jitter buffer 2 frames",
        },
        "caller_side_stop_ms": gen_summary,
        "barge_ins": len(gen_rows),
        "no_assistant_audio_after_onset": no_voice,
        "resumed": resumed,
        "app_side_ms": app_summary,
        "pipeline_barge_ins_counted": figures["barge_ins_counted"],
        "host_cpu_pct_one_core": figures["cpu_pct_one_core"],
        "interference": figures["interference"],
        "loadavg": figures["loadavg_end"],
        "samples": {"caller_side": gen_rows, "app_side": app_rows},
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
