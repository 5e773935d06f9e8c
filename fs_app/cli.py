"""``callwright serve-freeswitch`` and ``callwright freeswitch-demo`` (added to the ``callwright``
command by :mod:`cli.main`; ``freeswitch-demo`` is ``callwright demo --once --pbx freeswitch``)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any


def cmd_serve_freeswitch(args: argparse.Namespace) -> int:
    from callwright.config import load_config
    from callwright.process import setup_logging, wait_for_signal
    from callwright.speech.warmup import settle_heap
    from fs_app.service import FreeswitchService

    settings = load_config(Path(args.config) if getattr(args, "config", None) else None)
    setup_logging(settings.server.log_level, settings.server.log_format)

    async def main() -> None:
        service = FreeswitchService(settings, settle=settle_heap)
        await service.start()
        fs = settings.freeswitch
        print(f"callwright: FreeSWITCH calls on socket {fs.socket_host}:{service.socket_port},"
              f" mod_audio_fork on ws://{fs.audio_url_host or fs.audio_host}:{service.forks.port}",
              flush=True)
        try:
            await wait_for_signal()
        finally:
            await service.stop()

    asyncio.run(main())
    return 0


def cmd_freeswitch_demo(args: argparse.Namespace) -> int:
    from callwright.config import load_config
    from callwright.process import setup_logging
    from fs_app.demo import run_freeswitch_demo

    settings = load_config(Path(args.config) if getattr(args, "config", None) else None)
    setup_logging("warning" if settings.server.log_level == "info" else settings.server.log_level,
                  settings.server.log_format)
    return asyncio.run(run_freeswitch_demo(settings))


def add_freeswitch_parser(sub: Any) -> None:
    p = sub.add_parser("serve-freeswitch", help="take FreeSWITCH calls (dialplan socket app and"
                       " mod_audio_fork; see docs/freeswitch.md)")
    p.set_defaults(func=cmd_serve_freeswitch)
    p = sub.add_parser("freeswitch-demo",
                       help="one demo call through the FreeSWITCH simulator, then exit (the same"
                       " as `callwright demo --once --pbx freeswitch`)")
    p.set_defaults(func=cmd_freeswitch_demo)
