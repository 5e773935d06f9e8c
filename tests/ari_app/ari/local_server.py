"""Real aiohttp servers on 127.0.0.1 for the ARI client tests."""

from __future__ import annotations

import socket

from aiohttp import web


class LocalServer:
    """An aiohttp app served on 127.0.0.1 that can be stopped and started again on its port."""

    def __init__(self, app: web.Application, port: int) -> None:
        self.app = app
        self.port = port
        self.live: list[web.Request] = []   # websocket requests to drop on stop()
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        if self.port == 0:
            self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop listening and drop every tracked websocket without a close frame (a crash)."""
        for request in list(self.live):
            if request.transport is not None:
                request.transport.abort()
        self.live.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


SERVER = web.AppKey("local_server", LocalServer)


def free_port() -> int:
    """A port nothing listens on (connections to it are refused until a server takes it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
