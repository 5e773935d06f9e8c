"""Typed keys for what the app and each request carry."""

from __future__ import annotations

from aiohttp import web

from admin.services import AdminServices

SERVICES = web.AppKey("services", AdminServices)
# With ``[admin] secure_cookies`` on, the cookies are Secure and carry the ``__Host-`` prefix: a
# browser then takes them only with Secure, ``Path=/`` and no Domain, so neither plain HTTP nor
# another host of the domain can plant one. Browsers refuse Secure cookies from plain-HTTP sites
# (other than localhost), so a plain-HTTP setup for local testing turns the setting off and the
# cookies go by their plain names.
SESSION_COOKIE_INSECURE = "cw_session"
SESSION_COOKIE_SECURE = "__Host-cw_session"
LOGIN_CSRF_COOKIE_INSECURE = "cw_login_csrf"
LOGIN_CSRF_COOKIE_SECURE = "__Host-cw_login_csrf"
API_PREFIX = "/api/v1"


def session_cookie_name(services: AdminServices) -> str:
    return SESSION_COOKIE_SECURE if services.options.secure_cookies else SESSION_COOKIE_INSECURE


def login_csrf_cookie_name(services: AdminServices) -> str:
    """The sign-in form's CSRF cookie (set with ``Path=/``, as ``__Host-`` requires)."""
    if services.options.secure_cookies:
        return LOGIN_CSRF_COOKIE_SECURE
    return LOGIN_CSRF_COOKIE_INSECURE
