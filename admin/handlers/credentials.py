"""Credentials: secrets stored encrypted, shown only by their last four characters, replaceable
but never readable through the admin or the API."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from admin.errors import Missing
from admin.forms import text, user_errors
from admin.html import Html, h, join
from admin.routing import Ctx, Route
from admin.views import button_form, done, field, form, page, respond, select, table, text_input
from callwright.accounts.roles import Permission
from callwright.store.credentials import KINDS, Credential

MAX_SECRET = 8192


def credential_json(c: Credential) -> dict[str, Any]:
    return {
        "id": c.id,
        "kind": c.kind,
        "name": c.name,
        "last_four": c.last_four,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


def _shown(c: Credential) -> str:
    return f"…{c.last_four}" if c.last_four else "(hidden)"


async def list_credentials(ctx: Ctx) -> web.StreamResponse:
    items = await ctx.services.credentials.list(ctx.org_id)
    if ctx.api:
        return respond(ctx, {"credentials": [credential_json(c) for c in items]}, web.Response)
    rows = [
        h(
            "<tr><td>{n}</td><td>{k}</td><td><code>{s}</code></td><td>{u}</td><td>{r}{d}</td></tr>",
            n=c.name,
            k=c.kind,
            s=_shown(c),
            u=c.updated_at[:16].replace("T", " "),
            r=form(
                ctx,
                f"/credentials/{c.id}/replace",
                h(
                    '<input type="password" name="secret" required autocomplete="off" '
                    'aria-label="New secret for {n}"><button type="submit">Replace</button>',
                    n=c.name,
                ),
                cls="inline",
            ),
            d=button_form(
                ctx,
                f"/credentials/{c.id}/delete",
                "Delete",
                danger=True,
                confirm=f"Delete {c.name}?",
            ),
        )
        for c in items
    ]
    add = form(
        ctx,
        "/credentials",
        join(
            [
                field("Name", text_input("name", required=True, maxlength=100)),
                field("Kind", select("kind", [(k, k.replace("_", " ")) for k in KINDS], "api_key")),
                field(
                    "Secret",
                    text_input("secret", type="password", required=True, autocomplete="off"),
                    hint="Stored encrypted. After saving, only its last four characters are shown.",
                ),
                Html('<button type="submit">Save credential</button>'),
            ]
        ),
        cls="stack",
    )
    body = h(
        "{t}<h2>New credential</h2>{a}",
        t=table(["Name", "Kind", "Secret", "Updated", ""], rows, "No credentials yet."),
        a=add,
    )
    return page(ctx, "Credentials", body)


async def create_credential(ctx: Ctx) -> web.StreamResponse:
    data = await ctx.input()
    name = text(data, "name", max_len=100).strip()
    with user_errors("name"):
        created = await ctx.services.credentials.put(
            ctx.org_id,
            text(data, "kind", max_len=30),
            name,
            text(data, "secret", max_len=MAX_SECRET),
        )
    await ctx.record("credential.create", f"credential:{created.id}", name=name, kind=created.kind)
    return done(ctx, credential_json(created), "/credentials", notice="created", status=201)


async def replace_credential(ctx: Ctx) -> web.StreamResponse:
    current = await ctx.services.credentials.get_by_id(ctx.org_id, ctx.match_int("credential_id"))
    data = await ctx.input()
    with user_errors("secret"):
        updated = await ctx.services.credentials.replace(
            ctx.org_id, current.name, text(data, "secret", max_len=MAX_SECRET)
        )
    await ctx.record("credential.replace", f"credential:{current.id}", name=current.name)
    return done(ctx, credential_json(updated), "/credentials")


async def delete_credential(ctx: Ctx) -> web.StreamResponse:
    current = await ctx.services.credentials.get_by_id(ctx.org_id, ctx.match_int("credential_id"))
    if not await ctx.services.credentials.delete(ctx.org_id, current.name):
        raise Missing("This credential")
    await ctx.record("credential.delete", f"credential:{current.id}", name=current.name)
    return done(ctx, {"ok": True}, "/credentials", notice="deleted")


ROUTES = [
    Route(
        "GET",
        "/credentials",
        list_credentials,
        Permission.CREDENTIALS_READ,
        "List credentials (never the secrets: last four characters only)",
    ),
    Route(
        "POST",
        "/credentials",
        create_credential,
        Permission.CREDENTIALS_WRITE,
        "Store a credential (encrypted)",
        body={
            "type": "object",
            "required": ["name", "kind", "secret"],
            "properties": {
                "name": {"type": "string", "maxLength": 100},
                "kind": {"enum": list(KINDS)},
                "secret": {"type": "string", "writeOnly": True},
            },
        },
    ),
    Route(
        "POST",
        "/credentials/{credential_id}/replace",
        replace_credential,
        Permission.CREDENTIALS_WRITE,
        "Replace a credential's secret",
        body={
            "type": "object",
            "required": ["secret"],
            "properties": {"secret": {"type": "string", "writeOnly": True}},
        },
    ),
    Route(
        "POST",
        "/credentials/{credential_id}/delete",
        delete_credential,
        Permission.CREDENTIALS_WRITE,
        "Delete a credential",
    ),
]
