"""The ``callwright`` command (also ``python -m cli``). Each sub-command is a composition root:
it loads the settings and wires the concrete classes it needs. Adapters are imported inside the
handlers, so that ``callwright models list`` does not load the call service.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from callwright.config import Settings, load_config
from callwright.process import run_command, setup_logging, wait_for_signal
from cli.accounts import add_user_parser
from cli.calls import add_call_parser
from cli.campaigns import add_campaign_parser
from cli.doctor import add_doctor_parser
from cli.models import add_models_parser
from cli.nodes import add_nodes_parser
from cli.privacy import add_privacy_parser
from cli.serve import PidFile, add_drain_parser, pid_file, serve_until_stopped


def _settings(args: argparse.Namespace) -> Settings:
    path = Path(args.config) if getattr(args, "config", None) else None
    return load_config(path)


# -- serve ----------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    setup_logging(settings.server.log_level, settings.server.log_format)
    from ari_app.service import CallService
    from callwright.speech.warmup import settle_heap

    async def main() -> None:
        service = CallService(settings, settle=settle_heap)
        await service.start()
        print(f"callwright: serving ARI app {settings.ari.app!r} at {settings.ari.url}", flush=True)
        if service.status.server is not None:
            print(f"callwright: /healthz, /readyz and /metrics at {service.status.server.url}",
                  flush=True)
        # SIGTERM drains, a second one stops at once; the pid file serves `callwright drain`.
        await serve_until_stopped(service)

    with PidFile(pid_file(settings)):
        asyncio.run(main())
    return 0


# -- demo and simulator ---------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    settings = _settings(args)
    setup_logging("warning" if settings.server.log_level == "info" else settings.server.log_level,
                  settings.server.log_format)
    if getattr(args, "pbx", "asterisk") == "freeswitch":
        from fs_app.demo import run_freeswitch_demo  # one call, as `callwright freeswitch-demo`

        return asyncio.run(run_freeswitch_demo(settings))
    from ari_app.demo import run_demo

    return asyncio.run(run_demo(settings, once=args.once, admin=not args.no_admin))


def cmd_pbx_sim(args: argparse.Namespace) -> int:
    settings = _settings(args)
    setup_logging(settings.server.log_level, settings.server.log_format)
    from ari_app.simulator.server import PbxSimulator

    async def main() -> None:
        sim = PbxSimulator(
            host=args.host, port=args.port, username=args.username, password=args.password
        )
        await sim.start()
        print(f"PBX simulator (fake Asterisk 22) at {sim.ari_url}/ari", flush=True)
        print(f"ARI user {args.username!r}, password from --password", flush=True)
        try:
            await wait_for_signal()
        finally:
            await sim.stop()

    asyncio.run(main())
    return 0


# -- db -------------------------------------------------------------------------------------------


def cmd_db_migrate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    from callwright.store.db import describe_store, open_store

    async def main() -> list[int]:
        db = await open_store(settings.store, migrate=False)
        try:
            return await db.migrate()
        finally:
            await db.close()

    applied = asyncio.run(main())
    store = describe_store(settings.store)
    if applied:
        print(f"{store}: applied migration(s) {', '.join(map(str, applied))}")
    else:
        print(f"{store}: up to date")
    return 0


# -- check ----------------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    settings = _settings(args)
    for section in fields(settings):
        value = getattr(settings, section.name)
        if not hasattr(value, "__dataclass_fields__"):
            continue
        data: dict[str, Any] = asdict(value)
        for key, item in data.items():
            shown = "********" if ("password" in key or "secret" in key) and item else item
            print(f"{section.name}.{key} = {shown!r}")
    print("configuration OK")
    return 0


# -- parser ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callwright", description="Callwright voice assistant")
    parser.add_argument("--config", help="TOML config file (default: $CALLWRIGHT_CONFIG or none)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the ARI application (the call service)")
    p.set_defaults(func=cmd_serve)

    add_drain_parser(sub)

    p = sub.add_parser(
        "demo", help="call the demo assistant (through the PBX simulator, or [ari] url's Asterisk)"
    )
    p.add_argument("--once", action="store_true", help="exit after one call")
    p.add_argument("--no-admin", action="store_true", help="do not start the admin web app")
    p.add_argument("--pbx", choices=("asterisk", "freeswitch"), default="asterisk",
                   help="asterisk (default): the PBX simulator or [ari] url; freeswitch: one call"
                   " through the FreeSWITCH simulator (socket app and mod_audio_fork), then exit")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("pbx-sim", help="run the PBX simulator (a fake Asterisk 22) alone")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8088)
    p.add_argument("--username", default="callwright")
    p.add_argument("--password", default="callwright-sim")
    p.set_defaults(func=cmd_pbx_sim)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    p = db_sub.add_parser("migrate", help="apply pending migrations")
    p.set_defaults(func=cmd_db_migrate)

    p = sub.add_parser("check", help="validate the configuration and print it")
    p.set_defaults(func=cmd_check)

    add_call_parser(sub)
    add_campaign_parser(sub)
    add_nodes_parser(sub)
    add_doctor_parser(sub)
    add_models_parser(sub)
    add_privacy_parser(sub)
    add_user_parser(sub)
    from agi.cli import add_agi_parser  # FastAGI/EAGI, for PBXes without ARI

    add_agi_parser(sub)
    from fs_app.cli import add_freeswitch_parser  # FreeSWITCH: socket app and mod_audio_fork

    add_freeswitch_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser().parse_args(argv), "callwright")


if __name__ == "__main__":
    raise SystemExit(main())
