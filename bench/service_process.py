"""The call service as a real process for the benchmarks: ``python -m cli serve`` configured by
``CALLWRIGHT_*`` environment variables only, started, signalled and killed by its own handle, with
its resident memory and CPU time read from ``/proc``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_TICK = os.sysconf("SC_CLK_TCK")


def service_env(settings: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any ``CALLWRIGHT_`` variable, plus ``settings``
    (``{"ARI_URL": ...}`` becomes ``CALLWRIGHT_ARI_URL``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLWRIGHT_")}
    env.update({f"CALLWRIGHT_{key}": value for key, value in settings.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def rss_bytes(pid: int) -> int | None:
    """Resident set size of ``pid`` (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14 and 15)


class ServiceProcess:
    """One ``callwright serve`` process; its output is appended to ``log``."""

    def __init__(self, env: Mapping[str, str], log: Path) -> None:
        self.env = dict(env)
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None
        self.started_at = 0.0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self) -> float:
        """Start the process; the monotonic time it was started."""
        out = self.log.open("ab")
        try:
            self.started_at = time.monotonic()
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "cli", "serve", cwd=ROOT, env=self.env,
                stdout=out, stderr=asyncio.subprocess.STDOUT,
            )
        finally:
            out.close()
        return self.started_at

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def wait(self, timeout_s: float) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), timeout_s)

    async def kill(self) -> None:
        """SIGKILL (our own child, by its handle) and reap it."""
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()

    def output_tail(self, lines: int = 20) -> list[str]:
        if not self.log.exists():
            return []
        return self.log.read_text(errors="replace").splitlines()[-lines:]
