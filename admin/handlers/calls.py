"""The calls browser: the filtered list, a call's page (timeline, notes) and its recording."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from admin.errors import Missing, UserError
from admin.html import Html, attrs, h, join
from admin.routing import Ctx, Route
from admin.views import done, field, form, page, respond, select, table, text_input, textarea
from callwright.accounts.roles import Permission
from callwright.store.call_search import (
    CALL_STATUSES,
    CallFilter,
    CallSummary,
    Cursor,
    SearchError,
)
from callwright.store.clock import ms_between, utc_now_iso

MAX_NOTE = 4000
_FILTER_KEYS = ("since", "until", "number", "caller", "assistant", "status", "q")


def _int_or_none(value: str, name: str) -> int | None:
    if not value:
        return None
    if not value.isdigit() or len(value) > 18:
        raise UserError(f"{name}: expected an id", field=name)
    return int(value)


def _until_exclusive(value: str) -> str | None:
    """A date from the form (``2026-11-22``) means "up to the end of that day"."""
    if not value:
        return None
    if len(value) == 10:
        try:
            return (date.fromisoformat(value) + timedelta(days=1)).isoformat()
        except ValueError:
            raise UserError("until: expected a date like 2026-11-22", field="until") from None
    return value


def parse_filter(query: Any) -> CallFilter:
    try:
        return CallFilter(
            since=query.get("since") or None,
            until=_until_exclusive(query.get("until", "")),
            number_id=_int_or_none(query.get("number", ""), "number"),
            caller=query.get("caller") or None,
            assistant_id=_int_or_none(query.get("assistant", ""), "assistant"),
            status=query.get("status") or None,
            text=(query.get("q") or "").strip() or None,
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


def call_row(call: CallSummary) -> Html:
    return h(
        '<tr><td><a href="/calls/{uid}">{started}</a></td><td>{caller}</td><td>{dialed}</td>'
        "<td>{assistant}</td><td>{status}</td><td>{dur}</td><td>{rec}</td></tr>",
        uid=call.uid,
        started=call.started_at[:19].replace("T", " "),
        caller=call.caller_name or call.caller_number or "unknown",
        dialed=call.dialed,
        assistant=call.assistant_name or "",
        status=status_badge(call.status),
        dur=duration(call.duration_ms),
        rec="●" if call.has_recording else "",
    )


CALL_HEADERS = ["Started (UTC)", "Caller", "Dialed", "Assistant", "Status", "Length", "Rec."]


async def list_calls(ctx: Ctx) -> web.StreamResponse:
    query = ctx.request.query
    flt = parse_filter(query)
    cursor = None
    if query.get("cursor"):
        try:
            cursor = Cursor.decode(query["cursor"])
        except SearchError as exc:
            raise UserError(str(exc), field="cursor") from exc
    limit_text = query.get("limit", "50")
    limit = int(limit_text) if limit_text.isdigit() else 50
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


def _offset(call_start: str, at: str | None) -> str:
    if not at:
        return ""
    try:
        ms = ms_between(call_start, at)
    except ValueError:
        return ""
    return f"+{ms / 1000:.1f}s"


def _latencies(turn: dict[str, Any]) -> Html:
    parts = []
    for key, label in (
        ("stt_ms", "STT"),
        ("dialog_ms", "dialog"),
        ("tts_ms", "TTS"),
        ("first_frame_ms", "first frame"),
    ):
        if turn.get(key) is not None:
            parts.append(h("<span>{l} {v} ms</span>", l=label, v=turn[key]))
    return h('<div class="latency">{p}</div>', p=join(parts)) if parts else Html("")


def _tool_calls(meta: dict[str, Any]) -> Html:
    calls = meta.get("tool_calls") or []
    if not isinstance(calls, list) or not calls:
        return Html("")
    items = []
    for call in calls:
        if isinstance(call, dict):
            items.append(
                h(
                    "<li><code>{n}</code> {a} {r}</li>",
                    n=call.get("name", "?"),
                    a=str(call.get("arguments", ""))[:300],
                    r=("→ " + str(call.get("result", ""))[:300]) if "result" in call else "",
                )
            )
    return h('<ul class="tools" aria-label="Tool calls">{i}</ul>', i=join(items))


def timeline(
    detail_call: dict[str, Any], turns: list[dict[str, Any]], events: list[dict[str, Any]]
) -> Html:
    start = detail_call["started_at"]
    entries: list[tuple[str, int, Html]] = []
    for turn in turns:
        meta = turn.get("meta") or {}
        error = meta.get("error") if isinstance(meta, dict) else None
        entries.append(
            (
                turn["started_at"],
                1,
                h(
                    '<li class="turn {speaker}"><span class="when">{when}</span>'
                    '<span class="who">{speaker}</span><p>{text}{cut}</p>{lat}{tools}{err}</li>',
                    speaker=turn["speaker"],
                    when=_offset(start, turn["started_at"]),
                    text=turn["text"],
                    cut=Html(' <em class="cut">(interrupted)</em>')
                    if turn.get("interrupted")
                    else "",
                    lat=_latencies(turn),
                    tools=_tool_calls(meta) if isinstance(meta, dict) else "",
                    err=h('<p class="error">Error: {e}</p>', e=error) if error else "",
                ),
            )
        )
    for event in events:
        detail = event.get("detail") or {}
        is_error = event["kind"] == "error" or (isinstance(detail, dict) and "error" in detail)
        entries.append(
            (
                event["at"],
                0,
                h(
                    '<li class="event{bad}"><span class="when">{when}</span>'
                    '<span class="who">{kind}</span><p>{detail}</p></li>',
                    bad=" error" if is_error else "",
                    when=_offset(start, event["at"]),
                    kind=event["kind"].replace("_", " "),
                    detail=", ".join(f"{k}: {v}" for k, v in detail.items())
                    if isinstance(detail, dict)
                    else str(detail),
                ),
            )
        )
    entries.sort(key=lambda e: (e[0], e[1]))
    if not entries:
        return Html('<p class="empty">No transcript for this call.</p>')
    return h('<ol class="timeline">{e}</ol>', e=join(e[2] for e in entries))


def _public_call(call: dict[str, Any]) -> dict[str, Any]:
    hidden = {"id", "recording_path", "recording_key_id", "org_id"}
    data = {k: v for k, v in call.items() if k not in hidden}
    data["has_recording"] = call.get("recording_path") is not None
    return data


async def call_page(ctx: Ctx) -> web.StreamResponse:
    uid = ctx.match("uid")
    detail = await ctx.services.calls.call_detail(ctx.org_id, uid)
    if detail is None:
        raise Missing("This call")
    call = detail.call
    can_listen = ctx.principal.can(Permission.RECORDINGS_LISTEN)
    has_recording = call.get("recording_path") is not None
    recording_url = f"/calls/{uid}/recording" if has_recording and can_listen else None
    data = {
        "call": _public_call(call),
        "turns": detail.turns,
        "events": detail.events,
        "notes": detail.notes,
        "recording_url": ("/api/v1" + recording_url) if recording_url else None,
    }
    if ctx.api:
        return respond(ctx, data, lambda: web.Response())
    meta_rows = [
        ("Status", status_badge(call["status"])),
        ("Started (UTC)", call["started_at"]),
        ("Answered", call.get("answered_at") or ""),
        ("Ended", call.get("ended_at") or ""),
        ("Length", duration(call.get("duration_ms"))),
        ("Caller", f"{call['caller_name']} {call['caller_number']}".strip()),
        ("Dialed", call["dialed"]),
        ("Number", call.get("number") or ""),
        ("Assistant", call.get("assistant_name") or ""),
        ("Direction", call["direction"]),
        ("End reason", call["end_reason"]),
        ("Legal hold", "yes" if call["legal_hold"] else "no"),
    ]
    meta = h(
        '<dl class="meta">{d}</dl>',
        d=join(h("<div><dt>{k}</dt><dd>{v}</dd></div>", k=k, v=v) for k, v in meta_rows),
    )
    if recording_url:
        audio = h(
            '<section><h2>Recording</h2><audio controls preload="metadata"{a}></audio>'
            '<p class="hint">Stereo: caller left, assistant right.</p></section>',
            a=attrs(src=recording_url, id="recording"),
        )
    elif has_recording:
        audio = Html(
            '<section><h2>Recording</h2><p class="hint">Your role may not hear '
            "recordings.</p></section>"
        )
    else:
        audio = Html("")
    notes = join(
        h(
            "<li><p>{b}</p><small>{who}, {at}</small></li>",
            b=n["body"],
            who=n.get("author") or "deleted user",
            at=n["created_at"][:16].replace("T", " "),
        )
        for n in detail.notes
    )
    note_form = Html("")
    if ctx.principal.can(Permission.CALLS_NOTE) and ctx.principal.user is not None:
        note_form = form(
            ctx,
            f"/calls/{uid}/notes",
            h(
                '{f}<button type="submit">Add note</button>',
                f=field(
                    "New note", textarea("body", "", rows=3, required=True, maxlength=MAX_NOTE)
                ),
            ),
            cls="stack",
        )
    body = h(
        '<p><a href="/calls">← All calls</a></p>{meta}{audio}<section><h2>Timeline</h2>{tl}'
        '</section><section><h2>Notes</h2><ul class="notes">{notes}</ul>{nf}</section>',
        meta=meta,
        audio=audio,
        tl=timeline(call, detail.turns, detail.events),
        notes=notes,
        nf=note_form,
    )
    return page(ctx, f"Call {call['caller_number'] or uid}", body)


async def add_note(ctx: Ctx) -> web.StreamResponse:
    uid = ctx.match("uid")
    data = await ctx.input()
    body = str(data.get("body", "")).strip()
    if not body:
        raise UserError("A note cannot be empty.", field="body")
    if len(body) > MAX_NOTE:
        raise UserError(f"A note has at most {MAX_NOTE} characters.", field="body")
    note_id = await ctx.services.calls.add_note(
        ctx.org_id, uid, ctx.principal.user_id, body, utc_now_iso()
    )
    if not note_id:
        raise Missing("This call")
    await ctx.record("call.note", f"call:{uid}", note_id=note_id)
    return done(ctx, {"id": note_id}, f"/calls/{uid}", notice="added", status=201)


ROUTES = [
    Route(
        "GET",
        "/calls",
        list_calls,
        Permission.CALLS_READ,
        "List calls (filters, keyset pages)",
        query=("since", "until", "number", "caller", "assistant", "status", "q", "cursor", "limit"),
    ),
    Route(
        "GET",
        "/calls/{uid}",
        call_page,
        Permission.CALLS_READ,
        "A call: metadata, transcript timeline, events, notes",
    ),
    Route(
        "POST",
        "/calls/{uid}/notes",
        add_note,
        Permission.CALLS_NOTE,
        "Add a note to a call",
        body={
            "type": "object",
            "required": ["body"],
            "properties": {"body": {"type": "string", "maxLength": MAX_NOTE}},
        },
    ),
]
