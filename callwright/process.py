"""What every Callwright process does the same way, whichever entry point started it
(``callwright``, ``python -m agi``): the log format, stopping on SIGINT or
SIGTERM, and a command's errors turned into a message and an exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from callwright.errors import CallwrightError, ConfigError
from callwright.observability.logs import configure_logging


def setup_logging(level: str, log_format: str = "text") -> None:
    """Log to stderr at ``level``, as text or JSON lines (``[server] log_format``); the lines
    logged during a call carry its uid (see :mod:`callwright.observability.logs`)."""
    configure_logging(level, log_format)


async def wait_for_signal() -> None:
    """Return on SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def run_command(args: argparse.Namespace, prog: str) -> int:
    """Run a parsed sub-command's handler (``args.func``); errors become a message and an exit
    code (2 for a configuration error, 1 for any other Callwright error, 130 for Ctrl-C)."""
    try:
        code: int = args.func(args)
        return code
    except ConfigError as exc:
        print(f"{prog}: configuration error: {exc}", file=sys.stderr)
        return 2
    except CallwrightError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
