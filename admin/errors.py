"""Errors handlers raise, and the middleware that turns every error into a message.

A handler raises :class:`UserError` (400 with a message), :class:`Missing` (404) or
:class:`~callwright.accounts.roles.Forbidden` (403). The middleware renders them as a page or as
JSON ``{"error": {"status", "message", "field"}}``; anything unexpected is logged and answered
with a plain 500 message, never a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from admin.html import h
from admin.keys import API_PREFIX
from admin.redirects import with_next
from callwright.accounts.roles import Forbidden
from callwright.errors import NotFound

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class UserError(Exception):
    """Something the user can fix; ``field`` names the input at fault."""

    def __init__(self, message: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


class Missing(UserError):
    def __init__(self, what: str = "This page") -> None:
        super().__init__(f"{what} was not found (or is not in this organisation).", status=404)


class Unauthenticated(Exception):
    """No valid session or token; pages redirect to the login form, the API answers 401."""


def is_api(request: web.Request) -> bool:
    return request.path.startswith(API_PREFIX + "/") or request.path == API_PREFIX


_TITLES = {
    400: "That did not work",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    413: "Too large",
    429: "Slow down",
    500: "Something went wrong",
}


def error_response(
    request: web.Request, status: int, message: str, field: str | None = None
) -> web.Response:
    if is_api(request):
        body = {"error": {"status": status, "message": message, "field": field}}
        return web.json_response(body, status=status)
    title = _TITLES.get(status, "Error")
    page = h(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<title>{title} · Callwright</title><link rel=\"stylesheet\" href=\"/static/admin.css\">"
        "</head><body><main class=\"narrow\"><h1>{title}</h1>"
        "<p class=\"flash error\" role=\"alert\">{message}</p>"
        "<p><a href=\"/\">Dashboard</a></p></main></body></html>",
        title=title,
        message=message,
    )
    return web.Response(text=page, status=status, content_type="text/html")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Unauthenticated:
        if is_api(request):
            return error_response(request, 401, "Sign in or send an API token (Bearer).")
        back = request.path_qs if request.method == "GET" else "/"
        raise web.HTTPSeeOther(with_next("/login", back)) from None
    except Forbidden as exc:
        return error_response(request, 403, str(exc) or "Your role does not allow this.")
    except NotFound:
        return error_response(request, 404, "Not found (or not in this organisation).")
    except UserError as exc:
        return error_response(request, exc.status, exc.message, exc.field)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        messages = {
            404: "There is no page at this address.",
            405: "This address does not accept that kind of request.",
            413: "The upload is too large.",
        }
        return error_response(request, exc.status, messages.get(exc.status, exc.reason))
    except Exception:
        log.exception("admin: unexpected error on %s %s", request.method, request.path)
        return error_response(
            request, 500, "The server could not complete this request. It has been logged."
        )
