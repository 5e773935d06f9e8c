"""The headers every answer of the admin carries.

They are added when a response is prepared (``on_response_prepare``), so pages, JSON, errors,
streamed recordings and redirects raised as ``web.HTTPSeeOther`` (the one that sets the session
cookie included) all get them:

- a strict Content-Security-Policy, ``nosniff``, ``DENY`` framing, a same-origin referrer;
- ``Cache-Control: no-store`` (except static files, and a response that set its own);
- ``Strict-Transport-Security`` when the admin is served over HTTPS: the connection is TLS, or
  ``[admin] secure_cookies`` is on, which declares that browsers reach the admin over HTTPS (a
  TLS-terminating proxy in front). Browsers ignore the header on plain HTTP, so it is harmless
  where that declaration is wrong;
- ``Server: Callwright``, with no versions (aiohttp's default names Python's and its own).

The answers aiohttp makes itself before a request reaches the app (a request line or header it
cannot parse: 400) are not prepared through the app, and aiohttp has no setting for their
``Server`` header: :func:`hide_server_version` replaces aiohttp's default value, process-wide.
"""

from __future__ import annotations

from aiohttp import web, web_response

SERVER_NAME = "Callwright"
HSTS = "max-age=31536000"
CSP = (
    "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self';"
    " script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self';"
    " frame-ancestors 'none'"
)


def setup(app: web.Application, *, https: bool) -> None:
    """Add the headers to every answer of ``app``; ``https``: it is reached over HTTPS."""

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        add_security_headers(request, response, https=https)

    app.on_response_prepare.append(on_prepare)
    hide_server_version()


def hide_server_version() -> None:
    """Make aiohttp's own default ``Server`` header (``Python/3.11 aiohttp/3.x``) ours."""
    if hasattr(web_response, "SERVER_SOFTWARE"):  # where aiohttp 3 keeps the default
        setattr(web_response, "SERVER_SOFTWARE", SERVER_NAME)  # noqa: B010 (not re-exported)


def add_security_headers(
    request: web.Request, response: web.StreamResponse, *, https: bool = False
) -> None:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    if not request.path.startswith("/static/"):
        headers.setdefault("Cache-Control", "no-store")
    if https or request.secure:
        headers.setdefault("Strict-Transport-Security", HSTS)
    headers["Server"] = SERVER_NAME
