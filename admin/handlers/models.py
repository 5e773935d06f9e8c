"""Speech models (owners): the known models with their state, a Download button for those not
on this server, and the progress of downloads (``/static/models.js`` polls it; without script the
page shows it when reloaded)."""

from __future__ import annotations

from aiohttp import web

from admin.errors import UserError
from admin.forms import text
from admin.html import Html, h
from admin.model_downloads import MODEL_DOWNLOADS, UnknownModel
from admin.routing import Ctx, Route
from admin.views import done, form, page, respond, table
from callwright.accounts.roles import Permission


def _size(n: int | None) -> str:
    return "size unknown" if n is None else f"{n / 1_000_000:.1f} MB"


async def list_models(ctx: Ctx) -> web.StreamResponse:
    downloads = ctx.request.app[MODEL_DOWNLOADS]
    entries = await downloads.entries()
    states = [await downloads.status(entry.name) for entry in entries]
    if ctx.api:
        return respond(ctx, {"models": states}, web.Response)
    rows = []
    for entry, state in zip(entries, states, strict=True):
        action: Html = Html("")
        if state["state"] in ("missing", "failed"):
            action = form(ctx, "/models/download", h(
                '<input type="hidden" name="name" value="{n}"><button type="submit">Download'
                "</button>", n=entry.name), cls="inline")
        progress = Html("")
        if state["state"] == "running":
            progress = h('<progress{v} max="{m}"></progress> {b}',
                         v=Html(f' value="{state["bytes"]}"') if state["total"] else "",
                         m=state["total"] or 1, b=_size(state["bytes"]))
        rows.append(h(
            '<tr data-model="{n}" data-state="{s}"><td>{n}</td><td>{k}</td><td>{lang}</td>'
            '<td>{d}</td><td class="model-state">{s}{err}{p}</td><td>{a}</td></tr>',
            n=entry.name, k=entry.kind, lang=entry.language, d=entry.description, s=state["state"],
            err=h(': {e}', e=state["error"]) if state["state"] == "failed" else "",
            p=progress, a=action,
        ))
    body = h(
        '<p class="hint">Models from voice_models/manifest.json. A download resumes where it '
        "stopped and is checked before it is installed; the assistant form offers it once "
        "installed.</p>{t}<script src=\"/static/models.js\" defer></script>",
        t=table(["Model", "Kind", "Language", "What", "State", ""], rows, "No known models."),
    )
    return page(ctx, "Speech models", body)


async def start_download(ctx: Ctx) -> web.StreamResponse:
    name = text(await ctx.input(), "name", max_len=200)
    try:
        await ctx.request.app[MODEL_DOWNLOADS].start(name)
    except UnknownModel as exc:
        raise UserError(str(exc), status=404 if "not a known" in str(exc) else 400) from exc
    await ctx.record("model.download", f"model:{name}")
    return done(ctx, await ctx.request.app[MODEL_DOWNLOADS].status(name), "/models",
                notice="saved", status=202)


async def download_status(ctx: Ctx) -> web.StreamResponse:
    try:
        state = await ctx.request.app[MODEL_DOWNLOADS].status(
            ctx.request.query.get("name", "")[:200])
    except UnknownModel as exc:
        raise UserError(str(exc), status=404) from exc
    return respond(ctx, state, web.Response)


ROUTES = [
    Route("GET", "/models", list_models, Permission.ORG_SETTINGS, "Speech models and downloads"),
    Route("POST", "/models/download", start_download, Permission.ORG_SETTINGS,
          "Download a known speech model (in the background)",
          body={"type": "object", "properties": {"name": {"type": "string"}},
                "required": ["name"]}),
    Route("GET", "/models/download", download_status, Permission.ORG_SETTINGS,
          "A model download's progress", page=False, query=("name",)),
]
