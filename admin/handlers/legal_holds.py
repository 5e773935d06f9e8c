"""Legal holds (a call, or every call of a caller number) and the retention dry run.

A hold keeps calls from the retention job until it is lifted (:mod:`callwright.store.
legal_holds`); setting and lifting are audited (``legal_hold.set`` / ``legal_hold.lift``). The
dry run shows what the next retention run would delete in this org, changing nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from admin.errors import Missing, UserError
from admin.forms import user_errors
from admin.html import Html, h, join
from admin.routing import Ctx, Route
from admin.views import button_form, field, form, page, respond, table, text_input
from admin.views import done as finish
from callwright.accounts.roles import Permission
from callwright.privacy.retention_job import RetentionJob
from callwright.store.legal_holds import MAX_REASON, LegalHold, LegalHoldRepository


def holds(ctx: Ctx) -> LegalHoldRepository:
    return LegalHoldRepository(ctx.services.db)


def as_json(hold: LegalHold) -> dict[str, Any]:
    data = dataclasses.asdict(hold)
    data.pop("call_id")
    data["target"] = hold.target
    return data


def _target(data: dict[str, Any]) -> tuple[str | None, str | None]:
    call = str(data.get("call") or "").strip() or None
    number = str(data.get("number") or "").strip() or None
    if (call is None) == (number is None):
        raise UserError("Give either a call or a caller number.", field="number")
    return call, number


async def holds_of_call(ctx: Ctx, call_id: int) -> list[LegalHold]:
    return await holds(ctx).for_call(ctx.org_id, call_id)


def hold_summary(held_by: list[LegalHold]) -> str:
    if not held_by:
        return "no"
    return "; ".join(("this call" if x.call_id is not None else f"every call from "
                      f"{x.caller_number}") + (f" ({x.reason})" if x.reason else "")
                     for x in held_by)


def hold_controls(ctx: Ctx, uid: str, held_by: list[LegalHold]) -> Html:
    """The call page's hold form (or lift button), for those who may change holds."""
    if not ctx.principal.can(Permission.RETENTION_WRITE):
        return Html("")
    if any(x.call_id is not None for x in held_by):
        control = button_form(ctx, f"/holds/lift?{urlencode({'call': uid})}", "Lift legal hold",
                              confirm="Retention may then delete this call.")
    else:
        control = form(ctx, "/holds", h(
            '<input type="hidden" name="call" value="{u}">{f}<button type="submit">'
            "Put on legal hold</button>",
            u=uid, f=field("Reason", text_input("reason", "", maxlength=MAX_REASON)),
        ), cls="stack")
    return h('<section><h2>Legal hold</h2>{c}</section>', c=control)


async def list_holds(ctx: Ctx) -> web.StreamResponse:
    found = await holds(ctx).list_holds(ctx.org_id)
    if ctx.api:
        return respond(ctx, {"holds": [as_json(x) for x in found]}, web.Response)
    can_write = ctx.principal.can(Permission.RETENTION_WRITE)
    rows = []
    for hold in found:
        what = (h('<a href="/calls/{u}">call {u}</a>', u=hold.call_uid) if hold.call_uid
                else h("every call from {n}", n=hold.caller_number))
        # urlencode: a number's "+" would otherwise reach the server as a space
        query = urlencode({"call": hold.call_uid} if hold.call_uid
                          else {"number": hold.caller_number})
        lift = button_form(ctx, f"/holds/lift?{query}", "Lift") if can_write else Html("")
        rows.append(h("<tr><td>{w}</td><td>{r}</td><td>{b}</td><td>{at}</td><td>{x}</td></tr>",
                      w=what, r=hold.reason, b=hold.set_by, at=hold.created_at[:16], x=lift))
    new = Html("")
    if can_write:
        new = form(ctx, "/holds", join([
            field("Caller number", text_input("number", "", required=True, maxlength=64),
                  "Holds every call from this number, those still to come too."),
            field("Reason", text_input("reason", "", maxlength=MAX_REASON)),
            Html('<button type="submit">Put on legal hold</button>'),
        ]), cls="stack")
    body = h(
        "<p>Calls on legal hold are never deleted by retention. Hold a single call from its "
        'page. <a href="/retention">Retention settings</a> · '
        '<a href="/retention/dry-run">What the next run would delete</a></p>'
        "{t}<h2>Hold a caller number</h2>{n}",
        t=table(["On hold", "Reason", "Set by", "Since (UTC)", ""], rows,
                "Nothing is on legal hold."),
        n=new,
    )
    return page(ctx, "Legal holds", body)


async def set_hold(ctx: Ctx) -> web.StreamResponse:
    data = await ctx.input()
    call, number = _target(data)
    reason = str(data.get("reason") or "")
    by = ctx.principal.user.email if ctx.principal.user is not None else "api"
    with user_errors("number" if number else "call"):
        if call is not None:
            hold, created = await holds(ctx).hold_call(ctx.org_id, call, reason, by)
        else:
            assert number is not None
            hold, created = await holds(ctx).hold_number(ctx.org_id, number, reason, by)
    if created:
        await ctx.record("legal_hold.set", hold.target, reason=hold.reason)
    back = f"/calls/{call}" if call is not None else "/holds"
    return finish(ctx, {**as_json(hold), "created": created}, back,
                  status=201 if created else 200)


async def lift_hold(ctx: Ctx) -> web.StreamResponse:
    data = {**ctx.request.query, **await ctx.input()}
    call, number = _target(data)
    with user_errors("number" if number else "call"):
        if call is not None:
            hold = await holds(ctx).lift_call(ctx.org_id, call)
        else:
            assert number is not None
            hold = await holds(ctx).lift_number(ctx.org_id, number)
    if hold is None:
        raise Missing("This legal hold")
    await ctx.record("legal_hold.lift", hold.target, reason=hold.reason)
    back = f"/calls/{call}" if call is not None else "/holds"
    return finish(ctx, as_json(hold), back)


async def dry_run(ctx: Ctx) -> web.StreamResponse:
    counts = await RetentionJob(ctx.services.db).preview(ctx.org_id)
    data = counts.detail()
    for name in ("files_missing", "files_failed"):  # a dry run does not look at files
        data.pop(name)
    if ctx.api:
        return respond(ctx, data, web.Response)
    rows = [
        h("<tr><th>{k}</th><td>{n}</td><td>{d}</td></tr>", k=kind, n=number, d=(date or "")[:10])
        for kind, number, date in (
            ("Calls (with their turns, events, notes, recordings)", counts.calls_deleted,
             counts.oldest_call),
            ("Turns, in all", counts.turns_deleted, None),
            ("Transcripts of calls kept", counts.transcripts_deleted, counts.oldest_transcript),
            ("Recordings", counts.recordings_deleted, counts.oldest_recording),
            ("Notes, in all", counts.notes_deleted, None),
            ("Webhook deliveries of calls kept", counts.deliveries_deleted, None),
            ("Kept: on legal hold", counts.held, None),
        )
    ]
    body = h(
        "<p>What the next retention run would delete in this organisation, under the "
        'current <a href="/retention">settings</a> and <a href="/holds">legal holds</a>. '
        "Nothing is deleted here.</p>"
        '<div class="table-wrap"><table><thead><tr><th>What</th><th>How many</th>'
        "<th>Oldest (started)</th></tr></thead><tbody>{r}</tbody></table></div>",
        r=join(rows),
    )
    return page(ctx, "Retention: dry run", body)


_TARGET: dict[str, Any] = {
    "type": "object",
    "properties": {
        "call": {"type": "string", "maxLength": 64},
        "number": {"type": "string", "maxLength": 64},
        "reason": {"type": "string", "maxLength": MAX_REASON},
    },
}

ROUTES = [
    Route("GET", "/holds", list_holds, Permission.RETENTION_READ,
          "Legal holds of the org (calls and caller numbers)"),
    Route("POST", "/holds", set_hold, Permission.RETENTION_WRITE,
          "Put a call (call: uid) or a caller number (number) on legal hold", body=_TARGET),
    Route("POST", "/holds/lift", lift_hold, Permission.RETENTION_WRITE,
          "Lift the legal hold of a call (call) or a caller number (number)", body=_TARGET,
          query=("call", "number")),
    Route("GET", "/retention/dry-run", dry_run, Permission.RETENTION_READ,
          "What the next retention run would delete in the org (counts, oldest dates)"),
]
