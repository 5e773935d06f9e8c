"""Typed keys for what the app and each request carry."""

from __future__ import annotations

from aiohttp import web

from admin.services import AdminServices

SERVICES = web.AppKey("services", AdminServices)
SESSION_COOKIE_INSECURE = "cw_session"
SESSION_COOKIE_SECURE = "__Host-cw_session"
LOGIN_CSRF_COOKIE = "cw_login_csrf"
API_PREFIX = "/api/v1"


def session_cookie_name(services: AdminServices) -> str:
    return SESSION_COOKIE_SECURE if services.options.secure_cookies else SESSION_COOKIE_INSECURE
