"""Assistants: list, create, show, change and delete them (the settings form is in
:mod:`admin.handlers.assistant_form`, the dialog flow editor in :mod:`admin.handlers.flow`)."""

from __future__ import annotations

import json

from aiohttp import web

from admin.errors import Missing
from admin.forms import user_errors
from admin.handlers.assistant_form import (
    TEXT_FIELDS,
    assistant_fields,
    assistant_json,
    merge_media,
    merge_settings,
    settings_form,
)
from admin.handlers.try_it import try_panel
from admin.html import Html, h
from admin.routing import Ctx, Route
from admin.speech_choices import CHOICES
from admin.views import button_form, done, page, respond, table, yes_no
from callwright.accounts.roles import Permission


async def list_assistants(ctx: Ctx) -> web.StreamResponse:
    items = await ctx.services.assistants.list(ctx.org_id)
    if ctx.api:
        return respond(ctx, {"assistants": [assistant_json(a) for a in items]}, web.Response)
    rows = [
        h(
            '<tr><td><a href="/assistants/{id}">{n}</a></td><td>{l}</td><td>{r}</td>'
            "<td>{llm}</td></tr>",
            id=a.id,
            n=a.name,
            l=a.language,
            r=yes_no(a.record_calls),
            llm=yes_no(bool(a.llm.get("enabled"))),
        )
        for a in items
    ]
    new = Html("")
    if ctx.principal.can(Permission.ASSISTANTS_WRITE):
        new = h("<h2>New assistant</h2>{f}", f=await settings_form(ctx, None, "/assistants"))
    body = h("{t}{n}", t=table(["Name", "Language", "Records", "LLM"], rows), n=new)
    return page(ctx, "Assistants", body)


async def create_assistant(ctx: Ctx) -> web.StreamResponse:
    fields = await assistant_fields(ctx, partial=False)
    name = fields.pop("name")
    with user_errors("name"):
        created = await ctx.services.assistants.create(ctx.org_id, name, **fields)
    await ctx.record("assistant.create", f"assistant:{created.id}", name=created.name)
    return done(
        ctx, assistant_json(created), f"/assistants/{created.id}", notice="created", status=201
    )


async def show_assistant(ctx: Ctx) -> web.StreamResponse:
    a = await ctx.services.assistants.get(ctx.org_id, ctx.match_int("assistant_id"))
    if ctx.api:
        return respond(ctx, assistant_json(a), web.Response)
    can_write = ctx.principal.can(Permission.ASSISTANTS_WRITE)
    links = h(
        '<p class="subnav"><a href="/assistants/{id}/flow">Dialog flow</a> · '
        '<a href="/assistants/{id}/knowledge">Knowledge</a> · '
        '<a href="/calls?assistant={id}">Calls</a></p>',
        id=a.id,
    )
    if can_write:
        settings = h("{t}{f}", t=try_panel(ctx, a),
                     f=await settings_form(ctx, a, f"/assistants/{a.id}"))
        delete = button_form(
            ctx,
            f"/assistants/{a.id}/delete",
            "Delete assistant",
            danger=True,
            confirm=f"Delete {a.name}? Its numbers become unassigned.",
        )
    else:
        settings = h(
            "<pre>{j}</pre>", j=json.dumps(assistant_json(a), indent=2, ensure_ascii=False)
        )
        delete = Html("")
    return page(ctx, a.name, h("{l}{s}{d}", l=links, s=settings, d=delete))


async def update_assistant(ctx: Ctx) -> web.StreamResponse:
    assistant_id = ctx.match_int("assistant_id")
    current = await ctx.services.assistants.get(ctx.org_id, assistant_id)
    fields = await assistant_fields(ctx, partial=ctx.api)
    fields = merge_settings(current, fields) if ctx.api else merge_media(current, fields)
    with user_errors():
        updated = await ctx.services.assistants.update(ctx.org_id, assistant_id, **fields)
    await ctx.record("assistant.update", f"assistant:{assistant_id}", fields=sorted(fields))
    return done(ctx, assistant_json(updated), f"/assistants/{assistant_id}")


async def delete_assistant(ctx: Ctx) -> web.StreamResponse:
    assistant_id = ctx.match_int("assistant_id")
    if not await ctx.services.assistants.delete(ctx.org_id, assistant_id):
        raise Missing("This assistant")
    await ctx.record("assistant.delete", f"assistant:{assistant_id}")
    return done(ctx, {"ok": True}, "/assistants", notice="deleted")


_ID = "/assistants/{assistant_id}"
_ASSISTANT_BODY = {
    "type": "object",
    "properties": {
        **{k: {"type": "string"} for k in TEXT_FIELDS},
        "record_calls": {"type": "boolean"},
        "stt": {"type": "object"},
        "tts": {"type": "object"},
        "llm": {"type": "object"},
        "media": {"type": "object"},
        "tools": {"type": "array"},
        "transfer_targets": {"type": "array"},
    },
}

async def llm_model_list(ctx: Ctx) -> web.StreamResponse:
    """The LLM server's models, for the assistant form's model box (asked by the page, so that
    the page itself never waits for that server); [] when it does not answer."""
    return respond(ctx, {"models": await ctx.request.app[CHOICES].llm_models()}, web.Response)


ROUTES = [
    Route("GET", "/assistants", list_assistants, Permission.ASSISTANTS_READ, "List assistants"),
    Route("GET", "/llm-models", llm_model_list, Permission.ASSISTANTS_READ,
          "The models the LLM server lists (kept a minute; [] when it does not answer)",
          page=False),
    Route(
        "POST",
        "/assistants",
        create_assistant,
        Permission.ASSISTANTS_WRITE,
        "Create an assistant",
        body={**_ASSISTANT_BODY, "required": ["name"]},
    ),
    Route("GET", _ID, show_assistant, Permission.ASSISTANTS_READ, "An assistant's settings"),
    Route(
        "POST",
        _ID,
        update_assistant,
        Permission.ASSISTANTS_WRITE,
        "Change an assistant's settings (API: only the fields sent, and in stt, tts, llm and"
        " media only the keys sent; null removes a key)",
        body=_ASSISTANT_BODY,
    ),
    Route(
        "POST",
        _ID + "/delete",
        delete_assistant,
        Permission.ASSISTANTS_WRITE,
        "Delete an assistant",
    ),
]
