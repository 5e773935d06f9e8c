"""Invitations: the org's pending ones (team page), and the invitee's answer.

The invitee answers from their account (``/account/invitations``: accept or decline) or through
the invitation link (``/invite/<token>``, public, like the sign-in form): there a new address
chooses a password, which creates its account, and an address with an account gives its password
(and second factor), checked and rate limited as at sign-in (an account that belongs to no org
yet cannot sign in, so the link is its way in). The link does not sign anyone in: the account then
signs in as usual. See :mod:`callwright.accounts.invitations`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from admin.errors import Missing, UserError
from admin.html import Html, h
from admin.keys import SERVICES
from admin.routing import Ctx, Route, client_ip
from admin.views import button_form, document, done, page, respond, table
from callwright.accounts.directory import TeamError
from callwright.accounts.invitations import GONE, AccountExists, InvitationGone
from callwright.accounts.login import PasswordNotConfirmed
from callwright.accounts.roles import Permission
from callwright.store.invitations import Invitation
from callwright.store.users import User


def invitation_json(invitation: Invitation) -> dict[str, Any]:
    return {
        "id": invitation.id,
        "org": invitation.org_name,
        "email": invitation.email,
        "role": invitation.role,
        "created_at": invitation.created_at,
        "expires_at": invitation.expires_at,
    }


def link_for(request: web.Request, token: str) -> str:
    return f"{request.scheme}://{request.host}/invite/{token}"


# -- the org's side (team page) -------------------------------------------------------------------


def pending_table(ctx: Ctx, pending: list[Invitation], can_write: bool) -> Html:
    """The org's pending invitations: address, role and dates only (nothing of any account)."""
    rows = [
        h(
            "<tr><td>{e}</td><td>{r}</td><td>{c}</td><td>{x}</td><td>{a}</td></tr>",
            e=i.email,
            r=i.role,
            c=i.created_at[:10],
            x=i.expires_at[:10],
            a=button_form(
                ctx,
                f"/team/invitations/{i.id}/revoke",
                "Withdraw",
                danger=True,
                confirm=f"Withdraw the invitation to {i.email}?",
            )
            if can_write
            else "",
        )
        for i in pending
    ]
    return h(
        "<h2>Invitations waiting for an answer</h2>{t}",
        t=table(["E-mail", "Role", "Sent", "Expires", ""], rows, "No pending invitations."),
    )


async def revoke(ctx: Ctx) -> web.StreamResponse:
    invitation_id = ctx.match_int("invitation_id")
    try:
        await ctx.services.invitations.revoke(ctx.actor, ctx.org_id, invitation_id)
    except InvitationGone as exc:
        raise Missing("This invitation") from exc
    return done(ctx, {"ok": True}, "/team", notice="revoked")


# -- the invitee's side (signed in) ---------------------------------------------------------------


def _user(ctx: Ctx) -> User:
    if ctx.principal.user is None:
        raise UserError("API tokens cannot answer invitations: sign in as yourself.", status=403)
    return ctx.principal.user


async def mine(ctx: Ctx) -> web.StreamResponse:
    user = _user(ctx)
    pending = await ctx.services.invitations.pending_for(user)
    data = {"invitations": [invitation_json(i) for i in pending]}

    def render() -> web.Response:
        rows = [
            h(
                "<tr><td>{o}</td><td>{r}</td><td>{x}</td><td>{a}{d}</td></tr>",
                o=i.org_name,
                r=i.role,
                x=i.expires_at[:10],
                a=button_form(ctx, f"/account/invitations/{i.id}/accept", "Accept"),
                d=button_form(ctx, f"/account/invitations/{i.id}/decline", "Decline"),
            )
            for i in pending
        ]
        body = table(["Organisation", "Role", "Expires", ""], rows, "No invitations waiting.")
        return page(ctx, "Invitations", body)

    return respond(ctx, data, render)


async def _answer(ctx: Ctx, accept: bool) -> web.StreamResponse:
    user = _user(ctx)
    invitation_id = ctx.match_int("invitation_id")
    invitations = ctx.services.invitations
    ip = client_ip(ctx.request)
    try:
        if accept:
            answered = await invitations.accept(user, invitation_id, ip)
        else:
            answered = await invitations.decline(user, invitation_id, ip)
    except InvitationGone as exc:
        raise Missing("This invitation") from exc
    result = {"ok": True, "org": answered.org_name, "role": answered.role, "accepted": accept}
    return done(ctx, result, "/account/invitations", notice="accepted" if accept else "declined")


async def accept(ctx: Ctx) -> web.StreamResponse:
    return await _answer(ctx, True)


async def decline(ctx: Ctx) -> web.StreamResponse:
    return await _answer(ctx, False)


# -- the invitation link (public) -----------------------------------------------------------------


def _link_page(title: str, body: Html, status: int = 200) -> web.Response:
    content = h('<main class="narrow"><h1>{t}</h1>{b}</main>', t=title, b=body)
    return web.Response(
        text=document(title, content, script=False), status=status, content_type="text/html"
    )


def _gone() -> web.Response:
    return _link_page(
        "Invitation not valid",
        h('<p class="flash error" role="alert">{m}</p>', m=GONE),
        status=404,
    )


def _invitation_form(token: str, invitation: Invitation, message: str = "") -> Html:
    flash = h('<p class="flash error" role="alert">{m}</p>', m=message) if message else ""
    return h(
        "{flash}<p>You are invited to join <strong>{org}</strong> as <strong>{role}</strong> "
        "with the address <strong>{email}</strong> (until {expires}).</p>"
        '<form method="post" action="/invite/{token}" class="stack">'
        '<label class="field"><span>Password</span>'
        '<input name="password" type="password" autocomplete="current-password" required>'
        '<small class="hint">New to Callwright: choose one (at least 10 characters) for your '
        "account. Already have an account with this address: enter its password.</small></label>"
        '<label class="field"><span>Two-step code</span>'
        '<input name="code" autocomplete="one-time-code" inputmode="numeric">'
        '<small class="hint">Only if your account uses two-step sign-in.</small></label>'
        '<button type="submit">Accept the invitation</button></form>'
        '<p>Or <a href="/login?next=/account/invitations">sign in</a> and answer it under '
        "Account.</p>",
        flash=flash,
        org=invitation.org_name,
        role=invitation.role,
        email=invitation.email,
        expires=invitation.expires_at[:10],
        token=token,
    )


async def link_form(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    token = request.match_info["token"]
    try:
        invitation = await services.invitations.by_token(token)
    except InvitationGone:
        return _gone()
    return _link_page("Invitation", _invitation_form(token, invitation))


async def link_submit(request: web.Request) -> web.StreamResponse:
    """Accept through the link: a new address gets its account with the password chosen; an
    address with an account proves it is that account (password, and second factor if it has
    one, rate limited like signing in). Nobody is signed in here."""
    services = request.app[SERVICES]
    token = request.match_info["token"]
    origin = request.headers.get("Origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.host:
        raise UserError("This request came from another site and was refused.", status=403)
    form = await request.post()
    password = str(form.get("password", ""))[:1024]
    ip = client_ip(request)
    new_account = True
    try:
        try:
            invitation = await services.invitations.accept_with_new_account(token, password, ip)
        except AccountExists:
            new_account = False
            pending = await services.invitations.by_token(token)
            user = await services.authenticator.verify_credentials(
                pending.email, password, str(form.get("code", ""))[:64], ip
            )
            invitation = await services.invitations.accept(user, pending.id, ip)
    except InvitationGone:
        return _gone()
    except (PasswordNotConfirmed, TeamError) as exc:
        if isinstance(exc, PasswordNotConfirmed):
            status = 429 if exc.locked else 401
        else:
            status = 400
        try:
            shown = await services.invitations.by_token(token)
        except InvitationGone:
            return _gone()
        return _link_page("Invitation", _invitation_form(token, shown, str(exc)), status)
    return _link_page(
        "Welcome",
        h(
            "<p>{what} You joined <strong>{org}</strong> as {role}.</p>"
            '<p><a href="/login">Sign in</a> with {email} to start.</p>',
            what="Your account is ready." if new_account else "Thank you.",
            org=invitation.org_name,
            role=invitation.role,
            email=invitation.email,
        ),
        status=201,
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/invite/{token}", link_form)
    app.router.add_post("/invite/{token}", link_submit)


ROUTES = [
    Route(
        "POST",
        "/team/invitations/{invitation_id}/revoke",
        revoke,
        Permission.USERS_WRITE,
        "Withdraw a pending invitation",
    ),
    Route(
        "GET",
        "/account/invitations",
        mine,
        None,
        "Your pending invitations to join organisations (signed-in users, not API tokens)",
        allow_without_second_factor=True,
    ),
    Route(
        "POST",
        "/account/invitations/{invitation_id}/accept",
        accept,
        None,
        "Accept an invitation: join its organisation with its role",
        allow_without_second_factor=True,
    ),
    Route(
        "POST",
        "/account/invitations/{invitation_id}/decline",
        decline,
        None,
        "Decline an invitation",
        allow_without_second_factor=True,
    ),
]
