"""The call service as a real process (``python -m cli serve``) against an in-test PBX simulator:
seeding its store, writing its config, starting, killing and stopping it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ari_app.demo import DEMO_NUMBER
from ari_app.simulator.server import PbxSimulator
from callwright.dialog.demo_flow import DEMO_FLOW
from callwright.store.assistants import AssistantRepository
from callwright.store.db import Database
from callwright.store.numbers import NumberRepository
from callwright.store.seed import seed_demo

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "lifecycle-secret"
APP = "callwright"
#: The second number: an assistant whose orphaned calls go to the operators' queue.
DIALPLAN_NUMBER = "200"
OPERATORS = ("operators", "s", 1)
#: The third: an assistant whose orphaned calls get an apology and a hang-up.
HANGUP_NUMBER = "300"


async def seed(db_path: Path) -> None:
    """The demo assistant (Korean flow, on_recovery = resume) on DEMO_NUMBER, and two more with
    the same flow: on_recovery = dialplan (to OPERATORS) and hangup."""
    db = await Database.open(db_path)
    try:
        org, _, _ = await seed_demo(db, number=DEMO_NUMBER, language="ko", greeting="",
                                    flow=dict(DEMO_FLOW), record_calls=True)
        assistants, numbers = AssistantRepository(db), NumberRepository(db)
        desk = await assistants.create(
            org.id, "Desk", "ko", "", flow=dict(DEMO_FLOW), on_recovery="dialplan",
            recovery_target=",".join(map(str, OPERATORS)),
        )
        await numbers.create(org.id, DIALPLAN_NUMBER, assistant_id=desk.id)
        closing = await assistants.create(org.id, "Closing", "ko", "", flow=dict(DEMO_FLOW),
                                          on_recovery="hangup")
        await numbers.create(org.id, HANGUP_NUMBER, assistant_id=closing.id)
    finally:
        await db.close()


def write_config(tmp: Path, sim: PbxSimulator, *, drain_s: float = 120.0,
                 fallback: str = "") -> Path:
    var = tmp / "var"
    var.mkdir(exist_ok=True)
    path = tmp / "callwright.toml"
    path.write_text(f"""
[server]
data_dir = "{var}"
master_key_file = "{var / 'master.key'}"

[ari]
url = "{sim.ari_url}"
username = "{sim.username}"
password = "{sim.password}"
app = "{APP}"
reconnect_max_s = 1.0

[store]
path = "{var / 'callwright.db'}"

[recordings]
dir = "{var / 'recordings'}"

[calls]
drain_s = {drain_s}
fallback_target = "{fallback}"
""")
    return path


class ServiceProcess:
    """One ``callwright serve`` process; its output goes to ``log``."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None
        self.started_at = 0.0

    async def start(self) -> None:
        self.started_at = time.monotonic()
        out = self.log.open("ab")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "cli", "--config", str(self.config), "serve",
                cwd=REPO, stdout=out, stderr=asyncio.subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        finally:
            out.close()

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def wait(self, timeout_s: float) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), timeout_s)

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


async def wait_for(predicate: Callable[[], bool], within_s: float, what: str,
                   poll_s: float = 0.01) -> float:
    """Poll until ``predicate()``; the monotonic time it became true."""
    deadline = time.monotonic() + within_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within_s} s waiting for {what}")
        await asyncio.sleep(poll_s)
    return time.monotonic()
