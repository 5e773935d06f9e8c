"""A process hosting N real call pipelines, driven by the load generator (``bench/loadgen.py``).

    python -m bench.media_host --calls 50 --scenario listen --duration 10 [--record] [--profile F]

Each call is what ari_app builds for an ExternalMedia RTP channel: an ``RtpTransport`` on
127.0.0.1 (ulaw, jitter buffer), a ``CallPipeline`` with the real VAD, endpointing, barge-in,
pacer (ticked by the one process-wide ``PacerClock``) and, with ``--record``, a
``StereoWavRecorder`` writing into a temporary directory. Speech recognition is a fake that does
nothing expensive; TTS audio is synthesised once (espeak-ng, or a tone) and served from memory.

The host starts ``bench.loadgen`` as a child process (Asterisk's side), hands it the transports'
ports, starts the calls, says ``go``, and measures itself during the window that follows the
warm-up: CPU time (``getrusage``, as a percentage of one core), RSS (``/proc/self/status``) before
any call and during the calls, pacer timings (``PacerStats`` on every call's pacer), the clock's
tick lateness and skipped ticks, RTP counters. It prints one JSON line (the last line of stdout)
with its figures and the generator's. Logs go to stderr.

On a machine with two CPUs or more, the host pins itself to the first and the generator to the
last (``--no-pin`` to leave them to the scheduler), so "under one core" is literal and the
generator does not steal the host's CPU. Other processes still can: the figures under
``interference`` say how long the host waited for its CPU (``/proc/thread-self/schedstat``),
how much of its core others used, the hypervisor's steal time and the machine's CPU pressure
(PSI). Each pacer gap is also classed as disturbed when the host waited more than 0.5 ms for a CPU
during it; ``pacer_gap_deviation_undisturbed_ms`` leaves those out.

Scenarios (what the caller does; see bench/loadgen.py):
``listen``: the assistant talks the whole time, the caller is silent (pacing);
``talk``: the caller speaks half the time, the assistant answers each turn (capacity);
``barge_in``: the assistant talks, the caller interrupts it, again and again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import json
import logging
import os
import resource
import signal
import sys
import tempfile
import time
from array import array
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ari_app.transports.rtp import RtpTransport  # noqa: E402
from bench.loadgen import summarize  # noqa: E402
from callwright.call.journal import CallJournal  # noqa: E402
from callwright.call.outcome import CallOutcome  # noqa: E402
from callwright.call.pipeline import CallPipeline  # noqa: E402
from callwright.call.pipeline_settings import PipelineSettings  # noqa: E402
from callwright.dialog.actions import (  # noqa: E402
    CallContext,
    CallerTurn,
    DialogAction,
    Listen,
    Say,
)
from callwright.media.pacer import Drained, Pacer, PacerClock, PacerEvent, PacerStats  # noqa: E402
from callwright.media.recorder import StereoWavRecorder  # noqa: E402
from callwright.media.transport import MediaFormat  # noqa: E402
from callwright.speech.barge_in import BargeInConfig, Decision, Interrupt, Pause  # noqa: E402
from callwright.speech.endpointing import EndpointingConfig  # noqa: E402
from callwright.speech.espeak_tts import EspeakTts  # noqa: E402
from callwright.speech.protocols import Transcript  # noqa: E402
from callwright.store.turns import NewTurn  # noqa: E402

log = logging.getLogger("bench.media_host")

RATE = 8000
FORMAT = MediaFormat("ulaw", RATE)
#: Long enough to keep a call talking through any window (about 40 s of espeak-ng speech).
LONG_TEXT = (
    "Thank you for calling the Riverside dental practice. Our opening hours are Monday to Friday "
    "from eight in the morning until six in the evening, and on Saturdays from nine until one. "
    "If you would like to book, move or cancel an appointment, please tell me the day and the "
    "time that suit you best, and I will check what is free. For an emergency outside our "
    "opening hours, please call the regional out of hours service, whose number is on our "
    "website. Please note that we ask for twenty four hours notice when you cancel, so that "
    "another patient can have the slot. We also offer hygiene visits, whitening and children's "
    "check ups, and our team speaks English, French and Spanish. "
) * 2
GREETING = "Hello, thank you for calling. How can I help you today?"
REPLY = "Of course. Let me check that for you, it will only take a moment."


def rss_bytes() -> int:
    """Resident set size of this process, from /proc/self/status."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def contention() -> tuple[float, int, float]:
    """(seconds this process waited runnable for a CPU, involuntary context switches, seconds
    some task of the machine waited for a CPU): interference from other processes."""
    run_delay = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/self/schedstat", encoding="ascii") as stat:
            run_delay = int(stat.read().split()[1]) / 1e9
    psi = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/pressure/cpu", encoding="ascii") as pressure:
            psi = int(pressure.readline().rsplit("total=", 1)[1]) / 1e6
    return run_delay, resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw, psi


def core_times(cpu: int | None) -> tuple[float, float]:
    """(busy seconds, steal seconds) of ``cpu`` (of the whole machine if None), from /proc/stat."""
    name = "cpu" if cpu is None else f"cpu{cpu}"
    tick = os.sysconf("SC_CLK_TCK")
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/stat", encoding="ascii") as stat:
            for line in stat:
                fields = line.split()
                if fields and fields[0] == name:
                    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
                    return (user + nice + system + irq + softirq) / tick, steal / tick
    return 0.0, 0.0


def tone_pcm(seconds: float, hz: float = 440.0, level: int = 8000) -> bytes:
    t = np.arange(int(RATE * seconds)) / RATE
    return (np.sin(2 * np.pi * hz * t) * level).astype("<i2").tobytes()


# -- fakes at the pipeline's edges -------------------------------------------------------------


class MemoryTtsCache:
    """Serves pre-synthesised audio (synthesised before the calls start, shared by every call)."""

    name = "bench-cache"

    def __init__(self, audio: dict[str, bytes]) -> None:
        self._audio = audio

    async def synthesize(self, text: str, sample_rate: int, voice: str | None = None) -> bytes:
        audio = self._audio.get(text)
        if audio is None:  # not a benchmark text (an apology after an error): a short tone
            audio = self._audio[text] = tone_pcm(2.0)
        return audio


class NullStream:
    """A recognizer stream that only counts what it is fed."""

    def __init__(self) -> None:
        self.fed = 0

    def feed(self, pcm: bytes) -> None:
        self.fed += len(pcm)

    def partial(self) -> str:
        return ""

    async def finish(self) -> Transcript:
        return Transcript("I would like an appointment", 0.9)

    async def close(self) -> None:
        return None


class NullStt:
    name = "null"

    async def open_stream(
        self, sample_rate: int, grammar: Sequence[str] | None = None
    ) -> NullStream:
        return NullStream()

    async def close(self) -> None:
        return None


class BenchDialog:
    """Greets (or talks at length), then answers every caller turn with one reply."""

    def __init__(self, opening: str, reply: str) -> None:
        self.opening = opening
        self.reply = reply

    async def begin(self, ctx: CallContext) -> AsyncIterator[DialogAction]:
        yield Say(self.opening)
        yield Listen(no_input_s=3600)

    async def on_caller_turn(self, turn: CallerTurn) -> AsyncIterator[DialogAction]:
        yield Say(self.reply)
        yield Listen(no_input_s=3600)

    async def on_no_input(self) -> AsyncIterator[DialogAction]:
        yield Listen(no_input_s=3600)

    def on_interrupted(self, heard: str) -> None:
        return None

    def node_id(self) -> str | None:
        return None


class NullTurnStore:
    async def add_turn(self, call_id: int, turn: NewTurn) -> int:
        return turn.seq

    async def add_event(self, call_id: int, kind: str, detail: dict[str, Any] | None = None) -> int:
        return 0


# -- instrumented subclasses (measurement only; behaviour unchanged) -----------------------------


class BenchRtpTransport(RtpTransport):
    """Notes when a packet with the marker bit (the generator's speech onset) arrives."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.onsets: list[float] = []

    def _on_datagram(
        self, data: bytes, source: tuple[str, int], arrival: float | None = None
    ) -> None:
        if len(data) > 1 and data[1] & 0x80:  # the kernel's arrival time when known
            self.onsets.append(time.monotonic() if arrival is None else arrival)
        super()._on_datagram(data, source, arrival)


class BenchPipeline(CallPipeline):
    """Notes barge-in decisions, flushes and the last assistant (non-idle) frame sent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pauses: list[tuple[float, float]] = []   # (decision time, last voiced send before)
        self.interrupts: list[float] = []
        self.flushes: list[float] = []
        self.last_voiced_send = 0.0

    @property
    def pacer(self) -> Pacer:
        return self._pacer

    def _send(self, frame: bytes) -> None:
        super()._send(frame)
        if frame is not self._pacer._silence:  # the pacer's own idle frame object
            self.last_voiced_send = time.monotonic()

    def _on_barge_in(self, decision: Decision) -> None:
        now = time.monotonic()
        if isinstance(decision, Pause):
            self.pauses.append((now, self.last_voiced_send))
        elif isinstance(decision, Interrupt):
            self.interrupts.append(now)
        super()._on_barge_in(decision)

    def _on_pacer_event(self, event: PacerEvent) -> None:
        if isinstance(event, Drained) and event.flushed:
            self.flushes.append(time.monotonic())
        super()._on_pacer_event(event)


class GcProbe:
    """Times the garbage collector's passes (a full collection stops every call at once)."""

    def __init__(self) -> None:
        self.pauses_ms: dict[int, list[float]] = {0: [], 1: [], 2: []}
        self._started = 0.0
        self.recording = False

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self.recording:
            self.pauses_ms[info["generation"]].append((time.perf_counter() - self._started) * 1e3)

    def figures(self) -> dict[str, dict[str, float]]:
        return {
            f"gen{g}": {"count": len(v), "max_ms": round(max(v, default=0.0), 2)}
            for g, v in self.pauses_ms.items()
        }


def _run_delay_reader() -> Callable[[], float]:
    """A cheap reader of this thread's run delay (s waited runnable for a CPU), 0.0 if unknown."""
    try:
        fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
    except OSError:
        return lambda: 0.0

    def read() -> float:
        try:
            return int(os.pread(fd, 128, 0).split()[1]) / 1e9
        except (OSError, ValueError, IndexError):
            return 0.0

    return read


#: A tick interval during which the host waited this long for a CPU counts as disturbed.
DISTURBED_S = 0.0005


class TickProbe(Pacer):
    """Registered first on the clock: records how late each tick starts on the 20 ms grid, and
    (through its hook, which runs once every pacer has sent) how long the pacers' phase took.

    It also reads the host's run delay (time spent runnable but not running: another process had
    the CPU) at both points, so that each pacer gap can be classed as disturbed or not: the gap
    ending at tick n spans from the start of tick n-1 to the end of tick n's pacer phase."""

    def __init__(self, clock: PacerClock) -> None:
        super().__init__(2, lambda _frame: None, send_silence_when_idle=False)
        self._pacer_clock = clock
        self.recording = False
        self.lateness_ms: array[float] = array("d")
        self.pacer_phase_ms: array[float] = array("d")
        self.disturbed: array[int] = array("b")   # per tick number while recording
        self.tick_number = -1                     # the tick in progress (recording only)
        self._tick_at = 0.0
        self._run_delay = _run_delay_reader()
        self._delay_at_tick = 0.0
        self._delay_at_previous_tick = 0.0

    def tick(self, now: float) -> list[PacerEvent]:
        self._tick_at = now
        self._delay_at_previous_tick = self._delay_at_tick
        self._delay_at_tick = self._run_delay()
        schedule = self._pacer_clock._schedule  # the clock's grid (t0, period)
        if self.recording and schedule is not None:
            self.tick_number += 1
            self.lateness_ms.append(((now - schedule.t0) % schedule.period) * 1000.0)
        return []

    def after_pacers(self, index: int, now: float) -> None:
        if self.recording and len(self.disturbed) == self.tick_number:
            self.pacer_phase_ms.append((now - self._tick_at) * 1000.0)
            waited = self._run_delay() - self._delay_at_previous_tick
            self.disturbed.append(1 if waited > DISTURBED_S else 0)


class TaggedPacerStats(PacerStats):
    """PacerStats that also notes the probe's tick number of each deviation it keeps."""

    def __init__(self, probe: TickProbe, max_samples: int) -> None:
        super().__init__(max_samples=max_samples)
        self._probe = probe
        self.ticks: array[int] = array("l")

    def record(self, now: float) -> None:
        kept = len(self.deviations_ms)
        super().record(now)
        if len(self.deviations_ms) > kept:
            self.ticks.append(self._probe.tick_number)


def undisturbed_deviations(
    stats: Sequence[TaggedPacerStats], disturbed: Sequence[int]
) -> npt.NDArray[np.float64]:
    """The deviations of the gaps that ended at a tick with no CPU wait in its interval."""
    flags = np.asarray(disturbed, dtype=np.int8)
    parts = []
    for s in stats:
        dev = np.frombuffer(s.deviations_ms, dtype=np.float64)
        ticks = np.frombuffer(s.ticks, dtype=np.int64)[: dev.size]
        known = ticks < flags.size
        parts.append(dev[:ticks.size][known][flags[ticks[known]] == 0])
    return np.concatenate(parts) if parts else np.zeros(0)


# -- the host ----------------------------------------------------------------------------------


@dataclass
class HostConfig:
    calls: int
    scenario: str = "listen"
    warmup_s: float = 3.0
    duration_s: float = 10.0
    record: bool = False
    assistant_audio: str = "speech"      # speech (espeak-ng) | tone
    caller_idle: str = "silence"
    barge_per_call: int = 5
    seed: int = 1
    profile: str | None = None
    pin: bool = True                     # host on the first CPU, generator on the last


def pin_to(cpu: int) -> bool:
    """Run this process on ``cpu`` only (False if that is not possible here)."""
    try:
        os.sched_setaffinity(0, {cpu})
    except (AttributeError, OSError):
        return False
    return True


def cpu_pair() -> tuple[int, int] | None:
    """(host CPU, generator CPU), the first and last this process may use, or None with one."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None
    return (cpus[0], cpus[-1]) if len(cpus) >= 2 else None


@dataclass
class Call:
    transport: BenchRtpTransport
    pipeline: BenchPipeline | None = None
    recorder: StereoWavRecorder | None = None
    task: asyncio.Task[CallOutcome] | None = None
    stats: list[TaggedPacerStats] = field(default_factory=list)


async def prepare_audio(cfg: HostConfig) -> dict[str, bytes]:
    texts = {"listen": [LONG_TEXT], "talk": [GREETING, REPLY], "barge_in": [LONG_TEXT]}[
        cfg.scenario
    ]
    if cfg.assistant_audio == "tone":
        return {text: tone_pcm(40.0 if text == LONG_TEXT else 3.0) for text in texts}
    tts = EspeakTts()
    return {text: await tts.synthesize(text, RATE) for text in texts}


class LoadGenProcess:
    """The generator child process, spoken to through JSON lines."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, config: dict[str, Any]) -> LoadGenProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.loadgen",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=str(ROOT),
        )
        gen = cls(proc)
        gen.write(json.dumps(config))
        return gen

    def write(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")

    async def read(self, limit_s: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), limit_s)
        if not line:
            raise RuntimeError(f"the load generator ended early (exit {await self.proc.wait()})")
        result: dict[str, Any] = json.loads(line)
        return result

    async def finish(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()  # our own child, by its handle
        await self.proc.wait()


async def host(cfg: HostConfig) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    audio = await prepare_audio(cfg)
    tts = MemoryTtsCache(audio)
    talk = cfg.scenario == "talk"
    opening, reply = (GREETING, REPLY) if talk else (LONG_TEXT, LONG_TEXT)
    clock = PacerClock()
    probe = TickProbe(clock)
    clock.register(probe, probe.after_pacers)
    clock.start()
    gc_probe = GcProbe()
    gc.callbacks.append(gc_probe)
    settings = PipelineSettings(
        language="en", voice=None, endpointing=EndpointingConfig(), barge_in=BargeInConfig(),
    )
    rec_dir = tempfile.TemporaryDirectory(prefix="callwright-bench-")
    await asyncio.sleep(0.5)
    rss0 = rss_bytes()

    # As in the call service: RTP playout rides the shared pacer clock (one callback per tick).
    calls = [
        Call(BenchRtpTransport(FORMAT, port_range=(0, 0), ticker=clock)) for _ in range(cfg.calls)
    ]
    for call in calls:
        await call.transport.open()
    hard_timeout = cfg.warmup_s + cfg.duration_s + 60.0
    pair = cpu_pair() if cfg.pin else None
    gen = await LoadGenProcess.start({
        "cpu": None if pair is None else pair[1],
        "app_ports": [c.transport.local_address[1] for c in calls],
        "scenario": cfg.scenario,
        "warmup_s": cfg.warmup_s,
        "duration_s": cfg.duration_s,
        "hard_timeout_s": hard_timeout,
        "caller_idle": cfg.caller_idle,
        "barge_per_call": cfg.barge_per_call,
        "seed": cfg.seed,
    })
    try:
        ready = await gen.read(limit_s=60.0)
        pinned = pair is not None and pin_to(pair[0])
        for call, port in zip(calls, ready["ports"], strict=True):
            call.transport.set_remote("127.0.0.1", port)
        store = NullTurnStore()
        for i, call in enumerate(calls):
            if cfg.record:
                call.recorder = StereoWavRecorder(Path(rec_dir.name) / f"call{i}.wav", RATE)
            call.pipeline = BenchPipeline(
                transport=call.transport, stt=NullStt(), tts=tts,
                dialog=BenchDialog(opening, reply),
                ctx=CallContext(f"bench-{i}", "5550000", "100", "en"),
                journal=CallJournal(store, i), clock=clock, settings=settings,
                recorder=call.recorder,
            )
            call.task = loop.create_task(call.pipeline.run())
        gen.write("go")
        loadavg_start = os.getloadavg()
        await asyncio.sleep(cfg.warmup_s)

        # -- the measured window --
        for call in calls:
            assert call.pipeline is not None
            call.stats.append(TaggedPacerStats(probe, max_samples=int(cfg.duration_s * 60)))
            call.pipeline.pacer.stats = call.stats[-1]
        probe.recording = True
        gc_probe.recording = True
        skipped0, ticks0 = clock.skipped_ticks, clock.ticks
        sent0 = sum(c.transport.stats().packets_sent for c in calls)
        cpu0, wall0 = cpu_seconds(), time.monotonic()
        usage0 = resource.getrusage(resource.RUSAGE_SELF)
        contention0 = contention()
        host_cpu = pair[0] if pinned and pair is not None else None
        core0 = core_times(host_cpu)
        profiler = cProfile.Profile() if cfg.profile else None
        if profiler is not None:
            profiler.enable()
        rss_peak = 0
        result_task = loop.create_task(gen.read(limit_s=hard_timeout))
        deadline = wall0 + cfg.duration_s
        while not result_task.done() and time.monotonic() < deadline:
            await asyncio.wait({result_task}, timeout=1.0)
            rss_peak = max(rss_peak, rss_bytes())
        cpu1, wall1 = cpu_seconds(), time.monotonic()
        usage1 = resource.getrusage(resource.RUSAGE_SELF)
        contention1 = contention()
        core1 = core_times(host_cpu)
        if profiler is not None and cfg.profile:
            profiler.disable()
            profiler.dump_stats(cfg.profile)
        probe.recording = False
        gc_probe.recording = False
        for call in calls:
            assert call.pipeline is not None
            call.pipeline.pacer.stats = None
        skipped = clock.skipped_ticks - skipped0
        ticks = clock.ticks - ticks0
        sent_window = sum(c.transport.stats().packets_sent for c in calls) - sent0
        rss_n = rss_bytes()
        loadavg_end = os.getloadavg()
        generator = await result_task
    finally:
        ended: list[asyncio.Task[CallOutcome]] = []
        for call in calls:
            if call.pipeline is not None and call.task is not None:
                call.pipeline.end(CallOutcome("completed", "bench_end"))
                ended.append(call.task)
        if ended:
            await asyncio.wait(ended, timeout=10.0)
        for call in calls:
            await call.transport.close()
            if call.recorder is not None:
                call.recorder.close()
        await clock.stop()
        await gen.finish()
        rec_dir.cleanup()

    wall = wall1 - wall0
    deviations = np.concatenate(
        [np.frombuffer(s.deviations_ms, dtype=np.float64) for c in calls for s in c.stats]
    )
    stats = [c.transport.stats() for c in calls]
    frames_expected = cfg.calls * wall / 0.020
    return {
        "calls": cfg.calls,
        "scenario": cfg.scenario,
        "record": cfg.record,
        "pinned": None if not pinned or pair is None else {"host": pair[0], "loadgen": pair[1]},
        "assistant_audio": cfg.assistant_audio,
        "window_s": round(wall, 2),
        "cpu_pct_one_core": round(100.0 * (cpu1 - cpu0) / wall, 1),
        # user (Python) and system (kernel: sockets, epoll, file writes) shares of it
        "cpu_user_pct": round(100.0 * (usage1.ru_utime - usage0.ru_utime) / wall, 1),
        "cpu_sys_pct": round(100.0 * (usage1.ru_stime - usage0.ru_stime) / wall, 1),
        "rss0_mb": round(rss0 / 2**20, 1),
        "rss_mb": round(rss_n / 2**20, 1),
        "rss_peak_mb": round(max(rss_peak, rss_n) / 2**20, 1),
        "rss_per_call_mb": round((max(rss_peak, rss_n) - rss0) / 2**20 / max(1, cfg.calls), 3),
        "interference": {
            "run_delay_pct": round(100.0 * (contention1[0] - contention0[0]) / wall, 2),
            "involuntary_switches": contention1[1] - contention0[1],
            "machine_cpu_pressure_pct": round(100.0 * (contention1[2] - contention0[2]) / wall, 2),
            # the host's core (the machine's CPUs if not pinned): time used by other processes
            # (the host's own CPU time subtracted), and time the hypervisor took away
            "host_core_used_by_others_pct": round(
                100.0 * (core1[0] - core0[0] - (cpu1 - cpu0)) / wall, 1
            ),
            "host_core_steal_pct": round(100.0 * (core1[1] - core0[1]) / wall, 1),
        },
        "loadavg_start": [round(x, 2) for x in loadavg_start],
        "loadavg_end": [round(x, 2) for x in loadavg_end],
        "sender": {
            "pacer_gap_deviation_ms": summarize(deviations),
            "clock_ticks": ticks,
            "clock_skipped_ticks": skipped,
            "tick_lateness_ms": summarize(probe.lateness_ms),
            "pacer_phase_ms": summarize(probe.pacer_phase_ms),
            "disturbed_tick_pct": round(
                100.0 * sum(probe.disturbed) / max(1, len(probe.disturbed)), 1
            ),
            "pacer_gap_deviation_undisturbed_ms": summarize(
                undisturbed_deviations([s for c in calls for s in c.stats], probe.disturbed)
            ),
            "gc": gc_probe.figures(),
            "packets_sent_in_window": sent_window,
            "frames_expected_in_window": round(frames_expected),
        },
        "receiver_app": {
            "packets_received": sum(s.packets_received for s in stats),
            "jitter_lost": sum(s.lost for s in stats),
            "jitter_late": sum(s.late for s in stats),
            "jitter_overflow": sum(s.overflow for s in stats),
            "silence_frames": sum(s.silence_frames for s in stats),
            "socket_errors": sum(s.socket_errors for s in stats),
            "garbage": sum(s.garbage for s in stats),
        },
        "barge_ins_app": barge_app_figures(calls),
        "barge_ins_counted": sum(c.pipeline.barge_ins for c in calls if c.pipeline),
        "generator": generator,
    }


def barge_app_figures(calls: Sequence[Call]) -> list[dict[str, float | None]]:
    """Per speech onset (marker packet arrival): ms to the Pause decision, to the last assistant
    frame sent before it, to the Interrupt decision and to the flush."""

    def first_after(times: Sequence[float], t: float, limit: float) -> float | None:
        return next((x for x in times if t <= x < limit), None)

    out: list[dict[str, float | None]] = []
    for call in calls:
        pipeline = call.pipeline
        if pipeline is None:
            continue
        onsets = call.transport.onsets
        for i, onset in enumerate(onsets):
            limit = onsets[i + 1] if i + 1 < len(onsets) else float("inf")
            pause = next(((t, v) for t, v in pipeline.pauses if onset <= t < limit), None)
            interrupt = first_after(pipeline.interrupts, onset, limit)
            flush = first_after(pipeline.flushes, onset, limit)

            def ms(t: float | None, onset: float = onset) -> float | None:
                return None if t is None else round((t - onset) * 1000.0, 2)

            out.append({
                "pause_ms": ms(pause[0] if pause else None),
                "last_voiced_sent_ms": ms(pause[1] if pause else None),
                "interrupt_ms": ms(interrupt),
                "flush_ms": ms(flush),
            })
    return out


def parse_args(argv: Sequence[str]) -> HostConfig:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--calls", type=int, required=True)
    p.add_argument("--scenario", choices=("listen", "talk", "barge_in"), default="listen")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--record", action="store_true")
    p.add_argument("--assistant-audio", choices=("speech", "tone"), default="speech")
    p.add_argument("--caller-idle", choices=("silence", "none"), default="silence")
    p.add_argument("--barge-per-call", type=int, default=5)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--profile", help="write cProfile stats of the measured window to this file")
    p.add_argument("--no-pin", action="store_true",
                   help="do not pin the host and the generator to different CPUs")
    a = p.parse_args(argv)
    return HostConfig(
        calls=a.calls, scenario=a.scenario, warmup_s=a.warmup, duration_s=a.duration,
        record=a.record, assistant_audio=a.assistant_audio, caller_idle=a.caller_idle,
        barge_per_call=a.barge_per_call, seed=a.seed, profile=a.profile, pin=not a.no_pin,
    )


def main(argv: Sequence[str]) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    cfg = parse_args(argv)
    signal.alarm(int(cfg.warmup_s + cfg.duration_s + 120))  # hard stop, whatever happens
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    result = asyncio.run(host(cfg))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


def cpu_pressure_avg10() -> float | None:
    """The machine's CPU pressure over the last 10 s (% of time some task waited), if known."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/pressure/cpu", encoding="ascii") as pressure:
            return float(pressure.readline().split()[1].split("=")[1])
    return None


def wait_calm(max_wait_s: float, below_pct: float = 5.0) -> float | None:
    """Wait (at most ``max_wait_s``) until the machine's CPU pressure is below ``below_pct``;
    returns the pressure when it stopped waiting. For shared machines: other processes' bursts
    make pacing figures meaningless."""
    deadline = time.monotonic() + max_wait_s
    pressure = cpu_pressure_avg10()
    while pressure is not None and pressure >= below_pct and time.monotonic() < deadline:
        time.sleep(2.0)
        pressure = cpu_pressure_avg10()
    return pressure


def run_host(
    cfg: HostConfig, timeout: float | None = None, wait_calm_s: float = 0.0
) -> dict[str, Any]:
    """Run one host process (from a benchmark) and return its JSON figures. With
    ``wait_calm_s``, first wait up to that long for the machine to be quiet."""
    import subprocess

    pressure = wait_calm(wait_calm_s) if wait_calm_s > 0 else cpu_pressure_avg10()

    argv = [
        sys.executable, "-m", "bench.media_host", "--calls", str(cfg.calls),
        "--scenario", cfg.scenario, "--warmup", str(cfg.warmup_s),
        "--duration", str(cfg.duration_s), "--assistant-audio", cfg.assistant_audio,
        "--caller-idle", cfg.caller_idle, "--barge-per-call", str(cfg.barge_per_call),
        "--seed", str(cfg.seed),
    ]
    if cfg.record:
        argv.append("--record")
    if cfg.profile:
        argv += ["--profile", cfg.profile]
    if not cfg.pin:
        argv.append("--no-pin")
    limit = timeout if timeout is not None else cfg.warmup_s + cfg.duration_s + 180.0
    done = subprocess.run(argv, cwd=str(ROOT), capture_output=True, text=True, timeout=limit)
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(
            f"media_host failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}"
        )
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    figures["machine_cpu_pressure_avg10_at_start"] = pressure
    if done.stderr.strip():
        figures["host_log_tail"] = done.stderr.strip().splitlines()[-5:]
    return figures


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
