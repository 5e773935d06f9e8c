"""The calls browser: the filtered list of calls, in keyset pages (a call's own page is in
:mod:`admin.handlers.call_detail`, its recording in :mod:`admin.handlers.recordings`)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from admin.errors import UserError
from admin.forms import parse_id, whole_number
from admin.html import Html, h, join
from admin.routing import Ctx, Route
from admin.views import field, page, respond, select, table, text_input
from callwright.accounts.roles import Permission
from callwright.store.call_search import (
    CALL_STATUSES,
    MAX_PAGE,
    CallFilter,
    CallSummary,
    Cursor,
    SearchError,
)

_FILTER_KEYS = ("since", "until", "number", "caller", "assistant", "status", "q", "tests")


def _id_or_none(value: str, name: str) -> int | None:
    return parse_id(value, name) if value else None


def _until_exclusive(value: str) -> str | None:
    """A date from the form (``2026-11-22``) means "up to the end of that day"."""
    if not value:
        return None
    if len(value) == 10:
        try:
            return (date.fromisoformat(value) + timedelta(days=1)).isoformat()
        except (ValueError, OverflowError):  # not a date, or the last day there is
            raise UserError("until: expected a date like 2026-11-22", field="until") from None
    return value


def parse_filter(query: Any) -> CallFilter:
    try:
        return CallFilter(
            since=query.get("since") or None,
            until=_until_exclusive(query.get("until", "")),
            number_id=_id_or_none(query.get("number", ""), "number"),
            caller=query.get("caller") or None,
            assistant_id=_id_or_none(query.get("assistant", ""), "assistant"),
            status=query.get("status") or None,
            text=(query.get("q") or "").strip() or None,
            include_tests=query.get("tests", "") in ("1", "on", "true"),
        )
    except SearchError as exc:
        raise UserError(str(exc), field=str(exc).split(":", 1)[0]) from exc


def duration(ms: int | None) -> str:
    if ms is None:
        return ""
    seconds = ms // 1000
    return f"{seconds // 60}:{seconds % 60:02d}"


def status_badge(status: str) -> Html:
    return h('<span class="badge status-{s}">{t}</span>', s=status, t=status.replace("_", " "))


def call_row(call: CallSummary, *, where: bool = False) -> Html:
    """A row of a calls table; ``where``: with the node and PBX columns (LIVE_HEADERS)."""
    cells = "<td>{node}</td><td>{pbx}</td>" if where else ""
    return h(
        '<tr><td><a href="/calls/{uid}">{started}</a></td><td>{caller}</td><td>{dialed}</td>'
        "<td>{assistant}</td><td>{status}</td><td>{dur}</td><td>{rec}</td>" + cells + "</tr>",
        uid=call.uid,
        started=call.started_at[:19].replace("T", " "),
        caller=call.caller_name or call.caller_number or "unknown",
        dialed=call.dialed,
        assistant=call.assistant_name or "",
        status=join([status_badge(call.status), h(' <span class="badge">test</span>')
                     if call.direction == "test" else ""]),
        dur=duration(call.duration_ms),
        rec="●" if call.has_recording else "",
        node=call.node_id,
        pbx=call.pbx,
    )


CALL_HEADERS = ["Started (UTC)", "Caller", "Dialed", "Assistant", "Status", "Length", "Rec."]
#: The calls in progress (dashboard): every node's, so which node and PBX each is on.
LIVE_HEADERS = [*CALL_HEADERS, "Node", "PBX"]


async def list_calls(ctx: Ctx) -> web.StreamResponse:
    query = ctx.request.query
    flt = parse_filter(query)
    cursor = None
    if query.get("cursor"):
        try:
            cursor = Cursor.decode(query["cursor"])
        except SearchError as exc:
            raise UserError(str(exc), field="cursor") from exc
    limit = whole_number(query.get("limit") or "50", "limit", lo=1, hi=MAX_PAGE)
    result = await ctx.services.calls.list_calls(ctx.org_id, flt, cursor, limit)
    data = {"calls": [c.to_json() for c in result.calls], "next_cursor": result.next_cursor}

    async def choices() -> tuple[list[tuple[Any, Any]], list[tuple[Any, Any]]]:
        assistants = await ctx.services.assistants.list(ctx.org_id)
        numbers = await ctx.services.numbers.list(ctx.org_id)
        return (
            [("", "any assistant")] + [(a.id, a.name) for a in assistants],
            [("", "any number")] + [(n.id, n.number) for n in numbers],
        )

    if ctx.api:
        return respond(ctx, data, lambda: web.Response())
    assistant_choices, number_choices = await choices()
    filters = h(
        '<form method="get" action="/calls" class="filters">{f}<button type="submit">Filter'
        '</button> <a href="/calls">Clear</a></form>',
        f=join(
            [
                field("From", text_input("since", query.get("since", ""), type="date")),
                field("To", text_input("until", query.get("until", ""), type="date")),
                field("Our number", select("number", number_choices, query.get("number", ""))),
                field("Caller", text_input("caller", query.get("caller", ""), type="search")),
                field(
                    "Assistant", select("assistant", assistant_choices, query.get("assistant", ""))
                ),
                field(
                    "Status",
                    select(
                        "status",
                        [("", "any status")] + [(s, s.replace("_", " ")) for s in CALL_STATUSES],
                        query.get("status", ""),
                    ),
                ),
                field(
                    "Transcript",
                    text_input(
                        "q", query.get("q", ""), type="search", placeholder="words said in the call"
                    ),
                ),
                h('<label class="check"><input type="checkbox" name="tests" value="1"{c}> '
                  "Include test calls</label>",
                  c=Html(" checked") if query.get("tests") else ""),
            ]
        ),
    )
    more = Html("")
    if result.next_cursor:
        kept = {k: query[k] for k in _FILTER_KEYS if query.get(k)}
        kept["cursor"] = result.next_cursor
        more = h(
            '<p class="pager"><a href="/calls?{q}" rel="next">Older calls →</a></p>',
            q=urlencode(kept),
        )
    body = h(
        "{filters}{table}{more}",
        filters=filters,
        table=table(CALL_HEADERS, [call_row(c) for c in result.calls], "No calls match."),
        more=more,
    )
    return page(ctx, "Calls", body)


ROUTES = [
    Route(
        "GET",
        "/calls",
        list_calls,
        Permission.CALLS_READ,
        "List calls (filters, keyset pages)",
        query=("since", "until", "number", "caller", "assistant", "status", "q", "tests", "cursor",
               "limit"),
    ),
]
