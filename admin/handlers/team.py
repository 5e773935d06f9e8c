"""The org's people and their roles, and API tokens for automation.

People join by invitation (:mod:`admin.handlers.invitations`): adding an address here invites it,
with the same answer whether or not it has an account, and the team page shows nothing of an
account until it has accepted.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from admin.errors import Missing, UserError
from admin.handlers.invitations import invitation_json, link_for, pending_table
from admin.html import Html, h, join
from admin.routing import Ctx, Route
from admin.views import button_form, done, field, form, page, respond, select, table, text_input
from callwright.accounts.directory import TeamError
from callwright.accounts.roles import Permission, Role, may_grant

ROLE_CHOICES = [(r.value, r.value) for r in Role]


def _role(value: Any, name: str = "role") -> Role:
    try:
        return Role.parse(str(value))
    except ValueError as exc:
        raise UserError(str(exc), field=name) from exc


async def members(ctx: Ctx) -> web.StreamResponse:
    people = await ctx.services.users.members(ctx.org_id)
    pending = await ctx.services.invitations.pending_in_org(ctx.org_id)
    data = {
        "members": [
            {
                "user_id": m.user_id,
                "email": m.email,
                "name": m.display_name,
                "role": m.role,
                "totp": m.has_totp,
                "disabled": m.disabled or m.account_disabled,
            }
            for m in people
        ],
        "invitations": [invitation_json(i) for i in pending],
    }
    if ctx.api:
        return respond(ctx, data, lambda: web.Response())
    can_write = ctx.principal.can(Permission.USERS_WRITE)
    rows = []
    for m in people:
        actions = Html("")
        if can_write:
            switch = "enable" if m.disabled else "disable"
            own_row = m.user_id == ctx.actor.user_id
            actions = h(
                "{role}{switch}{remove}",
                role=form(
                    ctx,
                    f"/team/{m.user_id}/role",
                    h(
                        '{s}<button type="submit">Set role</button>',
                        s=select("role", ROLE_CHOICES, m.role, aria_label=f"Role of {m.email}"),
                    ),
                    cls="inline",
                ),
                switch=Html("")
                if own_row
                else button_form(
                    ctx,
                    f"/team/{m.user_id}/{switch}",
                    switch.capitalize(),
                    confirm=""
                    if m.disabled
                    else f"Disable {m.email}? They lose access to this organisation until enabled.",
                ),
                remove=button_form(
                    ctx,
                    f"/team/{m.user_id}/remove",
                    "Remove",
                    danger=True,
                    confirm=f"Remove {m.email} from this organisation?",
                ),
            )
        rows.append(
            h(
                "<tr><td>{e}</td><td>{r}</td><td>{t}</td><td>{st}</td><td>{a}</td></tr>",
                e=m.email,
                r=m.role,
                t="on" if m.has_totp else "off",
                st="disabled" if m.disabled or m.account_disabled else "active",
                a=actions,
            )
        )
    add = Html("")
    if can_write:
        add = h(
            "<h2>Invite someone</h2>{f}",
            f=form(
                ctx,
                "/team",
                join(
                    [
                        field("E-mail", text_input("email", type="email", required=True)),
                        field("Role", select("role", ROLE_CHOICES, "viewer")),
                        Html('<button type="submit">Invite</button>'),
                    ]
                ),
                cls="stack",
            ),
        )
    body = h(
        "{t}{p}{add}",
        t=table(["E-mail", "Role", "Two-step", "Status", ""], rows),
        p=pending_table(ctx, pending, can_write),
        add=add,
    )
    return page(ctx, "Team", body)


async def add_member(ctx: Ctx) -> web.StreamResponse:
    """Invite an address: the answer is the same whether or not it has an account."""
    data = await ctx.input()
    if "password" in data and ctx.api:
        raise UserError(
            "password: people now join by invitation and choose their own password through the "
            "invitation link; send only email and role.",
            field="password",
        )
    role = _role(data.get("role", ""))
    try:
        issued = await ctx.services.invitations.invite(
            ctx.actor, ctx.principal.role, ctx.org_id, str(data.get("email", "")), role
        )
    except TeamError as exc:
        raise UserError(str(exc), field="email") from exc
    link = link_for(ctx.request, issued.token)
    result = {
        "invitation_id": issued.id,
        "status": "pending",
        "role": role.value,
        "expires_at": issued.expires_at,
        "invitation_url": link,
    }
    if ctx.api:
        return web.json_response(result, status=201)
    body = h(
        "<p>The invitation waits for an answer until {x}. Whoever the address belongs to "
        "accepts it through this link (choosing a password if they have no account yet), or "
        "under Account if they sign in. <strong>Hand it to them now</strong>: it is not shown "
        "again.</p>"
        '<p><code id="invitation-link" class="secret">{l}</code></p>'
        '<p><a href="/team">Back to the team</a></p>',
        x=issued.expires_at[:10],
        l=link,
    )
    return page(ctx, "Invitation sent", body, status=201)


async def set_role(ctx: Ctx) -> web.StreamResponse:
    user_id = ctx.match_int("user_id")
    data = await ctx.input()
    try:
        await ctx.services.directory.change_role(
            ctx.actor, ctx.principal.role, ctx.org_id, user_id, _role(data.get("role", ""))
        )
    except TeamError as exc:
        if "no such member" in str(exc):
            raise Missing("This member") from exc
        raise UserError(str(exc)) from exc
    return done(ctx, {"ok": True}, "/team")


async def remove_member(ctx: Ctx) -> web.StreamResponse:
    user_id = ctx.match_int("user_id")
    try:
        await ctx.services.directory.remove_member(
            ctx.actor, ctx.principal.role, ctx.org_id, user_id
        )
    except TeamError as exc:
        if "no such member" in str(exc):
            raise Missing("This member") from exc
        raise UserError(str(exc)) from exc
    return done(ctx, {"ok": True}, "/team", notice="deleted")


async def _set_disabled(ctx: Ctx, disabled: bool) -> web.StreamResponse:
    user_id = ctx.match_int("user_id")
    try:
        await ctx.services.directory.set_disabled(
            ctx.actor, ctx.principal.role, ctx.org_id, user_id, disabled
        )
    except TeamError as exc:
        if "no such member" in str(exc):
            raise Missing("This member") from exc
        raise UserError(str(exc)) from exc
    return done(ctx, {"ok": True, "disabled": disabled}, "/team")


async def disable_member(ctx: Ctx) -> web.StreamResponse:
    return await _set_disabled(ctx, True)


async def enable_member(ctx: Ctx) -> web.StreamResponse:
    return await _set_disabled(ctx, False)


async def tokens(ctx: Ctx) -> web.StreamResponse:
    rows = await ctx.services.tokens.list(ctx.org_id)
    data = {
        "tokens": [
            {
                "id": t.id,
                "name": t.name,
                "role": t.role,
                "issuer_id": t.user_id,
                "last_four": t.last_four,
                "created_at": t.created_at,
                "last_used_at": t.last_used_at,
                "revoked_at": t.revoked_at,
            }
            for t in rows
        ]
    }
    if ctx.api:
        return respond(ctx, data, lambda: web.Response())
    table_rows = [
        h(
            "<tr><td>{n}</td><td>{r}</td><td><code>…{l}</code></td><td>{c}</td><td>{u}</td>"
            "<td>{a}</td></tr>",
            n=t.name,
            r=t.role,
            l=t.last_four,
            c=t.created_at[:10],
            u=(t.last_used_at or "never")[:16],
            a="revoked"
            if t.revoked_at
            else button_form(
                ctx,
                f"/tokens/{t.id}/revoke",
                "Revoke",
                danger=True,
                confirm=f"Revoke token {t.name}? Scripts using it will stop working.",
            ),
        )
        for t in rows
    ]
    choices = [(r.value, r.value) for r in Role if ctx.principal.role.at_least(r)]
    body = h(
        "{t}<h2>New token</h2>{f}",
        t=table(
            ["Name", "Role", "Ends with", "Created", "Last used", ""], table_rows, "No API tokens."
        ),
        f=form(
            ctx,
            "/tokens",
            join(
                [
                    field("Name", text_input("name", required=True, maxlength=100)),
                    field("Role", select("role", choices, "viewer")),
                    Html('<button type="submit">Create token</button>'),
                ]
            ),
            cls="stack",
        ),
    )
    return page(ctx, "API tokens", body)


async def create_token(ctx: Ctx) -> web.StreamResponse:
    data = await ctx.input()
    name = str(data.get("name", "")).strip()
    if not name or len(name) > 100:
        raise UserError("A token needs a name of at most 100 characters.", field="name")
    role = _role(data.get("role", ""))
    if not ctx.principal.role.at_least(role) or not may_grant(ctx.principal.role, role):
        raise UserError(
            f"You cannot create a token with the {role.value} role.", field="role", status=403
        )
    # A token made with a token is issued by the same person: it is bound by their role too.
    issued = await ctx.services.tokens.issue(
        org_id=ctx.org_id, user_id=ctx.actor.user_id, name=name, role=role
    )
    await ctx.record("token.create", f"token:{issued.id}", name=name, role=role.value)
    result = {"id": issued.id, "token": issued.token, "last_four": issued.last_four}
    if ctx.api:
        return web.json_response(result, status=201)
    body = h(
        "<p><strong>Copy this token now.</strong> It will not be shown again.</p>"
        '<p><code id="new-token" class="secret">{t}</code></p>'
        "<p>Send it as <code>Authorization: Bearer …</code> to <code>/api/v1/…</code>.</p>"
        '<p><a href="/tokens">Back to tokens</a></p>',
        t=issued.token,
    )
    return page(ctx, "New API token", body, status=201)


async def revoke_token(ctx: Ctx) -> web.StreamResponse:
    token_id = ctx.match_int("token_id")
    if not await ctx.services.tokens.revoke(ctx.org_id, token_id):
        raise Missing("This token")
    await ctx.record("token.revoke", f"token:{token_id}")
    return done(ctx, {"ok": True}, "/tokens", notice="revoked")


_ROLE_BODY = {
    "type": "object",
    "required": ["role"],
    "properties": {"role": {"enum": [r.value for r in Role]}},
}

ROUTES = [
    Route("GET", "/team", members, Permission.USERS_READ, "Members of the org and their roles"),
    Route(
        "POST",
        "/team",
        add_member,
        Permission.USERS_WRITE,
        "Invite an address to join with a role (the same answer whether or not it has an"
        " account; it joins when it accepts)",
        body={
            "type": "object",
            "required": ["email", "role"],
            "properties": {
                "email": {"type": "string"},
                "role": {"enum": [r.value for r in Role]},
            },
        },
    ),
    Route(
        "POST",
        "/team/{user_id}/role",
        set_role,
        Permission.USERS_WRITE,
        "Change a role",
        body=_ROLE_BODY,
    ),
    Route(
        "POST",
        "/team/{user_id}/remove",
        remove_member,
        Permission.USERS_WRITE,
        "Remove a member from the org",
    ),
    Route(
        "POST",
        "/team/{user_id}/disable",
        disable_member,
        Permission.USERS_WRITE,
        "Disable a member: no access to the org (sessions end, tokens revoked) until enabled",
    ),
    Route(
        "POST",
        "/team/{user_id}/enable",
        enable_member,
        Permission.USERS_WRITE,
        "Enable a disabled member again",
    ),
    Route("GET", "/tokens", tokens, Permission.TOKENS_MANAGE, "API tokens of the org"),
    Route(
        "POST",
        "/tokens",
        create_token,
        Permission.TOKENS_MANAGE,
        "Create an API token (returned once)",
        body={
            "type": "object",
            "required": ["name", "role"],
            "properties": {
                "name": {"type": "string", "maxLength": 100},
                "role": {"enum": [r.value for r in Role]},
            },
        },
    ),
    Route(
        "POST",
        "/tokens/{token_id}/revoke",
        revoke_token,
        Permission.TOKENS_MANAGE,
        "Revoke an API token",
    ),
]
