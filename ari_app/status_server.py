"""The call service's status listener: ``/healthz``, ``/readyz`` and ``/metrics`` over plain HTTP.

* ``GET /healthz``: 200 ``{"status": "alive"}`` while the process answers at all (liveness).
* ``GET /readyz``: 200 when every readiness probe passes, else 503; the JSON body names each check,
  whether it passed and, if not, why (``{"ready": false, "not_ready": ["ari"], "checks": {...}}``).
* ``GET /metrics``: the service's registry in the Prometheus text format (OpenMetrics when the
  scraper asks for it).

It listens on ``[server] status_host:status_port`` (127.0.0.1 by default: it has no
authentication, so expose it beyond the host only to the monitoring network). ``port=0`` here
binds any free port (tests); in the configuration, ``status_port = 0`` means no listener.
"""

from __future__ import annotations

import logging

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.aiohttp import make_aiohttp_handler

from callwright.errors import ConfigError
from callwright.observability.health import Readiness

log = logging.getLogger(__name__)


class StatusServer:
    def __init__(
        self,
        readiness: Readiness,
        registry: CollectorRegistry,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.readiness = readiness
        self.registry = registry
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", make_aiohttp_handler(self.registry))
        return app

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Listen; raises ConfigError when the address cannot be bound (port taken, bad host)."""
        runner = web.AppRunner(self.make_app(), access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(
                "server.status_port",
                f"a free port on {self.host} for the status listener ({exc.strerror or exc})",
                self.port,
            ) from exc
        self._runner = runner
        if self.port == 0:
            self.port = int(runner.addresses[0][1])
        log.info("status listener on %s (/healthz, /readyz, /metrics)", self.url)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def _readyz(self, request: web.Request) -> web.Response:
        report = await self.readiness.check()
        return web.json_response(report.as_json(), status=200 if report.ready else 503)
