"""Benchmark: media-only capacity, concurrent calls with RTP in and out, VAD, recording, no STT.

    python -m bench.media_capacity [--levels 50,100,200] [--max-calls 500] [--step 100]
                                   [--duration 10] [--warmup 3] [--no-record]

For each level a fresh host process (``bench.media_host``, scenario ``talk``) runs N full call
pipelines: RtpTransport on 127.0.0.1 (µ-law, jitter buffer), VAD, endpointing, barge-in, pacer on
the shared clock, a ``StereoWavRecorder`` per call writing to a temporary directory, and a fake STT
that only counts bytes. The load generator (``bench.loadgen``, a separate process playing
Asterisk) sends every call caller audio for the whole run: espeak-ng speech half the time, RTP
silence the other half, each call at its own point of that cycle; the assistant greets and answers
each caller turn (espeak-ng audio, synthesised once), so both directions carry speech part of the
time, and barge-ins happen when the caller talks over the assistant.

Per level: the host's CPU (getrusage over the window, as % of one core), RSS before any call and
during the calls (per call = (RSS at N - RSS at 0) / N), frame loss (outbound: packets missing
from each call's sequence at the generator plus pacer ticks the clock skipped; inbound: packets
the generator sent vs packets the app's transports received), pacing (receiver and sender side)
under that load, and how long the host waited for a CPU (other processes).

After the listed levels, it keeps adding ``--step`` calls while the last level held (CPU under
one core and frame loss ≤ 0.1 %), up to ``--max-calls``.

Target (DESIGN.md §6): ≥ 200 concurrent calls under one core.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import report  # noqa: E402
from bench.loadgen import speech_clip_ulaw  # noqa: E402
from bench.media_host import HostConfig, run_host  # noqa: E402
from callwright.media.codecs import ULAW  # noqa: E402
from callwright.media.jitter import JitterBuffer  # noqa: E402
from callwright.media.pacer import Pacer  # noqa: E402
from callwright.media.recorder import StereoWavRecorder  # noqa: E402
from callwright.media.rtp import RtpSender, build_rtp, parse_plain_rtp  # noqa: E402
from callwright.media.rtp_stats import RtpReceiveStats  # noqa: E402
from callwright.speech.barge_in import BargeInConfig, BargeInDetector  # noqa: E402
from callwright.speech.endpointing import Endpointer, EndpointingConfig  # noqa: E402
from callwright.speech.vad import VoiceActivityDetector  # noqa: E402

TARGET_CALLS = 200
MAX_LOSS_PCT = 0.1


def one_level(calls: int, args: argparse.Namespace) -> dict[str, Any]:
    f = run_host(HostConfig(
        calls=calls, scenario="talk", warmup_s=args.warmup, duration_s=args.duration,
        record=not args.no_record, assistant_audio="speech", caller_idle="silence",
    ), wait_calm_s=args.wait_calm)
    gen, sender, app = f["generator"], f["sender"], f["receiver_app"]
    expected = max(1, gen["expected_in_window"])
    skipped_frames = sender["clock_skipped_ticks"] * calls
    out_loss = gen["lost_in_sequence"] + skipped_frames
    in_sent = max(1, gen["sent_packets"])
    in_loss = max(0, gen["sent_packets"] - app["packets_received"])
    cpu = f["cpu_pct_one_core"]
    row = {
        "calls": calls,
        "cpu_pct_one_core": cpu,
        "cpu_pct_per_call": round(cpu / calls, 3),
        # CPU per call per 20 ms (one frame in, one frame out and everything around them)
        "cpu_us_per_call_frame": round(cpu / 100.0 * 20_000.0 / calls, 1),
        "rss0_mb": f["rss0_mb"],
        "rss_mb": f["rss_peak_mb"],
        "rss_per_call_mb": f["rss_per_call_mb"],
        "out_loss_pct": round(100.0 * out_loss / expected, 3),
        "out_lost_in_sequence": gen["lost_in_sequence"],
        "clock_skipped_ticks": sender["clock_skipped_ticks"],
        "in_loss_pct": round(100.0 * in_loss / in_sent, 3),
        "in_packets_sent": gen["sent_packets"],
        "in_packets_received": app["packets_received"],
        "jitter_lost": app["jitter_lost"],
        "jitter_late": app["jitter_late"],
        "receiver_gap_deviation_ms": gen["gap_deviation_ms"],
        "sender_gap_deviation_ms": sender["pacer_gap_deviation_ms"],
        "tick_lateness_ms": sender["tick_lateness_ms"],
        "pacer_phase_ms": sender["pacer_phase_ms"],
        "barge_ins": f["barge_ins_counted"],
        "loadgen_cpu_pct": gen["loadgen_cpu_pct"],
        "interference": f["interference"],
        "machine_cpu_pressure_avg10_at_start": f["machine_cpu_pressure_avg10_at_start"],
        "gc": sender["gc"],
        "loadavg": f["loadavg_end"],
    }
    row["holds"] = (
        cpu < 100.0 and row["out_loss_pct"] <= MAX_LOSS_PCT and row["in_loss_pct"] <= MAX_LOSS_PCT
    )
    return row


def _cost_us(fn: Callable[[], object], number: int = 2000, repeat: int = 7) -> float:
    """Microseconds per call of ``fn``: the best of ``repeat`` timings (least disturbed by other
    processes, which is what makes these figures steadier than the load runs)."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def component_costs() -> dict[str, float]:
    """CPU cost of each per-frame step of one call, in µs (one 20 ms frame in, one out)."""
    clip = speech_clip_ulaw("Hello, I would like to book an appointment for tomorrow.")
    speech_payload = clip[160 * 20 : 160 * 21]
    speech_pcm = ULAW.decode(speech_payload)
    silence_pcm = bytes(320)
    seq = [0]
    packet = build_rtp(0, 1, 160, 0x1234, speech_payload)
    stats = RtpReceiveStats()
    jitter = JitterBuffer(160)

    def jitter_step() -> None:
        s = seq[0] = (seq[0] + 1) & 0xFFFF
        jitter.push_frame(s, speech_pcm, timestamp=s * 160, ssrc=1)
        jitter.tick()

    index = [0]

    def stats_step() -> None:
        i = index[0] = (index[0] + 1) & 0xFFFF
        stats.update_fields(i, i * 160, 1, i * 0.02)

    vad = VoiceActivityDetector(8000, 2, 20)
    endpointer, barge = Endpointer(EndpointingConfig()), BargeInDetector(BargeInConfig())
    t = [0.0]

    def decisions() -> None:
        t[0] += 20.0
        endpointer.process(False, t[0])
        barge.process(False, t[0])

    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender = RtpSender(0)
    target = rx.getsockname()

    def send(pcm: bytes) -> None:
        tx.sendto(sender.packet(ULAW.encode(pcm), 160), target)

    pacer = Pacer(320, send)
    long_audio = bytes(320) * 10_000

    def pacer_tick() -> None:
        if not pacer.is_speaking:
            pacer.enqueue(long_audio)
        pacer.tick(0.0)

    with tempfile.TemporaryDirectory() as tmp:
        recorder = StereoWavRecorder(Path(tmp) / "r.wav", 8000)
        pos = [0]

        def record_both() -> None:
            recorder.write_caller(speech_pcm, pos[0])
            recorder.write_assistant(speech_pcm, pos[0])
            pos[0] += 160

        costs = {
            "in: RTP header (plain packet fast path)": _cost_us(lambda: parse_plain_rtp(packet)),
            "in: receive statistics": _cost_us(stats_step),
            "in: µ-law decode": _cost_us(lambda: ULAW.decode(speech_payload)),
            "in: jitter push + tick": _cost_us(jitter_step),
            "in: VAD, speech frame": _cost_us(lambda: vad.is_speech(speech_pcm)),
            "in: VAD, silent frame": _cost_us(lambda: vad.is_speech(silence_pcm)),
            "in: endpointing + barge-in": _cost_us(decisions),
            "out: pacer tick + µ-law encode + RTP header + sendto": _cost_us(pacer_tick),
            "both: recorder, caller + assistant frame": _cost_us(record_both, number=1000),
        }
        recorder.close()
    rx.close()
    tx.close()
    costs = {k: round(v, 2) for k, v in costs.items()}
    costs["sum (one frame each way, speech VAD)"] = round(
        sum(v for k, v in costs.items() if "silent frame" not in k), 2
    )
    return costs


def print_row(r: dict[str, Any]) -> None:
    print(f"{r['calls']:>5} {r['cpu_pct_one_core']:>7.1f} {r['cpu_pct_per_call']:>8.3f} "
          f"{r['rss_per_call_mb']:>8.3f} {r['out_loss_pct']:>8.3f} {r['in_loss_pct']:>7.3f} "
          f"{r['clock_skipped_ticks']:>7} {r['receiver_gap_deviation_ms']['p99']:>8.2f} "
          f"{r['sender_gap_deviation_ms']['p99']:>8.2f} "
          f"{r['interference']['run_delay_pct']:>8.2f}  {'yes' if r['holds'] else 'no'}",
          flush=True)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--levels", default="50,100,200")
    p.add_argument("--max-calls", type=int, default=500)
    p.add_argument("--step", type=int, default=100)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--no-record", action="store_true", help="no StereoWavRecorder per call")
    p.add_argument("--wait-calm", type=float, default=0.0, metavar="S",
                   help="before each run, wait up to S seconds for the machine's CPU pressure "
                        "(/proc/pressure/cpu avg10) to fall below 5 %%")
    args = p.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",") if x.strip()]

    print(f"media capacity: {args.duration:g} s per level after {args.warmup:g} s warm-up, "
          f"recording {'off' if args.no_record else 'on'}")
    print(f"{'calls':>5} {'cpu %':>7} {'%/call':>8} {'MB/call':>8} {'out loss':>8} "
          f"{'in loss':>7} {'skipped':>7} {'recv p99':>8} {'send p99':>8} {'waited %':>8}  holds")
    rows: list[dict[str, Any]] = []
    for calls in levels:
        rows.append(one_level(calls, args))
        print_row(rows[-1])
    while rows and rows[-1]["holds"] and rows[-1]["calls"] + args.step <= args.max_calls:
        rows.append(one_level(rows[-1]["calls"] + args.step, args))
        print_row(rows[-1])

    costs = component_costs()
    print("CPU cost of the per-frame steps of one call (µs, best of 7 timings):")
    for name, us in costs.items():
        print(f"  {us:7.2f}  {name}")
    steps = costs["sum (one frame each way, speech VAD)"]
    for r in rows:
        per = r["cpu_us_per_call_frame"]
        print(f"  measured at {r['calls']} calls: {per:.1f} µs per call per 20 ms, i.e. "
              f"{per - steps:.1f} µs beyond these steps (event loop, timers, callbacks, glue)")

    at_target = next((r for r in rows if r["calls"] == TARGET_CALLS), None)
    held = [r["calls"] for r in rows if r["holds"]]
    met = bool(at_target and at_target["holds"])
    print(f"largest level that held: {max(held) if held else 'none'} calls")
    if at_target is not None:
        print(f"target ≥ {TARGET_CALLS} calls under one core: {'MET' if met else 'NOT MET'} "
              f"({at_target['cpu_pct_one_core']:.1f} % of one core at {TARGET_CALLS} calls, "
              f"{at_target['rss_per_call_mb']:.3f} MB per call, out loss "
              f"{at_target['out_loss_pct']:.3f} %, in loss {at_target['in_loss_pct']:.3f} %)")
    else:
        print(f"target level ({TARGET_CALLS} calls) not run")
    report.save("media_capacity", {
        "target": f"≥ {TARGET_CALLS} concurrent calls under one core",
        "target_met": met,
        "largest_level_held": max(held) if held else None,
        "holds_means": f"CPU < 100 % of one core and frame loss ≤ {MAX_LOSS_PCT} % both ways",
        "conditions": {
            "duration_s": args.duration, "warmup_s": args.warmup,
            "recording": not args.no_record,
            "caller": "espeak-ng speech half the time, RTP silence otherwise (8 kHz µ-law)",
            "assistant": "greets, answers each caller turn (espeak-ng, cached)",
            "stt": "fake (counts bytes)",
        },
        "levels": rows,
        "component_costs_us": costs,
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
