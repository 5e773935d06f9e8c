"""The lifecycle benchmark's rig (:mod:`bench.lifecycle`): the PBX simulator, the store, the call
service processes started on them in turn, the simulated callers, and what is left after them
(rows in the store, channels and bridges in the PBX).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ari_app.demo import DEMO_NUMBER, DEMO_PHRASES
from ari_app.demo_caller import heard_speech_after, synthesize_phrases
from ari_app.simulator.calls import SimulatedCall
from ari_app.simulator.server import PbxSimulator
from bench.lifecycle_measures import SpeechWatch, first_after
from bench.service_process import ServiceProcess, service_env
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


#: The systemd unit, whose glibc malloc settings the service runs with here too.
UNIT_FILE = Path(__file__).resolve().parents[1] / "deploy" / "callwright.service"


def deployed_malloc_env(unit: Path = UNIT_FILE) -> dict[str, str]:
    """The ``MALLOC_…`` variables the systemd unit's ``Environment=`` lines set."""
    found: dict[str, str] = {}
    for line in unit.read_text(encoding="utf-8").splitlines():
        if not line.startswith("Environment="):
            continue
        for assignment in line.removeprefix("Environment=").split():
            name, _, value = assignment.partition("=")
            if name.startswith("MALLOC_"):
                found[name] = value
    return found


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


class Rig:
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
        self.env.update(deployed_malloc_env())  # glibc's heaps as the systemd unit sets them
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
