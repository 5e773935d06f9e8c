"""Consent on the call, per org (issue 12, item 1): the consent notice a recorded call opens with
when its assistant has none of its own, and the privacy notice a caller hears on the notice key
(``[recordings] notice_digit``, 0 by default). The opt-out key is ``[recordings] optout_digit``.
Owners (the org's settings permission); audited as ``org.consent`` with the lengths sent."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from admin.errors import UserError
from admin.forms import user_errors
from admin.html import h, join
from admin.routing import Ctx, Route
from admin.views import done, field, form, page, respond, textarea
from callwright.accounts.roles import Permission
from callwright.store.orgs import MAX_NOTICE

FIELDS = ("consent_prompt", "privacy_notice")


async def show(ctx: Ctx) -> web.StreamResponse:
    org = await ctx.services.orgs.get(ctx.org_id)
    data = {"consent_prompt": org.consent_prompt, "privacy_notice": org.privacy_notice}
    if ctx.api:
        return respond(ctx, data, web.Response)
    body = form(ctx, "/org/consent", join([
        field("Consent notice", textarea("consent_prompt", org.consent_prompt, rows=3,
                                         maxlength=MAX_NOTICE),
              "Said before anything else on every recorded call whose assistant has no consent "
              "prompt of its own; the recording starts with it. Tell callers how to refuse: "
              "the opt-out key stops and deletes the recording, as does saying "
              "“don't record”."),
        field("Privacy notice", textarea("privacy_notice", org.privacy_notice, rows=5,
                                         maxlength=MAX_NOTICE),
              "Said when a caller presses the privacy-notice key during a recorded call "
              "(empty: the key does nothing)."),
        h('<button type="submit">Save</button>'),
    ]), cls="stack")
    return page(ctx, "Consent on calls", body)


async def save(ctx: Ctx) -> web.StreamResponse:
    """The form sends both texts; an API body changes only the keys it has."""
    data = await ctx.input()
    sent: dict[str, str] = {}
    for key in FIELDS:
        if key in data or not ctx.api:
            value: Any = data.get(key, "")
            if not isinstance(value, str):
                raise UserError(f"'{key}' is text.", field=key)
            sent[key] = value
    with user_errors(next(iter(sent), None)):
        org = await ctx.services.orgs.update(
            ctx.org_id, consent_prompt=sent.get("consent_prompt"),
            privacy_notice=sent.get("privacy_notice"))
    if sent:
        await ctx.record("org.consent", f"org:{ctx.org_id}",
                         **{key: len(value.strip()) for key, value in sent.items()})
    return done(ctx, {"consent_prompt": org.consent_prompt,
                      "privacy_notice": org.privacy_notice}, "/org/consent")


ROUTES = [
    Route("GET", "/org/consent", show, Permission.ORG_SETTINGS,
          "The org's consent notice and privacy notice spoken on calls"),
    Route("POST", "/org/consent", save, Permission.ORG_SETTINGS,
          "Change the org's consent notice or privacy notice (API: only the keys sent)",
          body={"type": "object", "properties": {
              "consent_prompt": {"type": "string", "maxLength": MAX_NOTICE},
              "privacy_notice": {"type": "string", "maxLength": MAX_NOTICE}}}),
]
