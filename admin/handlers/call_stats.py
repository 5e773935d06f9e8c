"""Call statistics per day: the aggregate retention keeps of deleted calls plus the calls still
stored (:mod:`callwright.store.call_stats`), so the figures of a period do not shrink when
retention deletes its calls. Counts only: no number, name or text."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

from aiohttp import web

from admin.errors import UserError
from admin.forms import parse_id
from admin.handlers.calls import duration
from admin.html import Html, h
from admin.routing import Ctx, Route
from admin.views import page, respond, table
from callwright.accounts.roles import Permission
from callwright.store.call_stats import CallStatsRepository, DayStats
from callwright.store.clock import utc_now

DEFAULT_DAYS = 30
MAX_DAYS = 3660


def _day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{name}: expected a date like 2026-11-22", field=name) from None


def parse_period(query: Mapping[str, str]) -> tuple[date, date]:
    """``since`` and ``until`` (both inclusive days; defaults: the last 30 days to today) as
    (first day, day after the last)."""
    today = utc_now().date()
    until_text, since_text = query.get("until", ""), query.get("since", "")
    until = _day(until_text, "until") if until_text else today
    since = (_day(since_text, "since") if since_text
             else until - timedelta(days=DEFAULT_DAYS - 1))
    if since > until:
        raise UserError("since: must not be after until", field="since")
    if (until - since).days >= MAX_DAYS:
        raise UserError(f"since: at most {MAX_DAYS} days at once", field="since")
    try:
        return since, until + timedelta(days=1)
    except OverflowError:
        raise UserError("until: expected a date like 2026-11-22", field="until") from None


async def call_stats(ctx: Ctx) -> web.StreamResponse:
    since, until = parse_period(ctx.request.query)
    assistant = ctx.request.query.get("assistant", "")
    assistant_id = parse_id(assistant, "assistant") if assistant else None
    stats = await CallStatsRepository(ctx.services.db).period(
        ctx.org_id, since.isoformat(), until.isoformat(), assistant_id)
    data = stats.to_json()

    def render() -> web.Response:
        def row(d: DayStats) -> Html:
            by_status = ", ".join(f"{k} {v}" for k, v in sorted(d.by_status.items()))
            return h("<tr><td>{day}</td><td>{n}</td><td>{s}</td><td>{total}</td>"
                     "<td>{mean}</td><td>{turns}</td></tr>",
                     day=d.day or "Total", n=d.calls, s=by_status,
                     total=duration(d.duration_ms), mean=duration(d.mean_duration_ms),
                     turns=d.turns)
        body = h(
            '<form method="get" class="filters"><label>Since <input type="date" name="since"'
            ' value="{since}"></label> <label>Until <input type="date" name="until"'
            ' value="{until}"></label> <button>Show</button></form>'
            '<p class="hint">Counts of calls by day, including calls retention has deleted'
            " (kept as anonymous totals); test calls left out.</p>{table}",
            since=since.isoformat(), until=(until - timedelta(days=1)).isoformat(),
            table=table(["Day", "Calls", "By status", "Total duration", "Mean duration",
                         "Turns"], [row(d) for d in stats.days] + [row(stats.total)]
                        if stats.days else [], "No calls in this period."),
        )
        return page(ctx, "Call statistics", body)

    return respond(ctx, data, render)


ROUTES = [
    Route("GET", "/stats", call_stats, Permission.CALLS_READ,
          "Calls per day (by status, durations, turns) over since..until, deleted calls included",
          query=("since", "until", "assistant")),
]
