"""Data-subject requests: the register (received, due in 30 days, status, result) and carrying
each out (:mod:`callwright.privacy.request_actions`). Admins and owners only: a request reaches
all of a caller's data, and erasure cannot be undone.

An export's ZIP is fetched once, through its own link (``/requests/{id}/download/{token}``, valid
for an hour, still behind the sign-in and this page's permission); the link is shown once, when
the export is made.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

from admin.errors import UserError
from admin.forms import text
from admin.html import Html, attrs, h, join
from admin.keys import API_PREFIX
from admin.routing import Ctx, Route
from admin.views import (
    button_form,
    done,
    esc_json,
    field,
    form,
    page,
    respond,
    select,
    table,
    text_input,
    textarea,
)
from callwright.accounts.roles import Permission
from callwright.errors import NotFound
from callwright.privacy.request_actions import (
    MAX_TEXT,
    LinkGone,
    Outcome,
    download_path,
)
from callwright.privacy.requests import KINDS, MAX_NOTE, PrivacyRequest, RequestError
from callwright.store.clock import utc_now_iso

PIECE_BYTES = 256 * 1024
_KIND_LABELS = {
    "export": "Access / export",
    "erase": "Erasure",
    "rectify": "Rectification",
    "restrict": "Restriction of processing",
    "object": "Objection",
}


@contextmanager
def _refusals() -> Iterator[None]:
    try:
        yield
    except LinkGone as exc:
        raise UserError(str(exc), status=410) from exc
    except RequestError as exc:
        raise UserError(str(exc), status=409) from exc
    except ValueError as exc:
        raise UserError(str(exc)) from exc


def _subject(r: PrivacyRequest) -> str:
    return ("call " if r.subject_kind == "call" else "") + r.subject


async def list_requests(ctx: Ctx) -> web.StreamResponse:
    found = await ctx.services.requests.repo.list(ctx.org_id)
    if ctx.api:
        return respond(ctx, {"requests": [r.to_json() for r in found]}, web.Response)
    now = utc_now_iso()
    rows = [
        h(
            '<tr><td><a href="/requests/{id}">#{id}</a></td><td>{k}</td><td>{s}</td>'
            "<td>{rec}</td><td{late}>{due}</td><td>{st}</td></tr>",
            id=r.id,
            k=_KIND_LABELS[r.kind],
            s=_subject(r),
            rec=r.received_at[:10],
            due=r.due_at[:10],
            late=Html(' class="error"') if r.overdue(now) else "",
            st=r.status + (" (overdue)" if r.overdue(now) else ""),
        )
        for r in found
    ]
    new = form(
        ctx,
        "/requests",
        join(
            [
                field("Request", select("kind", [(k, _KIND_LABELS[k]) for k in KINDS], "export")),
                field(
                    "About",
                    select(
                        "subject_kind", [("caller", "A caller number"), ("call", "One call")],
                        "caller",
                    ),
                ),
                field(
                    "Caller number or call uid",
                    text_input("subject", "", required=True, maxlength=64),
                ),
                field(
                    "Date received",
                    text_input("received_at", "", type="date"),
                    "Empty: today. The answer is due 30 days later.",
                ),
                field("Note", textarea("note", "", rows=2, maxlength=MAX_NOTE)),
                Html('<button type="submit">Register request</button>'),
            ]
        ),
        cls="stack",
    )
    body = h(
        "{t}<h2>Register a request</h2>{f}",
        t=table(["#", "Request", "About", "Received", "Due", "Status"], rows,
                "No requests yet."),
        f=new,
    )
    return page(ctx, "Data-subject requests", body)


async def create(ctx: Ctx) -> web.StreamResponse:
    data = await ctx.input()
    with _refusals():
        made = await ctx.services.requests.repo.create(
            ctx.org_id,
            text(data, "kind", max_len=20),
            text(data, "subject_kind", max_len=20, default="caller") or "caller",
            text(data, "subject", max_len=64),
            received_at=text(data, "received_at", max_len=40),
            note=text(data, "note", max_len=MAX_NOTE),
            created_by=ctx.principal.user_id,
        )
    await ctx.record("request.create", f"request:{made.id}", kind=made.kind,
                     subject_kind=made.subject_kind)
    return done(ctx, made.to_json(), f"/requests/{made.id}", notice="created", status=201)


def _link(ctx: Ctx, request_id: int, token: str) -> str:
    return (API_PREFIX if ctx.api else "") + download_path(request_id, token)


def _turn_control(turns: list[dict[str, Any]] | None) -> Html:
    """The call's turns to choose from, or a number to type when the call is not known yet."""
    if not turns:
        return text_input("seq", "", inputmode="numeric")
    choices: list[tuple[Any, Any]] = [("", "(none: correct the name only)")]
    choices += [(t["seq"], f"{t['seq']} · {t['speaker']}: {str(t['text'])[:80]}") for t in turns]
    return select("seq", choices, "")


def _actions(ctx: Ctx, r: PrivacyRequest, turns: list[dict[str, Any]] | None = None) -> Html:
    if r.is_open:
        extra: list[Html] = []
        if r.kind == "rectify":
            extra = [
                Html("<p>Correct a transcript turn (its number and the right text), or the "
                     "caller's name.</p>"),
                field("Call uid", text_input("call", r.subject if r.subject_kind == "call"
                                             else "", maxlength=64),
                      "Needed for a turn when the request is about a caller number."),
                field("Turn (seq)", _turn_control(turns)),
                field("Corrected text", textarea("text", "", rows=2, maxlength=MAX_TEXT)),
                field("Or the caller's corrected name", text_input("caller_name", "",
                                                                   maxlength=200)),
            ]
        label = {"export": "Make the export", "erase": "Erase now",
                 "rectify": "Correct", "restrict": "Restrict processing",
                 "object": "Record the objection"}[r.kind]
        run = form(
            ctx,
            f"/requests/{r.id}/execute",
            join([*extra, h("<button{a}>{l}</button>", a=attrs(
                type="submit", class_="danger" if r.kind == "erase" else None,
                data_confirm="Erase this data? This cannot be undone."
                if r.kind == "erase" else None), l=label)]),
            cls="stack",
        )
        refuse = form(
            ctx,
            f"/requests/{r.id}/refuse",
            join([field("Reason", textarea("reason", "", rows=2, required=True,
                                           maxlength=MAX_TEXT)),
                  Html('<button type="submit">Refuse the request</button>')]),
            cls="stack",
        )
        return h("<h2>Carry it out</h2>{run}<h2>Or refuse it</h2>{refuse}", run=run,
                 refuse=refuse)
    if r.kind == "export" and r.status == "completed":
        return h(
            "<h2>Download</h2><p>{state}</p>{again}",
            state="The export was downloaded." if r.download_used_at
            else f"The download link expires at {r.download_expires_at} (UTC).",
            again=button_form(ctx, f"/requests/{r.id}/prepare",
                              "Prepare the export again (new link)"),
        )
    return Html("")


def _detail(
    ctx: Ctx, r: PrivacyRequest, link: str | None = None,
    turns: list[dict[str, Any]] | None = None,
) -> web.Response:
    rows = [
        ("Request", _KIND_LABELS[r.kind]),
        ("About", _subject(r)),
        ("Received (UTC)", r.received_at),
        ("Due (UTC)", r.due_at),
        ("Status", r.status),
        ("Completed", r.completed_at or ""),
        ("Note", r.note),
    ]
    meta = h('<dl class="meta">{d}</dl>', d=join(
        h("<div><dt>{k}</dt><dd>{v}</dd></div>", k=k, v=v) for k, v in rows))
    shown = Html("")
    if link:
        shown = h(
            '<p class="flash ok" role="status">The export is ready. This link works once and '
            'for an hour: <a{a}>download the ZIP</a></p>',
            a=attrs(href=link, id="download", download=True),
        )
    result = h("<h2>Result</h2><pre>{j}</pre>", j=esc_json(r.result)) if r.result else ""
    body = h(
        '<p><a href="/requests">← All requests</a></p>{shown}{meta}{result}{actions}',
        shown=shown, meta=meta, result=result, actions=_actions(ctx, r, turns),
    )
    return page(ctx, f"Request #{r.id}", body)


async def show(ctx: Ctx) -> web.StreamResponse:
    r = await ctx.services.requests.repo.get(ctx.org_id, ctx.match_int("request_id"))
    turns = None
    if not ctx.api and r.is_open and r.kind == "rectify" and r.subject_kind == "call":
        detail = await ctx.services.calls.call_detail(ctx.org_id, r.subject)
        turns = detail.turns if detail is not None else None
    return respond(ctx, r.to_json(), lambda: _detail(ctx, r, turns=turns))


def _answer(ctx: Ctx, outcome: Outcome) -> web.StreamResponse:
    r = outcome.request
    if outcome.download_token is None:
        return done(ctx, {"request": r.to_json()}, f"/requests/{r.id}")
    link = _link(ctx, r.id, outcome.download_token)
    if ctx.api:
        return web.json_response({"request": r.to_json(), "download_url": link})
    return _detail(ctx, r, link)


async def execute(ctx: Ctx) -> web.StreamResponse:
    request_id = ctx.match_int("request_id")
    data = await ctx.input()
    rectify = {k: data.get(k) for k in ("call", "seq", "text", "caller_name")
               if data.get(k) not in (None, "")}
    with _refusals():
        outcome = await ctx.services.requests.execute(ctx.org_id, request_id, ctx.actor,
                                                      rectify)
    return _answer(ctx, outcome)


async def refuse(ctx: Ctx) -> web.StreamResponse:
    request_id = ctx.match_int("request_id")
    reason = text(await ctx.input(), "reason", max_len=MAX_TEXT)
    with _refusals():
        outcome = await ctx.services.requests.refuse(ctx.org_id, request_id, ctx.actor, reason)
    return _answer(ctx, outcome)


async def prepare(ctx: Ctx) -> web.StreamResponse:
    request_id = ctx.match_int("request_id")
    with _refusals():
        outcome = await ctx.services.requests.prepare_again(ctx.org_id, request_id, ctx.actor)
    return _answer(ctx, outcome)


async def download(ctx: Ctx) -> web.StreamResponse:
    request_id = ctx.match_int("request_id")
    actions = ctx.services.requests
    with _refusals():
        path = await actions.redeem(ctx.org_id, request_id, ctx.match("token"), ctx.actor)
    try:
        handle = await asyncio.to_thread(path.open, "rb")
    except OSError as exc:
        raise NotFound("the export file") from exc
    try:
        size = (await asyncio.to_thread(path.stat)).st_size
        response = web.StreamResponse(headers={
            "Content-Type": "application/zip",
            "Content-Disposition": f'attachment; filename="callwright-request-{request_id}.zip"',
            "Cache-Control": "private, no-store",
        })
        response.content_length = size
        await response.prepare(ctx.request)
        while piece := await asyncio.to_thread(handle.read, PIECE_BYTES):
            await response.write(piece)
        await response.write_eof()
        return response
    finally:
        handle.close()
        await asyncio.to_thread(actions.discard_file, path)


_ID_BODY: dict[str, Any] = {"type": "object"}
ROUTES = [
    Route("GET", "/requests", list_requests, Permission.PRIVACY_REQUESTS,
          "Data-subject requests: received, due, status"),
    Route("POST", "/requests", create, Permission.PRIVACY_REQUESTS,
          "Register a data-subject request (export, erase, rectify, restrict, object)",
          body={
              "type": "object",
              "required": ["kind", "subject"],
              "properties": {
                  "kind": {"enum": list(KINDS)},
                  "subject_kind": {"enum": ["caller", "call"]},
                  "subject": {"type": "string", "minLength": 1, "maxLength": 64},
                  "received_at": {"type": "string", "maxLength": 40},
                  "note": {"type": "string", "maxLength": MAX_NOTE},
              },
          }),
    Route("GET", "/requests/{request_id}", show, Permission.PRIVACY_REQUESTS,
          "A data-subject request and its result"),
    Route("POST", "/requests/{request_id}/execute", execute, Permission.PRIVACY_REQUESTS,
          "Carry out an open request (an export answers with its one-time download link;"
          " a rectification takes call, seq and text, or caller_name)",
          body={
              "type": "object",
              "properties": {
                  "call": {"type": "string", "maxLength": 64},
                  "seq": {"type": "integer", "minimum": 0},
                  "text": {"type": "string", "maxLength": MAX_TEXT},
                  "caller_name": {"type": "string", "maxLength": 200},
              },
          }),
    Route("POST", "/requests/{request_id}/refuse", refuse, Permission.PRIVACY_REQUESTS,
          "Close an open request without acting on it, with the reason",
          body={"type": "object", "required": ["reason"],
                "properties": {"reason": {"type": "string", "maxLength": MAX_TEXT}}}),
    Route("POST", "/requests/{request_id}/prepare", prepare, Permission.PRIVACY_REQUESTS,
          "Make a completed export again, with a new one-time link", body=_ID_BODY),
    Route("GET", "/requests/{request_id}/download/{token}", download,
          Permission.PRIVACY_REQUESTS,
          "Download an export's ZIP once (410 once used or expired)"),
]
