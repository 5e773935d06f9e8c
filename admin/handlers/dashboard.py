"""The dashboard: calls in progress (refreshed live by admin.js), today's calls, failures.

The calls in progress are read from the store, so every call node's calls are listed (issue 13:
several nodes share one store), each with the node that took it and the PBX it came from; an
admin process holds no call state of its own and any number of them can serve this page.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from aiohttp import web

from admin.handlers.calls import CALL_HEADERS, LIVE_HEADERS, call_row
from admin.html import Html, h, join
from admin.routing import Ctx, Route
from admin.views import page, respond, table
from callwright.accounts.roles import Permission
from callwright.store.call_stats import CallStatsRepository
from callwright.store.clock import utc_now_iso


async def dashboard(ctx: Ctx) -> web.StreamResponse:
    today = utc_now_iso()[:10]
    calls = ctx.services.calls
    live = await calls.in_progress(ctx.org_id)
    # today's calls: those stored plus those retention deleted (kept as anonymous totals, 0022)
    tomorrow = (date.fromisoformat(today) + timedelta(days=1)).isoformat()
    counts = await calls.status_counts_since(ctx.org_id, today)
    deleted = await CallStatsRepository(ctx.services.db).deleted_by_status(
        ctx.org_id, today, tomorrow)
    counts = {k: counts.get(k, 0) + deleted.get(k, 0) for k in {*counts, *deleted}}
    failures = await calls.recent_failures(ctx.org_id, today)
    data: dict[str, Any] = {
        "in_progress": [c.to_json() for c in live],
        "today": {"date": today, "total": sum(counts.values()), "by_status": counts},
        "failures": [c.to_json() for c in failures],
    }
    if ctx.api:
        return respond(ctx, data, lambda: web.Response())
    counts = data["today"]["by_status"]
    tiles = join(
        h(
            '<div class="tile"><span class="n" data-count="{k}">{n}</span>'
            "<span>{label}</span></div>",
            k=key,
            n=value,
            label=label,
        )
        for key, value, label in (
            ("in_progress", len(live), "in progress"),
            ("total", data["today"]["total"], "calls today"),
            ("completed", counts.get("completed", 0), "completed"),
            ("failed", counts.get("failed", 0), "failed"),
        )
    )
    setup = Html("")
    if ctx.principal.can(Permission.ORG_SETTINGS):  # first run: offered; later: a link
        first = not await ctx.services.assistants.list(ctx.org_id)
        setup = h('<p class="{c}"><a href="/setup">{t}</a></p>',
                  c="flash ok" if first else "hint",
                  t="New here? Set up Callwright: connect the PBX, make a first assistant →"
                  if first else "Setup wizard: PBX connection, templates, checks")
    body = h(
        '{setup}<section class="tiles" aria-live="polite">{tiles}</section>'
        '<section><h2>In progress <small class="hint">live</small></h2>'
        '<div id="live-calls" data-poll="/api/v1/dashboard">{live}</div></section>'
        "<section><h2>Failures today</h2>{failures}</section>"
        '<p><a href="/calls?since={today}">All of today\'s calls →</a>'
        ' · <a href="/stats">Call statistics by day →</a></p>',
        tiles=tiles,
        live=table(LIVE_HEADERS, [call_row(c, where=True) for c in live],
                   "No calls in progress."),
        failures=table(CALL_HEADERS, [call_row(c) for c in failures], "No failed calls today."),
        today=today,
        setup=setup,
    )
    return page(ctx, "Dashboard", body)


ROUTES = [
    Route("GET", "/", dashboard, Permission.CALLS_READ, "Dashboard", api=False),
    Route(
        "GET",
        "/dashboard",
        dashboard,
        Permission.CALLS_READ,
        "Calls in progress, today's counts by status, today's failures",
        page=False,
    ),
]
