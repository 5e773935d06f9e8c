"""The load generator of the media benchmarks: a separate process that plays Asterisk's side of
N ExternalMedia RTP channels on 127.0.0.1.

    python -m bench.loadgen          # reads one JSON config line on stdin (see LoadConfig)

Protocol (one JSON object per line on stdout): the generator binds one UDP socket per call
(connected to the app's RTP port, as Asterisk sends from UNICASTRTP_LOCAL_ADDRESS:PORT), prints
``{"event": "ready", "ports": [...]}``, waits for ``go`` on stdin, runs the scenario for
``warmup_s + duration_s`` and prints ``{"event": "result", ...}``, then exits. It stops by itself:
a SIGALRM after ``hard_timeout_s`` ends it whatever happens, and so does end of file on stdin
before ``go``.

What each call sends (8 kHz µ-law, PT 0, 20 ms packets, each call on its own phase of the
20 ms grid):

* ``listen``: nothing from the caller (or silence with ``caller_idle="silence"``);
* ``talk``: the caller speaks half the time: the speech clip (espeak-ng), then as long of
  silence (or of nothing), over and over, each call starting at a random point of the cycle;
* ``barge_in``: silence until the assistant has been talking for a random 0.8-2 s, then the
  speech clip; the clip's first packet carries the RTP marker bit (the speech onset, for the
  app's own figures). Per barge-in it measures the time from sending that packet to the arrival
  of the last non-silent assistant packet, then waits for the assistant's next reply.

Receive timestamps are the kernel's (SO_TIMESTAMPNS, CLOCK_REALTIME), so the generator's own
scheduling does not blur the gaps it measures; send times are ``time.time()`` just before
``send``.
"""

from __future__ import annotations

import json
import math
import os
import random
import resource
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

FRAME_S = 0.020
FRAME_SAMPLES = 160
PT_ULAW = 0
ULAW_SILENCE = b"\xff" * FRAME_SAMPLES
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; Python does not export it
_ANC_SIZE = socket.CMSG_SPACE(16)
_TIMESPEC = struct.Struct("qq")
_HEADER = struct.Struct("!BBHII")
_SILENT_BYTES = b"\xff\x7f"  # µ-law codes of PCM 0 and -1
PHASE_SLOTS = 20  # the 20 ms grid is cut into 1 ms slots; each call sends in one of them
DEFAULT_SPEECH = "Sorry, wait, I have a question about tomorrow."


@dataclass
class LoadConfig:
    app_ports: list[int]
    scenario: str = "listen"           # listen | talk | barge_in
    warmup_s: float = 2.0
    duration_s: float = 10.0
    hard_timeout_s: float = 120.0
    caller_idle: str = "silence"       # silence | none (what a silent caller sends)
    speech_text: str = DEFAULT_SPEECH
    barge_per_call: int = 5
    barge_delay_s: tuple[float, float] = (0.8, 2.0)
    seed: int = 1
    host: str = "127.0.0.1"
    cpu: int | None = None             # pin the generator to this CPU

    @classmethod
    def from_json(cls, line: str) -> LoadConfig:
        raw: dict[str, Any] = json.loads(line)
        if "barge_delay_s" in raw:
            raw["barge_delay_s"] = tuple(raw["barge_delay_s"])
        return cls(**raw)


# -- pure helpers (unit-tested in tests/bench) -------------------------------------------------


def is_voiced_ulaw(payload: bytes) -> bool:
    """True if a µ-law payload holds anything but digital silence (PCM 0 or -1)."""
    return bool(payload.strip(_SILENT_BYTES))


def kernel_time(ancdata: Sequence[tuple[int, int, bytes]], fallback: float) -> float:
    """The SO_TIMESTAMPNS receive time (seconds, CLOCK_REALTIME) in ``ancdata``, else
    ``fallback``."""
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = _TIMESPEC.unpack_from(data)
            return float(sec + nsec * 1e-9)
    return fallback


class GapTracker:
    """Arrival gaps of one RTP stream: |gap - 20 ms| in ms for each pair of packets with
    consecutive sequence numbers, plus the packets missing from the sequence."""

    __slots__ = ("deviations", "last_seq", "last_t", "received", "lost", "reordered")

    def __init__(self, deviations: array[float] | None = None) -> None:
        self.deviations: array[float] = deviations if deviations is not None else array("d")
        self.last_seq: int | None = None
        self.last_t = 0.0
        self.received = 0
        self.lost = 0
        self.reordered = 0

    def add(self, seq: int, t: float) -> None:
        self.received += 1
        if self.last_seq is not None:
            step = (seq - self.last_seq) & 0xFFFF
            if step == 1:
                self.deviations.append(abs((t - self.last_t) - FRAME_S) * 1000.0)
            elif 1 < step < 0x8000:
                self.lost += step - 1
            else:  # duplicate or older packet: keep the newest as reference
                self.reordered += 1
                return
        self.last_seq, self.last_t = seq, t


def summarize(values: Sequence[float] | npt.NDArray[np.float64]) -> dict[str, float]:
    """n, p50, p95, p99 and max (ms, 3 decimals); percentiles by linear interpolation."""
    if not len(values):
        return {"n": 0, "p50": math.nan, "p95": math.nan, "p99": math.nan, "max": math.nan}
    data = np.asarray(values, dtype=np.float64)
    p50, p95, p99 = np.percentile(data, [50, 95, 99])
    return {
        "n": int(data.size),
        "p50": round(float(p50), 3),
        "p95": round(float(p95), 3),
        "p99": round(float(p99), 3),
        "max": round(float(data.max()), 3),
    }


def speech_clip_ulaw(text: str) -> bytes:
    """``text`` spoken by espeak-ng, 8 kHz µ-law, leading and trailing silence cut, a whole
    number of 20 ms frames."""
    from callwright.media.g711 import ulaw_encode
    from callwright.speech.espeak_tts import parse_wav, resample_pcm16

    wav = subprocess.run(
        ["espeak-ng", "-v", "en-us", "--stdout", "--", text],
        check=True, capture_output=True, timeout=30,
    ).stdout
    samples, rate = parse_wav(wav)
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > 300)
    if loud.size:
        samples = samples[int(loud[0]) : int(loud[-1]) + 1]
    pcm = resample_pcm16(samples, rate, 8000)
    frame = FRAME_SAMPLES * 2
    pcm += bytes(-len(pcm) % frame)
    return ulaw_encode(pcm)


# -- one call ----------------------------------------------------------------------------------


@dataclass
class BargeSample:
    call: int
    onset_wall: float
    stop_ms: float | None = None     # onset sent → last voiced assistant packet received
    resumed: bool = False            # the assistant went silent, then spoke again in the window
    voiced_after_onset: int = 0      # voiced assistant packets received after the onset


@dataclass
class Call:
    index: int
    sock: socket.socket
    phase: int
    ssrc: int
    seq: int
    ts: int
    gaps: GapTracker
    sent: int = 0
    received_total: int = 0
    voiced_total: int = 0
    # what the caller is sending: (clip, position) or silence
    clip_pos: int | None = None
    cycle_pos: int = 0
    # barge-in state
    state: str = "await_speech"      # await_speech, armed, barging, cooldown, done
    barge_at: float = 0.0
    last_voiced_mono: float = -1e9
    window_end: float = 0.0
    current: BargeSample | None = None
    silent_since_voiced: bool = False
    barges: list[BargeSample] = field(default_factory=list)


class LoadGenerator:
    def __init__(self, config: LoadConfig) -> None:
        self.cfg = config
        self.rng = random.Random(config.seed)
        self.clip = b""
        if config.scenario in ("talk", "barge_in"):
            self.clip = speech_clip_ulaw(config.speech_text)
        self.clip_frames = len(self.clip) // FRAME_SAMPLES
        self.calls: list[Call] = []
        self.late_sends = 0
        self.measure_from = 0.0
        self.measure_to = 0.0

    def bind(self) -> list[int]:
        for i, port in enumerate(self.cfg.app_ports):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            sock.bind((self.cfg.host, 0))
            sock.connect((self.cfg.host, port))
            sock.setblocking(False)
            self.calls.append(
                Call(
                    index=i, sock=sock, phase=self.rng.randrange(PHASE_SLOTS),
                    ssrc=self.rng.getrandbits(32), seq=self.rng.randrange(1 << 16), ts=160,
                    gaps=GapTracker(),
                    cycle_pos=self.rng.randrange(max(1, 2 * self.clip_frames)),
                )
            )
        return [c.sock.getsockname()[1] for c in self.calls]

    # -- sending -------------------------------------------------------------------------------

    def _payload(self, call: Call, now: float) -> tuple[bytes | None, bool]:
        """What ``call`` sends this frame, and whether it carries the marker bit."""
        idle = ULAW_SILENCE if self.cfg.caller_idle == "silence" else None
        scenario = self.cfg.scenario
        if scenario == "talk":
            pos = call.cycle_pos
            call.cycle_pos = (pos + 1) % (2 * self.clip_frames)
            if pos < self.clip_frames:
                return self.clip[pos * FRAME_SAMPLES : (pos + 1) * FRAME_SAMPLES], False
            return idle, False
        if scenario == "barge_in":
            return self._barge_payload(call, now, idle)
        return idle, False

    def _barge_payload(
        self, call: Call, now: float, idle: bytes | None
    ) -> tuple[bytes | None, bool]:
        if call.state == "armed" and now >= call.barge_at:
            if now - call.last_voiced_mono < 0.1:  # the assistant is still talking: barge in
                call.state = "barging"
                call.clip_pos = 0
                call.silent_since_voiced = False
            else:
                call.state = "await_speech"
        if call.state == "barging" and call.clip_pos is not None:
            pos = call.clip_pos
            call.clip_pos = pos + 1
            if call.clip_pos >= self.clip_frames:
                call.clip_pos = None
                call.window_end = now + FRAME_S + 0.3
            return self.clip[pos * FRAME_SAMPLES : (pos + 1) * FRAME_SAMPLES], pos == 0
        if call.state == "barging" and now >= call.window_end and call.current is not None:
            call.barges.append(call.current)
            call.current = None
            call.state = "done" if len(call.barges) >= self.cfg.barge_per_call else "cooldown"
        return idle, False

    def send(self, call: Call, now: float) -> None:
        payload, marker = self._payload(call, now)
        if payload is None:
            call.ts = (call.ts + FRAME_SAMPLES) & 0xFFFFFFFF
            return
        header = _HEADER.pack(0x80, (0x80 if marker else 0) | PT_ULAW, call.seq, call.ts, call.ssrc)
        call.seq = (call.seq + 1) & 0xFFFF
        call.ts = (call.ts + FRAME_SAMPLES) & 0xFFFFFFFF
        wall = time.time()
        try:
            call.sock.send(header + payload)
        except OSError:
            return
        call.sent += 1
        if marker:
            call.current = BargeSample(call.index, wall)

    # -- receiving -----------------------------------------------------------------------------

    def receive(self, call: Call) -> None:
        sock = call.sock
        while True:
            try:
                data, anc, _flags, _addr = sock.recvmsg(2048, _ANC_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. ECONNREFUSED after the app closed its socket
                return
            if len(data) < 12:
                continue
            t = kernel_time(anc, time.time())
            call.received_total += 1
            seq = (data[2] << 8) | data[3]
            if self.measure_from <= t <= self.measure_to:
                call.gaps.add(seq, t)
            if self.cfg.scenario == "barge_in":
                self._barge_receive(call, data[12:], t)

    def _barge_receive(self, call: Call, payload: bytes, t: float) -> None:
        voiced = is_voiced_ulaw(payload)
        mono = time.monotonic()
        if not voiced:
            if call.current is not None:
                call.silent_since_voiced = True
            return
        call.voiced_total += 1
        call.last_voiced_mono = mono
        sample = call.current
        if call.state == "barging" and sample is not None and t >= sample.onset_wall:
            if call.silent_since_voiced and sample.voiced_after_onset:
                sample.resumed = True
            sample.voiced_after_onset += 1
            sample.stop_ms = (t - sample.onset_wall) * 1000.0
            call.silent_since_voiced = False
        elif call.state in ("await_speech", "cooldown"):
            lo, hi = self.cfg.barge_delay_s
            call.barge_at = mono + self.rng.uniform(lo, hi)
            call.state = "armed"

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        poller = select.epoll()
        by_fd: dict[int, Call] = {}
        for call in self.calls:
            poller.register(call.sock.fileno(), select.EPOLLIN)
            by_fd[call.sock.fileno()] = call
        slots: list[list[Call]] = [[] for _ in range(PHASE_SLOTS)]
        for call in self.calls:
            slots[call.phase].append(call)
        slot_s = FRAME_S / PHASE_SLOTS
        start_mono, start_wall = time.monotonic(), time.time()
        self.measure_from = start_wall + cfg.warmup_s
        self.measure_to = self.measure_from + cfg.duration_s
        end_mono = start_mono + cfg.warmup_s + cfg.duration_s
        cpu0 = _cpu_seconds()
        slot_index = 0
        while True:
            now = time.monotonic()
            if now >= end_mono:
                break
            if cfg.scenario == "barge_in" and all(c.state == "done" for c in self.calls):
                break
            due = start_mono + slot_index * slot_s
            if now >= due:
                if now - due > FRAME_S:  # far behind: skip to the present, do not burst
                    missed = int((now - due) / slot_s)
                    self.late_sends += sum(
                        len(slots[(slot_index + k) % PHASE_SLOTS]) for k in range(missed)
                    )
                    slot_index += missed
                    continue
                for call in slots[slot_index % PHASE_SLOTS]:
                    self.send(call, now)
                slot_index += 1
                continue
            for fd, _mask in poller.poll(due - now):
                self.receive(by_fd[fd])
        # drain what is already queued
        for fd, _mask in poller.poll(0):
            self.receive(by_fd[fd])
        cpu = _cpu_seconds() - cpu0
        wall = time.monotonic() - start_mono
        poller.close()
        return self._result(cpu, wall)

    def _result(self, cpu_s: float, wall_s: float) -> dict[str, Any]:
        calls = self.calls
        window = self.cfg.duration_s
        received = sum(c.gaps.received for c in calls)
        lost = sum(c.gaps.lost for c in calls)
        expected_by_time = len(calls) * window / FRAME_S
        barges = [b for c in calls for b in c.barges]
        return {
            "event": "result",
            "calls": len(calls),
            "scenario": self.cfg.scenario,
            "window_s": window,
            "run_s": round(wall_s, 2),
            "loadgen_cpu_pct": round(100.0 * cpu_s / max(wall_s, 1e-9), 1),
            "sent_packets": sum(c.sent for c in calls),
            "late_sends": self.late_sends,
            "received_in_window": received,
            "expected_in_window": round(expected_by_time),
            "lost_in_sequence": lost,
            "reordered": sum(c.gaps.reordered for c in calls),
            "received_total": sum(c.received_total for c in calls),
            "gap_deviation_ms": summarize(
                np.concatenate([np.frombuffer(c.gaps.deviations, dtype=np.float64) for c in calls])
                if calls else []
            ),
            "per_call_p99_ms": summarize(
                [summarize(c.gaps.deviations)["p99"] for c in calls if len(c.gaps.deviations)]
            ),
            "barge_ins": [
                {
                    "call": b.call,
                    "stop_ms": None if b.stop_ms is None else round(b.stop_ms, 2),
                    "resumed": b.resumed,
                    "voiced_after_onset": b.voiced_after_onset,
                }
                for b in barges
            ],
            "clip_ms": self.clip_frames * 20,
        }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> int:
    line = sys.stdin.readline()
    if not line:
        return 2
    cfg = LoadConfig.from_json(line)
    signal.alarm(max(1, math.ceil(cfg.hard_timeout_s)))  # SIGALRM's default action ends us
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if cfg.cpu is not None:
        try:
            os.sched_setaffinity(0, {cfg.cpu})
        except OSError:
            pass
    gen = LoadGenerator(cfg)
    ports = gen.bind()
    _emit({"event": "ready", "ports": ports, "pid": os.getpid(), "clip_ms": gen.clip_frames * 20})
    if sys.stdin.readline().strip() != "go":
        return 2
    _emit(gen.run())
    for call in gen.calls:
        call.sock.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
