"""A real local webhook receiver that checks Callwright's signature, with scripted answers.

    async with WebhookReceiver(secret=b"s3cret") as hook:
        hook.answer(Answer(json={"status": "shipped"}))
        url = hook.url            # http://127.0.0.1:<port>/hooks/<random token>

It answers ``POST /hooks/<token>`` from a queue of :class:`Answer` scripts (then ``default``).
With a ``secret`` it verifies ``X-Callwright-Signature`` (hex HMAC-SHA256 over
``timestamp.body``) and refuses a bad or missing signature, or a timestamp more than 5 minutes
off, with 401 before using an answer. Every request is recorded in :attr:`WebhookReceiver.requests`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Answer:
    status: int = 200
    json: Any = None
    raw: bytes | None = None
    delay_s: float = 0.0
    headers: dict[str, str] | None = None


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    signature_ok: bool | None  # None: no secret to check against

    @property
    def payload(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    def __init__(self, *, secret: bytes | None = None, default: Answer | None = None) -> None:
        self.secret = secret
        self.default = default or Answer(json={"ok": True})
        self.token = secrets.token_hex(8)
        self.requests: list[Received] = []
        self._answers: deque[Answer] = deque()
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._closing = asyncio.Event()

    def answer(self, *answers: Answer) -> None:
        self._answers.extend(answers)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}/hooks/{self.token}"

    async def __aenter__(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_post("/hooks/{token}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def _verify(self, request: web.Request, body: bytes) -> bool | None:
        if self.secret is None:
            return None
        timestamp = request.headers.get("X-Callwright-Timestamp", "")
        signature = request.headers.get("X-Callwright-Signature", "")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
            return False
        expected = hmac.new(
            self.secret, timestamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(expected, signature)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.Response(status=404)
        body = await request.read()
        ok = self._verify(request, body)
        self.requests.append(Received(dict(request.headers), body, ok))
        if ok is False:
            return web.json_response({"error": "bad signature"}, status=401)
        answer = self._answers.popleft() if self._answers else self.default
        if answer.delay_s:
            try:
                await asyncio.wait_for(self._closing.wait(), answer.delay_s)
            except TimeoutError:
                pass
        if answer.raw is not None:
            return web.Response(status=answer.status, body=answer.raw, headers=answer.headers)
        return web.json_response(answer.json, status=answer.status, headers=answer.headers)
