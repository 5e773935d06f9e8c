"""A real HTTP server on 127.0.0.1 (random port) serving model files, for the fetch tests.

It honours ``Range: bytes=N-`` (206 + Content-Range) unless told to ignore it, and can cut the
connection half-way through the first ``drop_first`` answers, as a flaky network would.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import zipfile
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Served:
    path: str
    range: str | None
    status: int


@dataclass
class ModelServer:
    files: dict[str, bytes]
    honour_range: bool = True
    drop_first: int = 0
    served: list[Served] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    base_url: str = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/{name:.+}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        asked = request.headers.get("Range")
        data = self.files.get(name)
        if data is None:
            self.served.append(Served(name, asked, 404))
            raise web.HTTPNotFound()
        start, status = 0, 200
        headers = {"Accept-Ranges": "bytes" if self.honour_range else "none"}
        if asked and self.honour_range and asked.startswith("bytes=") and asked.endswith("-"):
            start = int(asked[6:-1])
            if start >= len(data):
                self.served.append(Served(name, asked, 416))
                return web.Response(status=416, headers={"Content-Range": f"bytes */{len(data)}"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        self.served.append(Served(name, asked, status))
        response = web.StreamResponse(status=status, headers=headers)
        response.content_length = len(body)
        await response.prepare(request)
        if self.drop_first > 0:
            self.drop_first -= 1
            await response.write(body[: len(body) // 2])
            # Let the client read what was sent: aiohttp drops buffered bytes once it sees the
            # connection fail, so an instant close would look like nothing arrived at all.
            await asyncio.sleep(0.2)
            assert request.transport is not None
            request.transport.close()  # the client sees a short body: ContentLengthError
            return response
        await response.write(body)
        await response.write_eof()
        return response


def make_zip(files: dict[str, bytes]) -> bytes:
    """A zip archive holding ``files`` (name -> content), as a model would be published."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return out.getvalue()


def fake_vosk_model(name: str, size: int = 300_000) -> dict[str, bytes]:
    """A directory shaped like a Vosk model, with some incompressible bytes to download."""
    noise = hashlib.shake_256(name.encode()).digest(size)
    return {
        f"{name}/README": b"fake model for tests\n",
        f"{name}/am/final.mdl": noise,
        f"{name}/conf/model.conf": b"--sample-frequency=16000\n",
        f"{name}/graph/phones.txt": b"SIL 1\n",
    }


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
