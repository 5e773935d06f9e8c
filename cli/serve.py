"""Running the call service until it is told to stop, and ``callwright drain``.

``callwright serve`` writes its pid to ``<[server] data_dir>/callwright.pid`` and runs until a
signal. The first SIGTERM (or SIGINT) **drains**: the service stays connected to Asterisk, a new
call is handed straight back to the dialplan, calls in progress get ``[calls] drain_s`` to end,
then each remaining caller hears a short line and is handed back (``[calls] fallback_target``);
only then is the events WebSocket closed and the process exits 0. A second SIGTERM stops at once:
callers are handed back without the line, their rows closed, and the process exits.

``callwright drain`` sends that SIGTERM to the service named by the pid file (``--now`` sends two)
and, with ``--wait``, waits until the process has exited. The upgrade recipe built on this (a
systemd unit with ``KillSignal=SIGTERM`` and ``TimeoutStopSec`` above ``drain_s``) is in
``deploy/`` and the README.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from callwright.config import Settings, load_config
from callwright.errors import CallwrightError

if TYPE_CHECKING:
    from ari_app.service import CallService

log = logging.getLogger("callwright")

PID_FILE_NAME = "callwright.pid"


def pid_file(settings: Settings) -> Path:
    return Path(settings.server.data_dir) / PID_FILE_NAME


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, someone else's
    return True


def _is_callwright(pid: int) -> bool:
    """Whether ``pid`` runs ``callwright serve`` (Linux: its command line); True when unknown."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        words = cmdline.read_bytes().split(b"\0")
    except OSError:
        return not Path("/proc").is_dir()
    return b"serve" in words and any(b"cli" in w or b"callwright" in w for w in words)


def read_pid(path: Path) -> int | None:
    """The pid of the running service from ``path``; None if there is none (no file, a stale
    file, or the pid now belongs to another program)."""
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid > 0 and _alive(pid) and _is_callwright(pid) else None


class PidFile:
    """``callwright.pid`` for the life of the service. Refuses to start a second service on the
    same data directory (it would take the first one's ARI app name away)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> PidFile:
        other = read_pid(self.path)
        if other is not None and other != os.getpid():
            raise CallwrightError(f"another callwright serve (pid {other}) uses {self.path}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".pid.tmp")
        partial.write_text(f"{os.getpid()}\n")
        partial.replace(self.path)
        return self

    def __exit__(self, *exc: object) -> None:
        if read_pid(self.path) == os.getpid():
            with contextlib.suppress(OSError):
                self.path.unlink()


async def serve_until_stopped(service: CallService) -> None:
    """Wait for SIGTERM/SIGINT, drain, and stop (see the module docstring)."""
    loop = asyncio.get_running_loop()
    stop, now = asyncio.Event(), asyncio.Event()

    def requested(sig: signal.Signals) -> None:
        if not stop.is_set():
            log.warning("%s: draining; calls in progress get up to %g s (send it again to stop "
                        "at once)", sig.name, service.settings.calls.drain_s)
            stop.set()
        else:
            log.warning("%s again: handing every caller back now", sig.name)
            now.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, requested, sig)
    try:
        await stop.wait()
        await service.drain(now=now)
    finally:
        try:
            await service.stop()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)


# -- callwright drain ---------------------------------------------------------------------------


def cmd_drain(args: argparse.Namespace) -> int:
    settings = load_config(Path(args.config) if args.config else None)
    path = pid_file(settings)
    pid = read_pid(path)
    if pid is None:
        print(f"callwright drain: no running service (no live pid in {path})", file=sys.stderr)
        return 1
    os.kill(pid, signal.SIGTERM)
    if args.now:
        time.sleep(0.2)
        os.kill(pid, signal.SIGTERM)
        print(f"callwright drain: pid {pid} hands every caller back now and stops")
    else:
        print(f"callwright drain: pid {pid} drains (calls in progress get up to "
              f"{settings.calls.drain_s:g} s, then are handed back to the dialplan)")
    if not args.wait:
        return 0
    deadline = time.monotonic() + args.timeout
    while _alive(pid) and _is_callwright(pid):
        if time.monotonic() > deadline:
            print(f"callwright drain: pid {pid} still running after {args.timeout:g} s",
                  file=sys.stderr)
            return 1
        time.sleep(0.2)
    print(f"callwright drain: pid {pid} has stopped")
    return 0


def add_drain_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "drain", help="drain the running call service: no new calls, hand callers back, stop"
    )
    p.add_argument("--now", action="store_true",
                   help="hand every caller back at once instead of waiting [calls] drain_s")
    p.add_argument("--wait", action="store_true", help="wait until the service has exited")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="with --wait: give up after this many seconds (default 600)")
    p.set_defaults(func=cmd_drain)
