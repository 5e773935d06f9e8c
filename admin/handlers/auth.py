"""Signing in and out, the second-factor step, and switching organisation."""

from __future__ import annotations

import hmac
import secrets

from aiohttp import web

from admin.errors import UserError
from admin.html import h
from admin.keys import SERVICES, login_csrf_cookie_name, session_cookie_name
from admin.redirects import safe_next, with_next
from admin.routing import Ctx, Route, client_ip
from admin.services import AdminServices
from admin.views import document, done
from callwright.accounts.login import LoginOutcome
from callwright.accounts.sessions import StartedSession
from callwright.store.tokens import SessionRow


def set_session_cookie(
    response: web.StreamResponse, services: AdminServices, started: StartedSession
) -> None:
    response.set_cookie(
        session_cookie_name(services),
        started.cookie_value,
        max_age=started.max_age_s,
        path="/",
        secure=services.options.secure_cookies,
        httponly=True,
        samesite="Strict",
    )


def clear_session_cookie(response: web.StreamResponse, services: AdminServices) -> None:
    response.del_cookie(
        session_cookie_name(services),
        path="/",
        secure=services.options.secure_cookies,
        httponly=True,
        samesite="Strict",
    )


def _login_page(token: str, next_url: str, message: str = "", email: str = "") -> str:
    flash = h('<p class="flash error" role="alert">{m}</p>', m=message) if message else ""
    return document(
        "Sign in",
        h(
            '<main class="narrow"><h1>Sign in to Callwright</h1>{flash}'
            '<form method="post" action="/login" class="stack">'
            '<input type="hidden" name="_csrf" value="{token}">'
            '<input type="hidden" name="next" value="{next}">'
            '<label class="field"><span>E-mail</span>'
            '<input name="email" type="email" autocomplete="username" required value="{email}">'
            "</label>"
            '<label class="field"><span>Password</span>'
            '<input name="password" type="password" autocomplete="current-password" required>'
            '</label><button type="submit">Sign in</button></form></main>',
            flash=flash,
            token=token,
            next=next_url,
            email=email,
        ),
        script=False,
    )


def _totp_page(csrf: str, next_url: str, message: str = "") -> str:
    flash = h('<p class="flash error" role="alert">{m}</p>', m=message) if message else ""
    return document(
        "Two-step sign-in",
        h(
            '<main class="narrow"><h1>Two-step sign-in</h1>{flash}'
            "<p>Enter the 6-digit code from your authenticator app, or one of your recovery "
            "codes.</p>"
            '<form method="post" action="/login/totp" class="stack">'
            '<input type="hidden" name="_csrf" value="{csrf}">'
            '<input type="hidden" name="next" value="{next}">'
            '<label class="field"><span>Code</span>'
            '<input name="code" autocomplete="one-time-code" inputmode="numeric" required '
            'autofocus></label><button type="submit">Continue</button></form>'
            '<form method="post" action="/logout" class="inline">'
            '<input type="hidden" name="_csrf" value="{csrf}">'
            '<button type="submit" class="link">Cancel</button></form></main>',
            flash=flash,
            csrf=csrf,
            next=next_url,
        ),
        script=False,
    )


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html")


async def login_form(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    token = request.cookies.get(login_csrf_cookie_name(services)) or secrets.token_urlsafe(24)
    response = _html(_login_page(token, safe_next(request.query.get("next"))))
    response.set_cookie(
        login_csrf_cookie_name(services),
        token,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=services.options.secure_cookies,
        max_age=3600,
    )
    return response


async def login_submit(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    form = await request.post()
    email = str(form.get("email", ""))[:320]
    password = str(form.get("password", ""))[:1024]
    next_url = safe_next(str(form.get("next", "/")))
    cookie_token = request.cookies.get(login_csrf_cookie_name(services), "")
    sent = str(form.get("_csrf", ""))
    if not cookie_token or not hmac.compare_digest(cookie_token.encode(), sent.encode()):
        return _html(
            _login_page(
                cookie_token or secrets.token_urlsafe(24),
                next_url,
                "The sign-in form had expired. Please try again.",
                email,
            ),
            status=403,
        )
    outcome: LoginOutcome = await services.authenticator.password_step(
        email, password, client_ip(request)
    )
    if outcome.session is None:
        status = 429 if outcome.locked else 401
        return _html(_login_page(cookie_token, next_url, outcome.message, email), status=status)
    target = with_next("/login/totp", next_url) if outcome.needs_totp else next_url
    response = web.HTTPSeeOther(target)
    set_session_cookie(response, services, outcome.session)
    response.del_cookie(
        login_csrf_cookie_name(services),
        path="/",
        secure=services.options.secure_cookies,
        httponly=True,
        samesite="Strict",
    )
    raise response


async def _pending(request: web.Request, services: AdminServices) -> SessionRow:
    session = await services.sessions.load(request.cookies.get(session_cookie_name(services), ""))
    if session is None:
        raise web.HTTPSeeOther("/login")
    if session.totp_ok:
        raise web.HTTPSeeOther("/")
    return session


async def totp_form(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    session = await _pending(request, services)
    return _html(_totp_page(session.csrf_token, safe_next(request.query.get("next"))))


async def totp_submit(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    session = await _pending(request, services)
    form = await request.post()
    next_url = safe_next(str(form.get("next", "/")))
    if not hmac.compare_digest(str(form.get("_csrf", "")).encode(), session.csrf_token.encode()):
        return _html(_totp_page(session.csrf_token, next_url, "The form had expired."), 403)
    outcome = await services.authenticator.code_step(
        session, str(form.get("code", ""))[:64], client_ip(request)
    )
    if outcome.session is None:
        status = 429 if outcome.locked else 401
        return _html(_totp_page(session.csrf_token, next_url, outcome.message), status)
    response = web.HTTPSeeOther(next_url)
    set_session_cookie(response, services, outcome.session)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    session = await services.sessions.load(request.cookies.get(session_cookie_name(services), ""))
    if session is not None:
        form = await request.post()
        sent = str(form.get("_csrf", "")) or request.headers.get("X-CSRF-Token", "")
        if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
            raise UserError("The form had expired. Reload the page and sign out again.", status=403)
        await services.sessions.end(session)
    response = web.HTTPSeeOther("/login")
    clear_session_cookie(response, services)
    raise response


async def switch_org(ctx: Ctx) -> web.StreamResponse:
    data = await ctx.input()
    slug = str(data.get("org", ""))
    target = next((m for m in ctx.principal.memberships if m.org.slug == slug), None)
    if target is None or ctx.principal.session is None:
        raise UserError("You are not a member of that organisation.", field="org", status=404)
    await ctx.services.sessions.switch_org(ctx.principal.session, target.org_id)
    return done(ctx, {"org": slug}, "/", notice="switched")


def setup(app: web.Application) -> None:
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login_submit)
    app.router.add_get("/login/totp", totp_form)
    app.router.add_post("/login/totp", totp_submit)
    app.router.add_post("/logout", logout)


ROUTES = [
    Route(
        "POST",
        "/org/switch",
        switch_org,
        None,
        "Switch the session's current organisation",
        api=False,
        allow_without_second_factor=True,
    ),
]
