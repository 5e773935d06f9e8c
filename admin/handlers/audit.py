"""The audit log, for owners: read-only, newest first, paged by id."""

from __future__ import annotations

from aiohttp import web

from admin.forms import parse_id
from admin.html import Html, h
from admin.routing import Ctx, Route
from admin.views import page, respond, table
from callwright.accounts.roles import Permission


async def audit_log(ctx: Ctx) -> web.StreamResponse:
    before = ctx.request.query.get("before", "")
    before_id = parse_id(before, "before") if before else None
    entries = await ctx.services.audit_log.page(ctx.org_id, before_id, limit=100)
    next_before = entries[-1].id if len(entries) == 100 else None
    data = {"entries": [e.to_json() for e in entries], "next_before": next_before}
    if ctx.api:
        return respond(ctx, data, lambda: web.Response())
    rows = [
        h(
            "<tr><td>{at}</td><td>{actor}</td><td><code>{action}</code></td><td>{target}</td>"
            "<td>{detail}</td><td>{ip}</td></tr>",
            at=e.at[:19].replace("T", " "),
            actor=e.actor,
            action=e.action,
            target=e.target,
            detail=", ".join(f"{k}: {v}" for k, v in e.detail.items()),
            ip=e.ip,
        )
        for e in entries
    ]
    more = (
        h('<p class="pager"><a href="/audit?before={b}">Older →</a></p>', b=next_before)
        if next_before
        else Html("")
    )
    body = h(
        '<p class="hint">Every change, by whom, from where. Nobody can edit this log.</p>{t}{m}',
        t=table(["When (UTC)", "Who", "What", "Target", "Detail", "From"], rows),
        m=more,
    )
    return page(ctx, "Audit log", body)


ROUTES = [
    Route(
        "GET",
        "/audit",
        audit_log,
        Permission.AUDIT_READ,
        "The org's audit log, newest first",
        query=("before",),
    ),
]
