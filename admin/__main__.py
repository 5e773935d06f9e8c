"""``python -m admin``: the composition root of the admin web app.

Reads the settings (``--config`` or ``$CALLWRIGHT_CONFIG``), opens and migrates the store, loads
the master key, loads and warms the speech engines of test calls from the browser
(:class:`admin.try_calls.TryCalls`), builds the app with :func:`admin.app.build_admin_app` and
serves it on ``[admin] host:port`` until SIGINT or SIGTERM: over HTTPS when ``[admin] tls_cert`` and
``tls_key`` are set (both files are checked first, so a wrong one stops the start with the
setting named), else plain HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from aiohttp import web

from admin.app import build_admin_app
from admin.try_calls import TryCalls
from callwright.config import load_config
from callwright.errors import CallwrightError
from callwright.privacy.secrets import MasterKey
from callwright.store.db import open_store
from callwright.tls import admin_server_context

log = logging.getLogger("admin")


async def serve(config: Path | None, host: str | None, port: int | None) -> None:
    settings = load_config(config)
    logging.basicConfig(
        level=getattr(logging, settings.server.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    ssl_context = admin_server_context(settings.admin)
    master_key = MasterKey.load_or_create(Path(settings.server.master_key_file))
    db = await open_store(settings.store)
    runner: web.AppRunner | None = None
    # Test calls from the browser: their engines are imported, loaded and warmed now, before the
    # admin serves anyone, never inside a call (a native import or model load holds the GIL).
    try_calls = TryCalls(settings, db, master_key)
    try:
        await try_calls.start()
        app = build_admin_app(db, settings, master_key, Path(settings.recordings.dir),
                              try_calls=try_calls)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        bind_host = host or settings.admin.host
        bind_port = settings.admin.port if port is None else port
        await web.TCPSite(runner, bind_host, bind_port, ssl_context=ssl_context).start()
        scheme = "http" if ssl_context is None else "https"
        print(f"callwright admin on {scheme}://{bind_host}:{bind_port}/", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        if runner is not None:
            await runner.cleanup()
        await try_calls.close()
        await db.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m admin", description="Callwright admin")
    parser.add_argument("--config", help="TOML config file (default: $CALLWRIGHT_CONFIG or none)")
    parser.add_argument("--host", help="override [admin] host")
    parser.add_argument("--port", type=int, help="override [admin] port")
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve(Path(args.config) if args.config else None, args.host, args.port))
    except CallwrightError as exc:
        print(f"callwright admin: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
