"""``callwright agi serve|eagi`` and ``python -m agi serve|eagi``.

- ``serve [--host H] [--port P]``: the FastAGI server with the ``route`` script (see
  :mod:`agi.routing`), on the store named by the configuration (``store.path``).
- ``eagi [ARG ...]``: one call, run by Asterisk's ``EAGI()`` (see :mod:`agi.eagi`). Its stdout
  is the AGI channel, so the command moves it aside first: anything else the process prints
  goes to stderr. Extra arguments (``EAGI(callwright-eagi,${EXTEN})``) are accepted; the
  dialed number is read from the AGI environment (``agi_arg_1``, else ``agi_extension``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agi.fastagi import DEFAULT_PORT

if TYPE_CHECKING:
    from callwright.config import Settings

DEFAULT_HOST = "127.0.0.1"


def _settings(args: argparse.Namespace) -> Settings:
    from callwright.config import load_config

    path = getattr(args, "config", None)
    return load_config(Path(path) if path else None)


def cmd_agi_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    from agi.fastagi import FastAgiServer
    from agi.routing import RoutingScript
    from callwright.process import setup_logging, wait_for_signal
    from callwright.store.db import open_store
    from callwright.store.numbers import NumberRepository

    setup_logging(settings.server.log_level, settings.server.log_format)

    async def main() -> None:
        db = await open_store(settings.store)
        server = FastAgiServer({"route": RoutingScript(NumberRepository(db))},
                               args.host, args.port)
        try:
            await server.start()
            print(f"callwright: FastAGI on agi://{args.host}:{server.port}/route", flush=True)
            await wait_for_signal()
        finally:
            await server.stop()
            await db.close()

    asyncio.run(main())
    return 0


def cmd_agi_eagi(args: argparse.Namespace) -> int:
    # Keep the AGI channel (fd 1) for commands; point fd 1 at stderr so that nothing else
    # (a stray print, a native library) can write into the protocol.
    agi_out = os.dup(1)
    os.dup2(2, 1)
    settings = _settings(args)
    from agi.eagi import EagiFds, run_eagi
    from callwright.process import setup_logging

    setup_logging(settings.server.log_level, settings.server.log_format)
    fds = EagiFds(stdin=0, stdout=agi_out, audio=args.audio_fd)
    return asyncio.run(run_eagi(settings, fds))


def add_agi_commands(sub: Any) -> None:
    """Add ``serve`` and ``eagi`` to a sub-command group."""
    p = sub.add_parser("serve", help="run the FastAGI server (the 'route' script)")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address (default {DEFAULT_HOST})")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"TCP port (default {DEFAULT_PORT})")
    p.set_defaults(func=cmd_agi_serve)
    p = sub.add_parser("eagi", help="handle one call as an EAGI script (run by Asterisk)")
    p.add_argument("--audio-fd", type=int, default=3, help=argparse.SUPPRESS)
    p.add_argument("agi_args", nargs="*", help="EAGI() arguments (read from the environment)")
    p.set_defaults(func=cmd_agi_eagi)


def add_agi_parser(sub: Any) -> None:
    """Register ``agi serve`` and ``agi eagi`` on the ``callwright`` command's sub-parsers."""
    p = sub.add_parser("agi", help="Asterisk AGI: FastAGI routing server, EAGI calls")
    add_agi_commands(p.add_subparsers(dest="agi_command", required=True))


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m agi``."""
    parser = argparse.ArgumentParser(prog="python -m agi",
                                     description="Callwright's Asterisk AGI adapters")
    parser.add_argument("--config", help="TOML config file (default: $CALLWRIGHT_CONFIG or none)")
    add_agi_commands(parser.add_subparsers(dest="agi_command", required=True))
    return parser


def main(argv: list[str] | None = None) -> int:
    """``python -m agi``: run the chosen command, reporting errors as ``callwright`` does."""
    from callwright.process import run_command

    return run_command(build_parser().parse_args(argv), "python -m agi")
