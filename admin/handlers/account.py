"""One's own account: memberships, password, and the TOTP second factor with recovery codes."""

from __future__ import annotations

import json

from aiohttp import web

from admin.errors import UserError
from admin.html import Html, h, join
from admin.routing import Ctx, Route, RouteHandler, client_ip
from admin.views import done, field, form, page, text_input
from callwright.accounts.directory import TeamError
from callwright.accounts.login import PasswordNotConfirmed
from callwright.accounts.own_data import export_audited
from callwright.accounts.roles import Role
from callwright.store.users import User


def _user(ctx: Ctx) -> User:
    if ctx.principal.user is None:
        raise UserError("API tokens have no account page.", status=403)
    return ctx.principal.user


async def account(ctx: Ctx) -> web.StreamResponse:
    user = _user(ctx)
    rows = join(
        h('<li>{name} <span class="badge">{role}</span></li>', name=m.org.name, role=m.role)
        for m in ctx.principal.memberships
    )
    password_form = form(
        ctx,
        "/account/password",
        join(
            [
                field(
                    "Current password",
                    text_input(
                        "current", type="password", required=True, autocomplete="current-password"
                    ),
                ),
                field(
                    "New password",
                    text_input(
                        "new",
                        type="password",
                        required=True,
                        minlength=10,
                        autocomplete="new-password",
                    ),
                    hint="At least 10 characters.",
                ),
                Html('<button type="submit">Change password</button>'),
            ]
        ),
        cls="stack",
    )
    waiting = await ctx.services.invitations.pending_for(user)
    invited = (
        h(
            '<p><a href="/account/invitations">{n} invitation{s} waiting for your answer</a></p>',
            n=len(waiting),
            s="" if len(waiting) == 1 else "s",
        )
        if waiting
        else Html('<p><a href="/account/invitations">Invitations</a></p>')
    )
    body = h(
        "<section><h2>You</h2><p>{email}</p><h3>Organisations</h3><ul>{orgs}</ul>{invited}"
        "</section>"
        '<section><h2>Two-step sign-in</h2><p>{totp} <a href="/account/security">Manage</a></p>'
        "</section><section><h2>Password</h2>{pw}</section>"
        '<section><h2>Your data</h2><p><a href="/account/export" download>Download your'
        " account's data (JSON)</a>: account, organisations, sessions, your audit log entries"
        " and notes.</p></section>",
        email=user.email,
        orgs=rows,
        invited=invited,
        totp="On." if user.has_totp else "Off.",
        pw=password_form,
    )
    return page(ctx, "Account", body)


async def export_account(ctx: Ctx) -> web.StreamResponse:
    """The signed-in user's own data as a JSON download (:mod:`callwright.accounts.own_data`)."""
    user = _user(ctx)
    data = await export_audited(ctx.services.db, ctx.services.audit, ctx.actor, user.id,
                                ctx.org_id)
    return web.json_response(
        data, dumps=lambda d: json.dumps(d, ensure_ascii=False, indent=1),
        headers={"Content-Disposition": 'attachment; filename="callwright-account.json"',
                 "Cache-Control": "no-store"},
    )


async def change_password(ctx: Ctx) -> web.StreamResponse:
    user = _user(ctx)
    data = await ctx.input()
    await _confirm_password(ctx, user, str(data.get("current", "")), "change password", "current")
    try:
        await ctx.services.directory.set_password(
            ctx.actor, ctx.principal.session, user.id, str(data.get("new", ""))
        )
    except TeamError as exc:
        raise UserError(str(exc), field="new") from exc
    return done(ctx, {"ok": True}, "/account", notice="password")


def _org_requires(ctx: Ctx) -> bool:
    return any(
        m.org.require_totp and Role(m.role).at_least(Role.ADMIN) for m in ctx.principal.memberships
    )


async def security(ctx: Ctx) -> web.StreamResponse:
    user = _user(ctx)
    required = (
        h(
            '<p class="flash error" role="alert">{m}</p>',
            m="Your organisation requires two-step sign-in for owners and admins. Set it up to "
            "continue.",
        )
        if ctx.principal.needs_second_factor_setup
        else Html("")
    )
    if user.has_totp:
        left = len(user.recovery_hashes)
        turn_off = Html("")
        if not _org_requires(ctx):
            turn_off = form(
                ctx,
                "/account/security/disable",
                join(
                    [
                        field("Password", text_input("password", type="password", required=True)),
                        Html(
                            '<button type="submit" class="danger">'
                            "Turn off two-step sign-in</button>"
                        ),
                    ]
                ),
                cls="stack",
            )
        body = h(
            "<p>Two-step sign-in is <strong>on</strong>. You have {left} unused recovery codes."
            "</p><h2>New recovery codes</h2><p>Replaces all earlier codes.</p>{regen}{off}",
            left=left,
            regen=form(
                ctx,
                "/account/security/recovery",
                join(
                    [
                        field("Password", text_input("password", type="password", required=True)),
                        Html('<button type="submit">Make new recovery codes</button>'),
                    ]
                ),
                cls="stack",
            ),
            off=turn_off,
        )
        return page(ctx, "Two-step sign-in", h("{r}{b}", r=required, b=body))
    pending = ctx.services.second_factor.pending(user)
    if pending is None:
        body = h(
            "<p>Two-step sign-in asks for a code from an authenticator app (any TOTP app) after "
            "your password.</p>{f}",
            f=form(
                ctx,
                "/account/security/begin",
                Html('<button type="submit">Set up two-step sign-in</button>'),
            ),
        )
    else:
        grouped = " ".join(pending.secret[i : i + 4] for i in range(0, len(pending.secret), 4))
        body = h(
            "<ol><li>In your authenticator app, add an account with this key (time-based):"
            '<br><code id="totp-secret" data-secret="{raw}">{secret}</code>'
            '<br><small>or open <a href="{uri}">this otpauth link</a> on this device.</small></li>'
            "<li>Enter the 6-digit code it shows:</li></ol>{f}",
            raw=pending.secret,
            secret=grouped,
            uri=pending.uri,
            f=form(
                ctx,
                "/account/security/confirm",
                join(
                    [
                        field(
                            "Code",
                            text_input(
                                "code",
                                required=True,
                                inputmode="numeric",
                                autocomplete="one-time-code",
                            ),
                        ),
                        Html('<button type="submit">Turn on</button>'),
                    ]
                ),
                cls="stack",
            ),
        )
    return page(ctx, "Two-step sign-in", h("{r}{b}", r=required, b=body))


async def begin(ctx: Ctx) -> web.StreamResponse:
    user = _user(ctx)
    if user.has_totp:
        raise UserError("Two-step sign-in is already on.")
    await ctx.services.second_factor.begin(user)
    raise web.HTTPSeeOther("/account/security")


def _codes_page(ctx: Ctx, codes: list[str], title: str) -> web.StreamResponse:
    body = h(
        "<p><strong>Save these recovery codes now</strong>: each one signs you in once if you lose "
        "your authenticator. They will not be shown again.</p>"
        '<ul class="codes" id="recovery-codes">{codes}</ul><p><a href="/">Continue</a></p>',
        codes=join(h("<li><code>{c}</code></li>", c=c) for c in codes),
    )
    return page(ctx, title, body)


async def confirm(ctx: Ctx) -> web.StreamResponse:
    user = _user(ctx)
    data = await ctx.input()
    codes = await ctx.services.second_factor.confirm(user, str(data.get("code", ""))[:32])
    if codes is None:
        raise UserError(
            "That code is not right. Check the key and your device's clock.", field="code"
        )
    await ctx.record("user.totp_on", f"user:{user.id}")
    return _codes_page(ctx, codes, "Two-step sign-in is on")


async def _confirm_password(
    ctx: Ctx, user: User, password: str, purpose: str, field: str = "password"
) -> None:
    """The signed-in user's own password, checked with the sign-in rate limit (429 when locked)."""
    try:
        await ctx.services.authenticator.confirm_password(
            user, password, client_ip(ctx.request), purpose
        )
    except PasswordNotConfirmed as exc:
        raise UserError(str(exc), field=field, status=429 if exc.locked else 400) from exc


async def _check_password(ctx: Ctx, user: User, purpose: str) -> None:
    data = await ctx.input()
    await _confirm_password(ctx, user, str(data.get("password", ""))[:1024], purpose)


async def regenerate(ctx: Ctx) -> web.StreamResponse:
    user = _user(ctx)
    if not user.has_totp:
        raise UserError("Two-step sign-in is off.")
    await _check_password(ctx, user, "new recovery codes")
    codes = await ctx.services.second_factor.new_recovery_codes(user)
    await ctx.record("user.recovery_codes", f"user:{user.id}")
    return _codes_page(ctx, codes, "New recovery codes")


async def disable(ctx: Ctx) -> web.StreamResponse:
    user = _user(ctx)
    if _org_requires(ctx):
        raise UserError("An organisation you administer requires two-step sign-in.", status=403)
    await _check_password(ctx, user, "turn two-step sign-in off")
    await ctx.services.second_factor.remove(user)
    await ctx.record("user.totp_off", f"user:{user.id}")
    return done(ctx, {"ok": True}, "/account", notice="totp-off")


def _route(method: str, path: str, handler: RouteHandler, summary: str) -> Route:
    return Route(method, path, handler, None, summary, api=False, allow_without_second_factor=True)


ROUTES = [
    _route("GET", "/account", account, "Your account"),
    _route("POST", "/account/password", change_password, "Change your password"),
    Route("GET", "/account/export", export_account, None,
          "Your own data (account, memberships, sessions, audit entries, notes) as JSON"),
    _route("GET", "/account/security", security, "Two-step sign-in settings"),
    _route("POST", "/account/security/begin", begin, "Start setting up TOTP"),
    _route("POST", "/account/security/confirm", confirm, "Confirm TOTP with a first code"),
    _route("POST", "/account/security/recovery", regenerate, "New recovery codes"),
    _route("POST", "/account/security/disable", disable, "Turn TOTP off"),
]
