"""A scriptable ARI REST server for the client tests: canned answers per route, every request
recorded, Basic auth checked the way Asterisk does (401 ``Authentication required``)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

USER = "ari"
PASSWORD = "ari-secret"


@dataclass(frozen=True)
class Canned:
    status: int
    body: Any = None                    # a str is sent as is; anything else as JSON
    content_type: str = "application/json"
    delay_s: float = 0.0


@dataclass(frozen=True)
class Seen:
    method: str
    path: str                           # decoded, with /ari
    raw_path: str                       # as on the wire (percent-encoded)
    query: dict[str, str]
    authorization: str | None
    body: Any


@dataclass
class FakeAri:
    """``on(method, path, *answers)``: answers are served in order, the last one repeatedly."""

    routes: dict[tuple[str, str], list[Canned]] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)

    def on(self, method: str, path: str, *answers: Canned) -> None:
        self.routes[(method, path)] = list(answers)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        text = await request.text()
        self.requests.append(Seen(
            request.method, request.path, request.raw_path.split("?")[0], dict(request.query),
            request.headers.get("Authorization"), json.loads(text) if text else None,
        ))
        if request.headers.get("Authorization") != aiohttp.encode_basic_auth(USER, PASSWORD):
            return web.json_response({"message": "Authentication required"}, status=401,
                                     headers={"WWW-Authenticate": 'Basic realm="Asterisk REST '
                                                                  'Interface"'})
        queue = self.routes.get((request.method, request.path))
        if not queue:
            return web.json_response({"message": "Resource not found"}, status=404)
        canned = queue.pop(0) if len(queue) > 1 else queue[0]
        if canned.delay_s:
            await asyncio.sleep(canned.delay_s)
        if canned.status == 204:
            return web.Response(status=204)
        payload = canned.body if isinstance(canned.body, str) else json.dumps(canned.body)
        return web.Response(status=canned.status, body=payload.encode(),
                            headers={"Content-Type": canned.content_type})


HTML_503 = (
    '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\r\n<html><head>\r\n'
    "<title>503 Service Unavailable</title>\r\n</head><body>\r\n<h1>Service Unavailable</h1>\r\n"
    "<p>Shutdown in progress</p>\r\n<hr />\r\n<address>Asterisk/22.10.1</address>\r\n"
    "</body></html>\r\n"
)
HTML_404 = (
    '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\r\n<html><head>\r\n'
    "<title>404 Not Found</title>\r\n</head><body>\r\n<h1>Not Found</h1>\r\n"
    "<p>The requested URL was not found on this server.</p>\r\n<hr />\r\n"
    "<address>Asterisk/22.10.1</address>\r\n</body></html>\r\n"
)
HTML_400 = (
    '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\r\n<html><head>\r\n'
    "<title>400 Bad Request</title>\r\n</head><body>\r\n<h1>Bad Request</h1>\r\n"
    "<p>HTTP request is missing param: [app]</p>\r\n<hr />\r\n"
    "<address>Asterisk/22.10.1</address>\r\n</body></html>\r\n"
)

CHANNEL = {
    "id": "1795326290.24", "name": "UnicastRTP/127.0.0.1:40100-0x7f81a000b0d0", "state": "Down",
    "protocol_id": "", "caller": {"name": "", "number": ""},
    "connected": {"name": "", "number": ""}, "accountcode": "",
    "dialplan": {"context": "default", "exten": "s", "priority": 1, "app_name": "AppDial2",
                 "app_data": "(Outgoing Line)"},
    "creationtime": "2026-11-22T05:44:50.443+0000", "language": "en",
    "channelvars": {"UNICASTRTP_LOCAL_PORT": "14112", "UNICASTRTP_LOCAL_ADDRESS": "127.0.0.1"},
}
BRIDGE = {
    "id": "18e8d0fc-0e4c-4928-9c99-c00988c8b9ac", "technology": "simple_bridge",
    "bridge_type": "mixing", "bridge_class": "stasis", "creator": "Stasis",
    "name": "voicebot-bridge", "channels": [], "creationtime": "2026-11-22T05:44:50.442+0000",
    "video_mode": "talker",
}
APPLICATION = {"name": "voicebot", "channel_ids": [], "bridge_ids": [], "endpoint_ids": [],
               "device_names": [], "events_allowed": [], "events_disallowed": []}
INFO = {"system": {"version": "22.10.1", "entity_id": "02:fc:00:00:00:01"},
        "config": {"name": "", "default_language": "en", "setid": {"user": "", "group": ""}}}
