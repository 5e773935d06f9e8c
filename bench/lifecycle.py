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
  squares after ``--soak-warmup-s`` (60; target < 1 MB/min); rows lost: calls that reached our
  app with no closed row (target 0).

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
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ari_app.demo import DEMO_NUMBER, DEMO_PHRASES
from ari_app.demo_caller import converse, heard_speech_after, synthesize_phrases
from ari_app.simulator.calls import SimulatedCall
from ari_app.simulator.server import PbxSimulator
from bench.lifecycle_measures import (
    LoadMeter,
    SpeechWatch,
    first_after,
    longest_silence,
    rss_slope_mb_per_min,
    seconds,
    speech_times,
)
from bench.report import save
from bench.service_process import ServiceProcess, cpu_seconds, rss_bytes, service_env
from callwright.config import load_config
from callwright.dialog.demo_flow import DEMO_FLOW
from callwright.speech.registry import SpeechEngines
from callwright.store.assistants import AssistantRepository
from callwright.store.db import Database
from callwright.store.numbers import NumberRepository
from callwright.store.seed import seed_demo

APP = "callwright"
PASSWORD = "lifecycle-secret"
DESK_NUMBER = "200"
OPERATORS = "operators,s,1"
FALLBACK = "after-callwright,s,1"
START_LIMIT_S = 180.0  # a cold start loads and warms the Korean model; the machine may be busy
BACK_TARGET_S = 3.0
RSS_TARGET_MB_PER_MIN = 1.0


@dataclass(frozen=True)
class Options:
    cycles: int = 10
    calls: int = 10
    drain_s: float = 3.0
    soak_minutes: float = 10.0
    soak_calls: int = 50
    soak_warmup_s: float = 60.0
    sample_s: float = 5.0
    seed: int = 11


@dataclass
class Placed:
    call: SimulatedCall
    number: str
    placed_at: float = field(default_factory=time.monotonic)


async def wait_until(predicate: Callable[[], bool], within_s: float,
                     poll_s: float = 0.01) -> float:
    """Poll until ``predicate()``; the monotonic time it held (TimeoutError after ``within_s``)."""
    deadline = time.monotonic() + within_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {within_s} s")
        await asyncio.sleep(poll_s)
    return time.monotonic()


async def left_at(call: SimulatedCall, after: float, within_s: float,
                  speech: bool) -> tuple[float | None, str]:
    """When the caller was served again after ``after``: its first speech heard (``speech``),
    its hand-back to the dialplan, or the call's end; (None, "never") after ``within_s``."""
    deadline = time.monotonic() + within_s
    watch = SpeechWatch(call.caller)
    while time.monotonic() < deadline:
        heard = first_after(watch.new_speech(), after) if speech else None
        if heard is not None:
            return heard, "speech"
        if call.continued_to is not None:
            return time.monotonic(), "handed_back"
        if call.is_ended:
            return time.monotonic(), "ended"
        await asyncio.sleep(0.02)
    return None, "never"


class Lifecycle:
    """One simulator, one store, and the service processes started on them in turn."""

    def __init__(self, opts: Options, workdir: Path, sim: PbxSimulator) -> None:
        self.opts = opts
        self.workdir = workdir
        self.sim = sim
        self.rng = random.Random(opts.seed)
        self.store = workdir / "callwright.db"
        self.env = service_env({
            "ARI_URL": sim.ari_url, "ARI_USERNAME": sim.username, "ARI_PASSWORD": PASSWORD,
            "ARI_APP": APP, "ARI_RECONNECT_MAX_S": "1",
            "SERVER_DATA_DIR": str(workdir), "SERVER_MASTER_KEY_FILE": str(workdir / "master.key"),
            "SERVER_LOG_LEVEL": "warning", "STORE_PATH": str(self.store),
            "RECORDINGS_DIR": str(workdir / "recordings"),
            "CALLS_DRAIN_S": str(opts.drain_s), "CALLS_FALLBACK_TARGET": FALLBACK,
        })
        self.service: ServiceProcess | None = None
        self.restart_s: list[float] = []  # process start → connected, every start
        self.audio: list[bytes] = []
        self._numbers = 0
        self._logs = 0

    # -- set-up and processes ----------------------------------------------------------------------

    async def prepare(self) -> None:
        db = await Database.open(self.store)
        try:
            org, _, _ = await seed_demo(db, number=DEMO_NUMBER, language="ko", greeting="",
                                        flow=dict(DEMO_FLOW), record_calls=True)
            desk = await AssistantRepository(db).create(
                org.id, "Desk", "ko", "", flow=dict(DEMO_FLOW), on_recovery="dialplan",
                recovery_target=OPERATORS, record_calls=True)
            await NumberRepository(db).create(org.id, DESK_NUMBER, assistant_id=desk.id)
        finally:
            await db.close()
        engines = SpeechEngines(load_config(None, env={}).speech)
        try:
            tts = await engines.tts_for({"engine": "espeak-ng", "voice": "ko"})
            self.audio = await synthesize_phrases(tts, DEMO_PHRASES, "ko")
        finally:
            await engines.close()

    async def start_service(self) -> tuple[float, float]:
        """A new service process; (monotonic start, monotonic connected)."""
        await wait_until(lambda: not self.sim.hub.is_active(APP), 10.0)
        self._logs += 1
        service = ServiceProcess(self.env, self.workdir / f"service-{self._logs:02d}.log")
        self.service = service
        started = await service.start()
        try:
            connected = await wait_until(
                lambda: self.sim.hub.is_active(APP) or not service.running, START_LIMIT_S)
        except TimeoutError:
            connected = 0.0
        if not self.sim.hub.is_active(APP):
            await service.kill()
            raise RuntimeError("the service did not connect:\n" +
                               "\n".join(service.output_tail()))
        self.restart_s.append(connected - started)
        return started, connected

    async def stop_service(self) -> int | None:
        """SIGTERM and wait (killed if it does not exit); its exit code."""
        service = self.service
        if service is None or not service.running:
            return None
        service.signal(signal.SIGTERM)
        try:
            return await service.wait(self.opts.drain_s + 90.0)
        except TimeoutError:
            await service.kill()
            return None

    # -- calls -----------------------------------------------------------------------------------

    async def place(self, dialed: str) -> Placed:
        self._numbers += 1
        number = f"+8270{self._numbers:07d}"
        call = await self.sim.place_call(dialed=dialed, caller_number=number, app=APP)
        return Placed(call, number)

    def forget(self, placed: Sequence[Placed]) -> None:
        """The simulator keeps every call it placed (and all its caller heard): drop them."""
        for p in placed:
            self.sim.ctx.all_calls.pop(p.call.channel_id, None)

    async def greeted(self, p: Placed, talk: bool) -> None:
        """The greeting heard; with ``talk``, hello said and the next question heard."""
        await heard_speech_after(p.call.caller, p.placed_at, 30.0)
        if talk:
            await p.call.caller.wait_until_quiet(900, timeout=30)
            await p.call.caller.say(self.audio[0])
            await heard_speech_after(p.call.caller, time.monotonic(), 30.0)

    async def calls_up(self, dialed: Sequence[str]) -> list[Placed]:
        placed = [await self.place(number) for number in dialed]
        await asyncio.gather(*(self.greeted(p, talk=i % 2 == 0) for i, p in enumerate(placed)))
        await asyncio.sleep(self.rng.uniform(0.2, 1.5))  # the event lands anywhere in a turn
        return placed

    async def all_ended(self, placed: Sequence[Placed], within_s: float) -> int:
        """Wait for the calls to end; hang up those still up after ``within_s`` (counted)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(p.call.ended() for p in placed)), within_s)
        stuck = [p for p in placed if not p.call.is_ended]
        for p in stuck:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(p.call.caller.hangup(), 5.0)
        return len(stuck)

    async def leftovers(self, within_s: float) -> dict[str, int]:
        """Channels and bridges still in the PBX once the callers are gone (after ``within_s``
        for the app to delete them)."""
        with contextlib.suppress(TimeoutError):
            await wait_until(lambda: not self.sim.pbx.channels and not self.sim.pbx.bridges,
                             within_s, poll_s=0.05)
        return {"channels": len(self.sim.pbx.channels), "bridges": len(self.sim.pbx.bridges)}

    def rows(self) -> dict[str, tuple[str, str | None]]:
        """caller number → (status, end_reason) of every call row in the store."""
        uri = f"file:{self.store}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as db:
            found = db.execute("SELECT caller_number, status, end_reason FROM calls").fetchall()
        return {str(n): (str(s), r) for n, s, r in found}

    async def row_check(self, numbers: Sequence[str], within_s: float) -> dict[str, Any]:
        """Rows of ``numbers`` missing or still in progress (waiting up to ``within_s`` for
        them to close), and their outcomes."""
        deadline = time.monotonic() + within_s
        while True:
            rows = self.rows()
            open_ = [n for n in numbers if n in rows and rows[n][0] == "in_progress"]
            if not open_ or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        outcomes = Counter(f"{rows[n][0]}/{rows[n][1]}" for n in numbers if n in rows)
        return {"rows_open": len(open_), "rows_missing": sum(n not in rows for n in numbers),
                "outcomes": dict(outcomes)}

    async def clean_up_after_error(self) -> None:
        for call in self.sim.calls:
            if not call.is_ended:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(call.caller.hangup(), 5.0)
        self.sim.ctx.all_calls.clear()
        if self.service is not None:
            await self.service.kill()
        await self.start_service()

    # -- the cycles ------------------------------------------------------------------------------

    async def kill_cycle(self) -> dict[str, Any]:
        n = self.opts.calls
        desk = n // 5
        placed = await self.calls_up([DESK_NUMBER if i >= n - desk else DEMO_NUMBER
                                      for i in range(n)])
        assert self.service is not None
        killed = time.monotonic()
        await self.service.kill()
        started, back = await self.start_service()
        served = await asyncio.gather(*(left_at(p.call, killed, 30.0, speech=True)
                                        for p in placed))

        async def leave(p: Placed, at: float | None, how: str) -> None:
            if at is not None and how == "speech":  # hears a little of the line, hangs up
                await asyncio.sleep(max(0.0, at + 1.5 - time.monotonic()))
                await p.call.caller.hangup()

        await asyncio.gather(*(leave(p, at, how) for p, (at, how) in zip(placed, served,
                                                                           strict=True)))
        stuck = await self.all_ended(placed, 20.0)
        left = await self.leftovers(5.0)
        rows = await self.row_check([p.number for p in placed], 5.0)
        self.forget(placed)
        return {
            "callers": [{"how": how,
                         "from_kill_s": None if at is None else round(at - killed, 3),
                         "from_back_s": None if at is None else round(at - back, 3)}
                        for at, how in served],
            "kill_to_connected_s": round(back - killed, 3),
            "restart_to_connected_s": round(back - started, 3),
            "callers_stuck": stuck, "leftovers": left, **rows,
        }

    async def drain_cycle(self) -> dict[str, Any]:
        n, drain_s = self.opts.calls, self.opts.drain_s
        placed = await self.calls_up([DEMO_NUMBER] * n)
        leavers, stayers = placed[: 3 * n // 10], placed[3 * n // 10:]
        old = self.service
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
            await asyncio.sleep(self.rng.uniform(0.2, max(0.3, 0.8 * drain_s)))
            gone = time.monotonic()
            await p.call.caller.hangup()
            return gone

        async def newcomer() -> tuple[Placed, float | None]:
            await asyncio.sleep(0.3)
            q = await self.place(DEMO_NUMBER)
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
        stuck = await self.all_ended([*placed, late], 20.0)
        left = await self.leftovers(5.0)
        rows = await self.row_check([p.number for p in placed], 1.0)
        newcomer_rows = int(late.number in self.rows())
        self.forget([*placed, late])
        started, back = await self.start_service()
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

    async def cycles(self, kind: str) -> list[dict[str, Any]]:
        run = self.kill_cycle if kind == "kill" else self.drain_cycle
        out: list[dict[str, Any]] = []
        for k in range(self.opts.cycles):
            try:
                out.append(await run())
            except Exception as exc:  # noqa: BLE001 (a failed cycle is a figure, not the end)
                out.append({"error": f"{type(exc).__name__}: {exc}"})
                await self.clean_up_after_error()
            print(f"   {kind} cycle {k + 1}/{self.opts.cycles}: "
                  f"{json.dumps(brief(out[-1]))}", flush=True)
        return out

    # -- the soak --------------------------------------------------------------------------------

    async def soak(self) -> dict[str, Any]:
        opts = self.opts
        await self.stop_service()
        await self.start_service()
        assert self.service is not None
        pid = self.service.pid
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
            p = await self.place(DEMO_NUMBER)
            try:
                if p.call.stasis_status == "FAILED":
                    counts["stasis_failed"] += 1
                    return
                numbers.append(p.number)
                if rng.random() < 0.6:
                    await converse(p.call, DEMO_PHRASES, self.audio, placed_at=p.placed_at,
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
                counts["stuck"] += await self.all_ended([p], 0.0)
                self.forget([p])

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
        left = await self.leftovers(10.0)
        rows = await self.row_check(numbers, 10.0)
        code = await self.stop_service()
        open_at_end = sum(s == "in_progress" for s, _ in self.rows().values())
        in_window = [(t, r) for t, r in samples if t <= duration]
        slope = rss_slope_mb_per_min(in_window, min(opts.soak_warmup_s, duration / 3))
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
            "rss_fit_after_s": min(opts.soak_warmup_s, duration / 3),
            "rss_samples": [[t, mb(r)] for t, r in samples],
            "load": load,
        }


def mb(value: int) -> float:
    return round(value / 2**20, 1)


def brief(cycle: dict[str, Any]) -> dict[str, Any]:
    """A cycle's line on the console."""
    if "error" in cycle:
        return cycle
    keys = ("rows_open", "rows_missing", "leftovers", "restart_to_connected_s", "exit_code",
            "callers_stuck")
    out = {k: cycle[k] for k in keys if k in cycle}
    silences = [c.get("from_back_s", c.get("longest_silence_s")) for c in cycle["callers"]]
    out["worst_silence_s"] = max((s for s in silences if s is not None), default=None)
    return out


def cycle_figures(cycles: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    good = [c for c in cycles if "error" not in c]
    callers = [c for cycle in good for c in cycle["callers"]]

    def values(key: str) -> list[float]:
        return [c[key] for c in callers if c.get(key) is not None]

    out: dict[str, Any] = {
        "cycles": len(cycles), "failed_cycles": [c["error"] for c in cycles if "error" in c],
        "callers": len(callers),
        "served_how": dict(Counter(c["how"] for c in callers)),
        "rows_open": sum(c["rows_open"] for c in good),
        "rows_missing": sum(c["rows_missing"] for c in good),
        "leftover_channels": sum(c["leftovers"]["channels"] for c in good),
        "leftover_bridges": sum(c["leftovers"]["bridges"] for c in good),
        "callers_stuck": sum(c["callers_stuck"] for c in good),
        "restart_to_connected_s": seconds([c["restart_to_connected_s"] for c in good]),
    }
    if kind == "kill":
        out |= {
            "silence_from_kill_s": seconds(values("from_kill_s")),
            "silence_from_back_s": seconds(values("from_back_s")),
            "never_served": sum(c["how"] == "never" for c in callers),
            "kill_to_connected_s": seconds([c["kill_to_connected_s"] for c in good]),
        }
    else:
        out |= {
            "longest_silence_s": seconds(values("longest_silence_s")),
            "silence_from_signal_s": seconds(values("from_signal_s")),
            "handed_back_after_signal_s": seconds(values("handed_back_after_s")),
            "exit_after_signal_s": seconds([c["exit_after_signal_s"] for c in good]),
            "exit_codes": dict(Counter(str(c["exit_code"]) for c in good)),
            "exit_to_connected_s": seconds([c["exit_to_connected_s"] for c in good]),
            "newcomers_turned_away": sum(c["newcomer_turned_away_s"] is not None for c in good),
            "newcomer_turned_away_s": seconds([c["newcomer_turned_away_s"] for c in good
                                               if c["newcomer_turned_away_s"] is not None]),
            "newcomer_rows": sum(c["newcomer_rows"] for c in good),
        }
    out["per_cycle"] = cycles
    return out


async def run(opts: Options, workdir: Path) -> dict[str, Any]:
    sim = PbxSimulator(username="callwright", password=PASSWORD, dialplan_s=1.0, seed=opts.seed)
    await sim.start()
    bench = Lifecycle(opts, workdir, sim)
    figures: dict[str, Any] = {}
    try:
        await bench.prepare()
        await bench.start_service()
        for kind in ("kill", "drain"):
            meter = LoadMeter()
            print(f"== {kind} cycles", flush=True)
            cycles = await bench.cycles(kind)
            figures[f"{kind}_cycles"] = cycle_figures(cycles, kind) | {"load": meter.figures()}
        if opts.soak_minutes > 0:
            print(f"== soak: {opts.soak_calls} calls for {opts.soak_minutes:g} min", flush=True)
            figures["soak"] = await bench.soak()
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


def targets(figures: dict[str, Any]) -> dict[str, Any]:
    kills, drains = figures.get("kill_cycles", {}), figures.get("drain_cycles", {})
    soak = figures.get("soak", {})
    back = kills.get("silence_from_back_s", {}).get("p95")
    slope = soak.get("rss_slope_mb_per_min")
    return {
        "silence_from_back_p95_le_3s": back is not None and back <= BACK_TARGET_S,
        "rows_left_open_0": sum(f.get("rows_open", 0) + f.get("rows_missing", 0)
                                for f in (kills, drains)) == 0,
        "leftovers_0": sum(f.get("leftover_channels", 0) + f.get("leftover_bridges", 0)
                           for f in (kills, drains)) == 0,
        "soak_rows_lost_0": soak.get("rows_lost", 0) == 0 if soak else None,
        "soak_rss_slope_lt_1_mb_per_min": None if not soak else
        slope is not None and slope < RSS_TARGET_MB_PER_MIN,
    }


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
