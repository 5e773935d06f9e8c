"""The plumbing of the ARI REST handlers: requests, responses, and the route table.

A handler is registered for one operation of the spec with the parameters it may read
(``reads``); :class:`AriRequest` refuses to hand it any other one, so the conformance test can
check every parameter the simulator reads against the Swagger files.

Responses look like Asterisk's: ``Server: Asterisk/22.10.1``, ``Cache-Control: no-cache,
no-store``, compact JSON with no trailing newline, 204 with ``Content-Length: 0``, errors as
``{"message": ...}``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web
from multidict import CIMultiDict

from ari_app.simulator.spec import Operation

if TYPE_CHECKING:
    from ari_app.simulator.context import SimContext

SERVER = "Asterisk/22.10.1"
NOT_IMPLEMENTED_MESSAGE = "Not implemented in the Callwright PBX simulator"
INTERNAL_ERROR = "An internal error prevented this request from being handled"


def _headers(extra: dict[str, str] | None = None) -> CIMultiDict[str]:
    headers: CIMultiDict[str] = CIMultiDict()
    headers["Server"] = SERVER
    headers["Cache-Control"] = "no-cache, no-store"
    if extra:
        headers.update(extra)
    return headers


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    text = json.dumps(body, separators=(",", ":"))
    return web.Response(
        status=status,
        body=text.encode(),
        content_type="application/json",
        headers=_headers(headers),
    )


def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return json_response({"message": message}, status, headers)


class _NoContent(web.Response):
    """A 204 that keeps ``Content-Length: 0``, as Asterisk sends it (aiohttp drops it)."""

    async def _prepare_headers(self) -> None:
        await super()._prepare_headers()
        self.headers["Content-Length"] = "0"


def no_content() -> web.Response:
    return _NoContent(status=204, headers=_headers())


_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    503: "Service Unavailable",
}


def html_error(status: int, message: str) -> web.Response:
    """Asterisk's HTTP server error page (text/html), e.g. for a websocket without ``app``."""
    title = _REASONS.get(status, "Error")
    body = (
        '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\r\n'
        f"<html><head>\r\n<title>{status} {title}</title>\r\n</head><body>\r\n"
        f"<h1>{title}</h1>\r\n<p>{message}</p>\r\n<hr />\r\n"
        f"<address>{SERVER}</address>\r\n</body></html>\r\n"
    )
    return web.Response(
        status=status, body=body.encode(), content_type="text/html", headers=_headers()
    )


class UndeclaredParameter(LookupError):
    """A handler asked for a parameter it did not declare (a bug in the simulator)."""


class AriRequest:
    """Query (and JSON body) parameters of one request, limited to what the handler declared."""

    def __init__(
        self,
        request: web.Request,
        operation: Operation,
        path_args: dict[str, str],
        reads: frozenset[str],
        body: Any,
    ) -> None:
        self.request = request
        self.operation = operation
        self.path_args = path_args
        self._reads = reads
        self._query = request.query
        self.body = body

    def _check(self, name: str) -> None:
        if name not in self._reads:
            raise UndeclaredParameter(f"{self.operation.nickname} does not declare {name!r}")

    def get(self, name: str) -> str | None:
        """A query parameter (or the same field of a JSON body object); None when absent."""
        self._check(name)
        if name in self._query:
            return self._query[name]
        if isinstance(self.body, dict) and name in self.body and name != "variables":
            value = self.body[name]
            if isinstance(value, bool):
                return "true" if value else "false"
            return None if value is None else str(value)
        return None

    def get_str(self, name: str) -> str:
        """A parameter, "" when absent (Asterisk treats empty and missing alike)."""
        return self.get(name) or ""

    def get_list(self, name: str) -> list[str]:
        """An allowMultiple parameter: repeated and/or comma-separated."""
        self._check(name)
        values: list[str] = []
        raw = self._query.getall(name, [])
        if not raw and isinstance(self.body, dict) and name in self.body:
            item = self.body[name]
            raw = [str(v) for v in item] if isinstance(item, list) else [str(item)]
        for value in raw:
            values.extend(v for v in value.split(",") if v)
        return values

    def get_int(self, name: str, default: int) -> int:
        """Like Asterisk's atoi: a malformed number reads as 0, a missing one as ``default``."""
        value = self.get(name)
        if value is None or value == "":
            return default
        digits = value.strip()
        sign = -1 if digits.startswith("-") else 1
        digits = digits.lstrip("+-")
        prefix = ""
        for c in digits:
            if not c.isdigit():
                break
            prefix += c
        return sign * int(prefix) if prefix else 0

    def get_bool(self, name: str, default: bool) -> bool:
        value = self.get(name)
        if value is None or value == "":
            return default
        return value.strip().lower() in ("yes", "true", "y", "t", "1", "on")

    def variables(self) -> dict[str, str]:
        """The ``variables`` container of a JSON body (``{"variables": {...}}``)."""
        self._check("variables")
        if isinstance(self.body, dict):
            inner = self.body.get("variables")
            if isinstance(inner, dict):
                return {str(k): str(v) for k, v in inner.items()}
        return {}


Handler = Callable[["SimContext", AriRequest], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    reads: frozenset[str]


@dataclass(slots=True)
class RouteTable:
    routes: dict[tuple[str, str], Route] = field(default_factory=dict)

    def add(
        self, method: str, path: str, reads: tuple[str, ...] = ()
    ) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            key = (method, path)
            if key in self.routes:
                raise ValueError(f"route registered twice: {method} {path}")
            self.routes[key] = Route(method, path, fn, frozenset(reads))
            return fn

        return register

    def merge(self, other: RouteTable) -> None:
        for key, route in other.routes.items():
            if key in self.routes:
                raise ValueError(f"route registered twice: {key}")
            self.routes[key] = route
