"""Live-speech capacity: how many concurrent calls with live Vosk recognition keep the
closed-answer gap, and what a call costs in CPU and memory.

The call service runs as its own process (``python -m cli serve``, :mod:`bench.service_process`);
this process runs the PBX simulator and the callers. Every caller answers a yes/no question
("네", from the turn-taking corpus, grammar mode) and is asked again, one utterance about every
5 s, for ``--seconds``. Per level of concurrent calls: the gap the callers hear (end of their
speech → first reply audio) p50/p95, the service's CPU time per call (as a share of one core),
and its resident memory per call (RSS with the calls up minus RSS idle, over the calls). A level
holds when its gap p95 is within 1.25× the single call's. Beside each level, the service's own
figures over it (:mod:`bench.service_metrics`, from its ``/metrics``): speech recognition's final,
the first reply frame, the event loop's lag and the pacer clock's late and skipped ticks, so a
slower gap can be told apart (a recogniser backlog, or a loop that did not keep time).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ari_app.simulator.calls import SimulatedCall
from ari_app.simulator.server import PbxSimulator
from bench.call_latency import BENCH_FLOW
from bench.report import save, summarize
from bench.service_metrics import MetricsScraper, free_port
from bench.service_process import ServiceProcess, cpu_seconds, rss_bytes, service_env
from bench.turn_corpus import CorpusItem, render
from bench.turn_taking import first_reply
from callwright.store.db import Database
from callwright.store.seed import seed_demo

APP = "callwright"
PASSWORD = "capacity-secret"
NUMBER = "100"
YES = CorpusItem("yes", "ko", "yes_no", ("네",))
#: Silence after the caller's word in each utterance (the caller keeps sending, as RTP does).
TAIL_MS = 700
START_LIMIT_S = 240.0


async def caller_loop(call: SimulatedCall, pcm: bytes, speech_end_ms: float, until: float,
                      gaps: list[float], period_s: float) -> None:
    caller = call.caller
    with contextlib.suppress(TimeoutError):
        await caller.wait_until_quiet(600, timeout=60)
    await asyncio.sleep(random.uniform(0, period_s))  # the callers' turns spread over the period
    while time.monotonic() < until and not call.is_ended:
        said_at = time.monotonic()
        await caller.say(pcm)
        speech_end = said_at + speech_end_ms / 1000
        deadline = time.monotonic() + 10
        reply = first_reply(caller, said_at + 0.25)
        while reply is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            reply = first_reply(caller, said_at + 0.25)
        if reply is not None and reply[0] >= speech_end:
            gaps.append((reply[0] - speech_end) * 1000)
        with contextlib.suppress(TimeoutError):
            await caller.wait_until_quiet(400, timeout=20)
        await asyncio.sleep(max(0.0, said_at + period_s - time.monotonic()))


async def level(sim: PbxSimulator, service: ServiceProcess, metrics: MetricsScraper, calls: int,
                seconds: float, pcm: bytes, speech_end_ms: float, idle_rss: int) -> dict[str, Any]:
    placed = []
    for i in range(calls):
        placed.append(await sim.place_call(dialed=NUMBER, caller_number=f"+8290{calls:03d}{i:04d}",
                                           app=APP))
        await asyncio.sleep(0.05)
    gaps: list[float] = []
    await asyncio.sleep(3)  # every call greeted and listening
    before = await metrics.scrape()
    cpu0, t0 = cpu_seconds(service.pid) or 0.0, time.monotonic()
    until = t0 + seconds
    rss_peak = 0
    loops = [asyncio.ensure_future(caller_loop(c, pcm, speech_end_ms, until, gaps, 5.0))
             for c in placed]
    while time.monotonic() < until:
        await asyncio.sleep(1)
        rss_peak = max(rss_peak, rss_bytes(service.pid) or 0)
    await asyncio.gather(*loops, return_exceptions=True)
    cpu = (cpu_seconds(service.pid) or 0.0) - cpu0
    took = time.monotonic() - t0
    service_side = metrics.since(before, await metrics.scrape())
    for c in placed:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(c.caller.hangup(), 5)
    for c in placed:
        sim.ctx.all_calls.pop(c.channel_id, None)
    await asyncio.sleep(2)
    return {
        "calls": calls, "turns": len(gaps), "gap_ms": summarize(gaps),
        "cpu_per_call_pct_of_a_core": round(100 * cpu / took / calls, 2),
        "service_cpu_pct": round(100 * cpu / took, 1),
        "rss_mb_idle": round(idle_rss / 2**20, 1), "rss_mb_peak": round(rss_peak / 2**20, 1),
        "rss_mb_per_call": round((rss_peak - idle_rss) / 2**20 / calls, 2),
        # The machine's load (other processes too): a starved service shows in the gap, not
        # in its own CPU time.
        "loadavg_1min": round(os.getloadavg()[0], 1),
        # The service's own view (its /metrics, over the level): where the gap went.
        "service": service_side,
    }


async def run(levels: list[int], seconds: float, workdir: Path) -> dict[str, Any]:
    rendered = render(YES)
    speech_end_ms = rendered.speech_end_ms
    pcm = rendered.pcm[: int((speech_end_ms + TAIL_MS) * 16)]
    sim = PbxSimulator(username="callwright", password=PASSWORD)
    await sim.start()
    store = workdir / "callwright.db"
    db = await Database.open(store)
    await seed_demo(db, number=NUMBER, language="ko", greeting="", flow=dict(BENCH_FLOW),
                    record_calls=False)
    await db.close()
    status_port = free_port()
    env = service_env({
        "ARI_URL": sim.ari_url, "ARI_USERNAME": "callwright", "ARI_PASSWORD": PASSWORD,
        "ARI_APP": APP, "SERVER_DATA_DIR": str(workdir),
        "SERVER_MASTER_KEY_FILE": str(workdir / "master.key"), "SERVER_LOG_LEVEL": "warning",
        "STORE_PATH": str(store), "RECORDINGS_DIR": str(workdir / "recordings"),
        "SERVER_STATUS_PORT": str(status_port),
    })
    metrics = MetricsScraper(f"http://127.0.0.1:{status_port}/metrics")
    service = ServiceProcess(env, workdir / "service.log")
    results: list[dict[str, Any]] = []
    try:
        await service.start()
        deadline = time.monotonic() + START_LIMIT_S
        while not sim.hub.is_active(APP):
            if time.monotonic() > deadline or not service.running:
                raise RuntimeError("the service did not connect:\n"
                                   + "\n".join(service.output_tail()))
            await asyncio.sleep(0.2)
        await asyncio.sleep(2)
        idle_rss = rss_bytes(service.pid) or 0
        for calls in levels:
            print(f"-- {calls} calls", flush=True)
            results.append(await level(sim, service, metrics, calls, seconds, pcm,
                                       speech_end_ms, idle_rss))
            print(f"   {results[-1]}", flush=True)
    finally:
        await service.kill()
        await sim.stop()
    single = results[0]["gap_ms"]["p95"] if results and results[0]["turns"] else None
    holds = [r["calls"] for r in results
             if single and r["turns"] and r["gap_ms"]["p95"] <= 1.25 * single]
    return {"levels": results, "single_call_gap_p95_ms": single,
            "largest_level_within_1_25x": max(holds) if holds else None}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.live_capacity")
    parser.add_argument("--levels", default="1,25,50,100,125,150")
    parser.add_argument("--seconds", type=float, default=40.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="callwright-capacity-") as tmp:
        figures = asyncio.run(run([int(n) for n in args.levels.split(",")], args.seconds,
                                  Path(tmp)))
    figures["conditions"] = (
        "service as its own process (python -m cli serve), simulator and callers in this one, "
        "same 2 cores (each level's loadavg_1min says what else ran); Korean Vosk in grammar "
        "mode (yes/no); one '네' about every 5 s per call; the service's default settings")
    figures["target"] = "≥ 100 calls with gap p95 ≤ 1.25× one call's; ≤ 5 MB per call"
    save("live_capacity", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
