"""A call's page: its metadata, the transcript timeline with latencies, tool calls and events,
the notes, and the player of its recording."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from admin.errors import Missing, UserError
from admin.event_words import event_words
from admin.handlers import call_restrictions as restricting
from admin.handlers.calls import duration, status_badge
from admin.handlers.legal_holds import as_json, hold_controls, hold_summary, holds_of_call
from admin.html import Html, attrs, h, join
from admin.routing import Ctx, Route
from admin.views import done, field, form, page, respond, textarea
from callwright.accounts.roles import Permission
from callwright.store.clock import ms_between, utc_now_iso

MAX_NOTE = 4000


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
                    '<span class="who" title="{name}">{kind}</span><p>{detail}</p></li>',
                    bad=" error" if is_error else "",
                    when=_offset(start, event["at"]),
                    kind=event_words(event["kind"]),
                    name=event["kind"],
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
    await ctx.record("call.view", f"call:{uid}", api=ctx.api)  # a read of personal data
    call = detail.call
    can_listen = ctx.principal.can(Permission.RECORDINGS_LISTEN)
    has_recording = call.get("recording_path") is not None
    recording_url = f"/calls/{uid}/recording" if has_recording and can_listen else None
    held_by = await holds_of_call(ctx, int(call["id"]))
    restricted = await restricting.repo(ctx).for_call(ctx.org_id, int(call["id"]))
    if restricted is not None and restricted.recording:
        recording_url = None  # a restricted recording is not played
    shown = await restricting.may_reveal(ctx, uid, restricted)
    turns = detail.turns if shown else []
    data: dict[str, Any] = {
        "call": _public_call(call),
        "turns": turns,
        "events": detail.events,
        "notes": detail.notes,
        "recording_url": ("/api/v1" + recording_url) if recording_url else None,
        "legal_holds": [as_json(x) for x in held_by],
        "restriction": restricting.as_json(restricted) if restricted is not None else None,
    }
    if not shown:
        data["transcript_restricted"] = True
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
        ("Node / PBX", " / ".join(p for p in (call.get("node_id"), call.get("pbx")) if p)),
        ("End reason", call["end_reason"]),
        ("Legal hold", hold_summary(held_by)),
        ("Restricted", restricting.summary(restricted)),
    ]
    meta = h(
        '<dl class="meta">{d}</dl>',
        d=join(h("<div><dt>{k}</dt><dd>{v}</dd></div>", k=k, v=v) for k, v in meta_rows),
    )
    if restricted is not None and restricted.recording and has_recording:
        audio = Html(
            '<section><h2>Recording</h2><p class="hint" id="recording-restricted">The recording '
            "of this call is restricted: it cannot be played.</p></section>"
        )
    elif recording_url:
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
        '</section><section><h2>Notes</h2><ul class="notes">{notes}</ul>{nf}</section>{hold}'
        "{restrict}",
        meta=meta,
        audio=audio,
        tl=join([Html("") if shown else restricting.withheld_transcript(ctx, uid),
                 timeline(call, turns, detail.events)]),
        notes=notes,
        nf=note_form,
        hold=hold_controls(ctx, uid, held_by),
        restrict=restricting.controls(ctx, uid, restricted),
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
