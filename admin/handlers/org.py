"""Org security settings (owners): require TOTP for owners and admins; may viewers hear calls;
are the org's call recordings encrypted at rest (with the org's data key; on for new orgs)."""

from __future__ import annotations

from aiohttp import web

from admin.errors import Missing
from admin.html import Html, h, join
from admin.routing import Ctx, Route
from admin.views import done, form, page, respond
from callwright.accounts.roles import Permission


def _flag(value: object) -> bool:
    return value in (True, "on", "true", "1", 1)


async def settings(ctx: Ctx) -> web.StreamResponse:
    org = ctx.principal.org
    encrypt = (await ctx.services.orgs.get(ctx.org_id)).encrypt_recordings
    data = {
        "name": org.name,
        "slug": org.slug,
        "require_totp": org.require_totp,
        "viewers_hear_recordings": org.viewers_hear_recordings,
        "encrypt_recordings": encrypt,
    }
    if ctx.api:
        return respond(ctx, data, lambda: web.Response())
    body = form(
        ctx,
        "/org",
        join(
            [
                h(
                    '<label class="check"><input type="checkbox" name="require_totp"{c}> '
                    "Owners and admins "
                    "must use two-step sign-in</label>",
                    c=Html(" checked") if org.require_totp else "",
                ),
                h(
                    '<label class="check">'
                    '<input type="checkbox" name="viewers_hear_recordings"{c}> '
                    "Viewers may listen to call recordings</label>",
                    c=Html(" checked") if org.viewers_hear_recordings else "",
                ),
                h(
                    '<label class="check">'
                    '<input type="checkbox" name="encrypt_recordings"{c}> '
                    "Encrypt call recordings at rest (applies to new recordings)</label>",
                    c=Html(" checked") if encrypt else "",
                ),
                Html('<button type="submit">Save</button>'),
            ]
        ),
        cls="stack",
    )
    return page(
        ctx, f"Organisation: {org.name}", h("<p>Slug: <code>{s}</code></p>{b}", s=org.slug, b=body)
    )


SETTINGS = ("require_totp", "viewers_hear_recordings", "encrypt_recordings")


async def save(ctx: Ctx) -> web.StreamResponse:
    """Change the settings sent. The page's form sends all of them (an unticked box is off); an
    API body changes only the keys it has, so ``{"viewers_hear_recordings": true}`` leaves the
    two-step requirement as it was."""
    data = await ctx.input()
    if ctx.api:
        sent = {key: data[key] is True for key in SETTINGS if key in data}
    else:
        sent = {key: _flag(data.get(key)) for key in SETTINGS}
    if "require_totp" in sent:
        await ctx.services.orgs.update(ctx.org_id, require_totp=sent["require_totp"])
    if "encrypt_recordings" in sent:
        await ctx.services.orgs.update(ctx.org_id, encrypt_recordings=sent["encrypt_recordings"])
    if "viewers_hear_recordings" in sent:
        await ctx.services.users.set_viewers_hear_recordings(
            ctx.org_id, sent["viewers_hear_recordings"]
        )
    if sent:
        await ctx.record("org.settings", f"org:{ctx.org_id}", **sent)
    now = await ctx.services.users.org_access(ctx.org_id)
    if now is None:
        raise Missing("This organisation")
    return done(
        ctx,
        {
            "require_totp": now.require_totp,
            "viewers_hear_recordings": now.viewers_hear_recordings,
            "encrypt_recordings": (await ctx.services.orgs.get(ctx.org_id)).encrypt_recordings,
        },
        "/org",
    )


ROUTES = [
    Route("GET", "/org", settings, Permission.ORG_SETTINGS, "The org's security settings"),
    Route(
        "POST",
        "/org",
        save,
        Permission.ORG_SETTINGS,
        "Change the org's security settings (API: only the keys sent)",
        body={
            "type": "object",
            "properties": {
                "require_totp": {"type": "boolean"},
                "viewers_hear_recordings": {"type": "boolean"},
                "encrypt_recordings": {"type": "boolean"},
            },
        },
    ),
]
