"""Benchmark: the call service's life around its calls (issue 11), on the PBX simulator, with the
service as a real process (``python -m cli serve``, configured by ``CALLWRIGHT_*`` variables).

    python -m bench.lifecycle [--cycles 10] [--calls 10] [--drain-s 3] [--soak-minutes 10]

* **Kill cycles**: 10 calls (four in five to the demo assistant, ``on_recovery = resume``; one in
  five to an assistant that hands recovered callers to the dialplan), every other caller one
  step into the flow; then SIGKILL, and the service started again at once. Per caller, the
  silence until it is served again (the first speech it hears, or its hand-back to the dialplan),
  measured from the kill and from the moment the new process is connected (the simulator sees its
  events WebSocket): the first includes the new process's whole start-up, the second is what the
  service controls once it is back (target ≤ 3 s).
* **Drain cycles**: 10 calls, then SIGTERM with a short ``[calls] drain_s``; three callers in ten
  hang up during the drain, a new call arrives during it (it must go straight back to the
  dialplan), the others are handed back after ``drain_s`` with a line. Per caller, the longest
  silence it heard between SIGTERM and leaving our app (the callers stay silent after SIGTERM, so
  this includes the flow waiting for their answer), the silence from SIGTERM to the first speech
  or the hand-back, and the time to the hand-back. Callers handed back are the PBX's, so a
  silence "from the restart" does not apply to them; the window in which a new call would fail
  (the old process's exit → the new process connected) is reported instead.
* After each cycle, **rows left open** (this cycle's rows still ``in_progress``; target 0) and
  rows missing, and **leftovers in the PBX**, channels and bridges still there once every caller
  is gone (target 0): after the new process has reconciled for kill cycles, before the next
  process starts for drain cycles (a draining process must clean up by itself).
* **Reconnect time**: process start → connected for every restart, and kill → connected.
* **Soak**: a fresh process, ``--soak-calls`` (50) concurrent calls for ``--soak-minutes`` (10),
  each replaced as it ends (six in ten talk the demo flow to its end, the others hang up after
  2-10 s of it); the service's RSS sampled every ``--sample-s`` s and its slope fitted by least
  squares after ``--soak-warmup-s`` (60; target < 1 MB/min), and for information from a third
  and from half of the soak on (does growth go on, or level off?); rows lost: calls that reached
  our app with no closed row (target 0).

The bench process runs the simulator and every caller on the same cores as the service; the
machine's load (other work included) is measured for each phase, not excluded. Results go to
``bench/results/lifecycle.json`` (``--out`` elsewhere).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ari_app.demo import DEMO_NUMBER, DEMO_PHRASES
from ari_app.demo_caller import converse, heard_speech_after
from ari_app.simulator.server import PbxSimulator
from bench.lifecycle_measures import (
    LoadMeter,
    finite,
    first_after,
    longest_silence,
    rss_slope_mb_per_min,
    seconds,
    speech_times,
)
from bench.lifecycle_report import brief, cycle_figures, mb, targets
from bench.lifecycle_rig import (
    DESK_NUMBER,
    PASSWORD,
    Options,
    Placed,
    Rig,
    left_at,
)
from bench.report import save
from bench.service_process import cpu_seconds, rss_bytes

__all__ = ["Options", "main", "parse_args", "run"]


async def kill_cycle(rig: Rig) -> dict[str, Any]:
    n = rig.opts.calls
    desk = n // 5
    placed = await rig.calls_up([DESK_NUMBER if i >= n - desk else DEMO_NUMBER
                                 for i in range(n)])
    assert rig.service is not None
    killed = time.monotonic()
    await rig.service.kill()
    started, back = await rig.start_service()
    served = await asyncio.gather(*(left_at(p.call, killed, 30.0, speech=True)
                                    for p in placed))

    async def leave(p: Placed, at: float | None, how: str) -> None:
        if at is not None and how == "speech":  # hears a little of the line, hangs up
            await asyncio.sleep(max(0.0, at + 1.5 - time.monotonic()))
            await p.call.caller.hangup()

    await asyncio.gather(*(leave(p, at, how) for p, (at, how) in zip(placed, served,
                                                                       strict=True)))
    stuck = await rig.all_ended(placed, 20.0)
    left = await rig.leftovers(5.0)
    rows = await rig.row_check([p.number for p in placed], 5.0)
    rig.forget(placed)
    return {
        "callers": [{"how": how,
                     "from_kill_s": None if at is None else round(at - killed, 3),
                     "from_back_s": None if at is None else round(at - back, 3)}
                    for at, how in served],
        "kill_to_connected_s": round(back - killed, 3),
        "restart_to_connected_s": round(back - started, 3),
        "callers_stuck": stuck, "leftovers": left, **rows,
    }


async def drain_cycle(rig: Rig) -> dict[str, Any]:
    n, drain_s = rig.opts.calls, rig.opts.drain_s
    placed = await rig.calls_up([DEMO_NUMBER] * n)
    leavers, stayers = placed[: 3 * n // 10], placed[3 * n // 10:]
    old = rig.service
    assert old is not None
    termed = time.monotonic()
    old.signal(signal.SIGTERM)

    async def exited() -> tuple[int | None, float]:
        try:
            code: int | None = await old.wait(drain_s + 90.0)
        except TimeoutError:
            await old.kill()
            code = None
        return code, time.monotonic()

    async def leave_early(p: Placed) -> float:
        await asyncio.sleep(rig.rng.uniform(0.2, max(0.3, 0.8 * drain_s)))
        gone = time.monotonic()
        await p.call.caller.hangup()
        return gone

    async def newcomer() -> tuple[Placed, float | None]:
        await asyncio.sleep(0.3)
        q = await rig.place(DEMO_NUMBER)
        at, how = await left_at(q.call, q.placed_at, 10.0, speech=False)
        return q, (at - q.placed_at if at is not None and how == "handed_back" else None)

    exit_task = asyncio.create_task(exited())
    new_task = asyncio.create_task(newcomer())
    gone = await asyncio.gather(*(leave_early(p) for p in leavers))
    ends = await asyncio.gather(*(left_at(p.call, termed, drain_s + 40.0, speech=False)
                                  for p in stayers))
    (code, exit_at), (late, turned_away_s) = await exit_task, await new_task
    callers = []
    for p, (end, how) in [*zip(leavers, [(g, "hung_up") for g in gone], strict=True),
                          *zip(stayers, ends, strict=True)]:
        times = speech_times(p.call.caller)
        end_at = end if end is not None else time.monotonic()
        first = first_after(times, termed)
        callers.append({
            "how": how,
            "longest_silence_s": round(longest_silence(times, termed, end_at), 3),
            "from_signal_s": round(min(first or end_at, end_at) - termed, 3),
            "handed_back_after_s": round(end_at - termed, 3) if how == "handed_back" else None,
        })
    stuck = await rig.all_ended([*placed, late], 20.0)
    left = await rig.leftovers(5.0)
    rows = await rig.row_check([p.number for p in placed], 1.0)
    newcomer_rows = int(late.number in rig.rows())
    rig.forget([*placed, late])
    started, back = await rig.start_service()
    return {
        "callers": callers, "exit_code": code,
        "exit_after_signal_s": round(exit_at - termed, 3),
        "newcomer_stasis_status": late.call.stasis_status,
        "newcomer_turned_away_s": None if turned_away_s is None else round(turned_away_s, 3),
        "newcomer_rows": newcomer_rows,
        "exit_to_connected_s": round(back - exit_at, 3),
        "restart_to_connected_s": round(back - started, 3),
        "callers_stuck": stuck, "leftovers": left, **rows,
    }


async def run_cycles(rig: Rig, kind: str) -> list[dict[str, Any]]:
    cycle = kill_cycle if kind == "kill" else drain_cycle
    out: list[dict[str, Any]] = []
    for k in range(rig.opts.cycles):
        try:
            out.append(await cycle(rig))
        except Exception as exc:  # noqa: BLE001 (a failed cycle is a figure, not the end)
            out.append({"error": f"{type(exc).__name__}: {exc}"})
            await rig.clean_up_after_error()
        print(f"   {kind} cycle {k + 1}/{rig.opts.cycles}: "
              f"{json.dumps(brief(out[-1]))}", flush=True)
    return out

# -- the soak ------------------------------------------------------------------------------------


async def soak(rig: Rig) -> dict[str, Any]:
    opts = rig.opts
    await rig.stop_service()
    await rig.start_service()
    assert rig.service is not None
    pid = rig.service.pid
    meter, cpu0 = LoadMeter(), cpu_seconds(pid) or 0.0
    t0 = time.monotonic()
    duration = opts.soak_minutes * 60.0
    samples: list[tuple[float, int]] = []
    numbers: list[str] = []
    counts: Counter[str] = Counter()
    sampling = asyncio.Event()

    async def sample() -> None:
        while not sampling.is_set():
            rss = rss_bytes(pid)
            if rss is not None:
                samples.append((round(time.monotonic() - t0, 1), rss))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sampling.wait(), opts.sample_s)

    async def one_call(rng: random.Random) -> None:
        p = await rig.place(DEMO_NUMBER)
        try:
            if p.call.stasis_status == "FAILED":
                counts["stasis_failed"] += 1
                return
            numbers.append(p.number)
            if rng.random() < 0.6:
                await converse(p.call, DEMO_PHRASES, rig.audio, placed_at=p.placed_at,
                               turn_timeout_s=30.0)
                counts["talked"] += 1
            else:
                await heard_speech_after(p.call.caller, p.placed_at, 30.0)
                await asyncio.sleep(rng.uniform(2.0, 10.0))
                await p.call.caller.hangup()
                counts["hung_up_early"] += 1
        except TimeoutError:
            counts["caller_timeouts"] += 1
        finally:
            counts["stuck"] += await rig.all_ended([p], 0.0)
            rig.forget([p])

    async def caller_loop(i: int) -> None:
        rng = random.Random(opts.seed * 1000 + i)
        await asyncio.sleep(i * 0.2)  # staggered, as calls arrive
        while time.monotonic() - t0 < duration:
            await one_call(rng)

    sampler = asyncio.create_task(sample())
    await asyncio.gather(*(caller_loop(i) for i in range(opts.soak_calls)))
    ended = time.monotonic() - t0
    service_cpu = (cpu_seconds(pid) or 0.0) - cpu0
    load = meter.figures(service_cpu_s=service_cpu)
    sampling.set()
    await sampler
    left = await rig.leftovers(10.0)
    rows = await rig.row_check(numbers, 10.0)
    code = await rig.stop_service()
    open_at_end = sum(s == "in_progress" for s, _ in rig.rows().values())
    in_window = [(t, r) for t, r in samples if t <= duration]
    fit_after = min(opts.soak_warmup_s, duration / 3)
    slope = rss_slope_mb_per_min(in_window, fit_after)
    # The same fit from later starts: whether growth after the warm-up goes on or levels off.
    later = {f"{start:g}": finite(rss_slope_mb_per_min(in_window, start))
             for start in sorted({fit_after, round(duration / 3), round(duration / 2)})}
    return {
        "minutes": opts.soak_minutes, "concurrent_calls": opts.soak_calls,
        "calls_placed": len(numbers) + counts["stasis_failed"], "calls_reached_app":
        len(numbers), "callers": dict(counts), "ran_s": round(ended, 1),
        "rows_lost": rows["rows_missing"] + rows["rows_open"], **rows,
        "rows_in_progress_after_exit": open_at_end, "exit_code": code, "leftovers": left,
        "rss_mb": {"start": mb(in_window[0][1]) if in_window else None,
                   "end": mb(in_window[-1][1]) if in_window else None,
                   "max": mb(max(r for _, r in in_window)) if in_window else None},
        "rss_slope_mb_per_min": None if slope is None else round(slope, 3),
        "rss_fit_after_s": fit_after,
        "rss_slope_mb_per_min_fitted_from_s": later,
        "rss_samples": [[t, mb(r)] for t, r in samples],
        "load": load,
    }


async def run(opts: Options, workdir: Path) -> dict[str, Any]:
    sim = PbxSimulator(username="callwright", password=PASSWORD, dialplan_s=1.0, seed=opts.seed)
    await sim.start()
    bench = Rig(opts, workdir, sim)
    figures: dict[str, Any] = {}
    try:
        await bench.prepare()
        await bench.start_service()
        for kind in ("kill", "drain"):
            meter = LoadMeter()
            print(f"== {kind} cycles", flush=True)
            cycles = await run_cycles(bench, kind)
            figures[f"{kind}_cycles"] = cycle_figures(cycles, kind) | {"load": meter.figures()}
        if opts.soak_minutes > 0:
            print(f"== soak: {opts.soak_calls} calls for {opts.soak_minutes:g} min", flush=True)
            figures["soak"] = await soak(bench)
        else:
            await bench.stop_service()
    finally:
        if bench.service is not None:
            await bench.service.kill()
        await sim.stop()
    figures["restart_to_connected_all_s"] = seconds(bench.restart_s)
    figures["targets"] = targets(figures)
    figures["conditions"] = {
        "options": asdict(opts),
        "service": "python -m cli serve (a real process), CALLWRIGHT_* environment; Korean "
                   "Vosk model, espeak-ng, recordings on; default start-up warm-up",
        "pbx": "PbxSimulator in the bench process (it also runs every caller)",
    }
    return figures


def parse_args(argv: Sequence[str]) -> tuple[Options, Path | None]:
    p = argparse.ArgumentParser(prog="python -m bench.lifecycle", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    d = Options()
    p.add_argument("--cycles", type=int, default=d.cycles, help="kill cycles, and drain cycles")
    p.add_argument("--calls", type=int, default=d.calls, help="calls up during each cycle")
    p.add_argument("--drain-s", type=float, default=d.drain_s)
    p.add_argument("--soak-minutes", type=float, default=d.soak_minutes, help="0: no soak")
    p.add_argument("--soak-calls", type=int, default=d.soak_calls)
    p.add_argument("--soak-warmup-s", type=float, default=d.soak_warmup_s)
    p.add_argument("--sample-s", type=float, default=d.sample_s)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--out", type=Path, help="write the figures here instead of bench/results")
    a = p.parse_args(argv)
    opts = Options(cycles=a.cycles, calls=a.calls, drain_s=a.drain_s,
                   soak_minutes=a.soak_minutes, soak_calls=a.soak_calls,
                   soak_warmup_s=a.soak_warmup_s, sample_s=a.sample_s, seed=a.seed)
    return opts, a.out


def main(argv: Sequence[str]) -> int:
    opts, out = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="callwright-lifecycle-") as tmp:
        figures = asyncio.run(run(opts, Path(tmp)))
    if out is None:
        save("lifecycle", figures)
    else:
        out.write_text(json.dumps(figures, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
