"""Callers' restrictions of processing (issue 12, item 2): the page, its API and the forms.

A restriction is per caller number: ``record``, ``transcribe``, ``store``, ``object`` (see
:mod:`callwright.privacy.restrictions`), with a reason and dates, honoured from the caller's next
call. Setting and lifting go through :class:`~callwright.privacy.restriction_actions.
RestrictionActions` (audited ``restriction.set`` / ``restriction.lift``, the caller named by
pseudonym). The API takes ``what`` as a list or a comma-separated string; the form, a checkbox
per kind.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from admin.errors import Missing, UserError
from admin.forms import user_errors
from admin.html import Html, h, join
from admin.routing import Ctx, Route
from admin.views import button_form, field, form, page, respond, table, text_input
from admin.views import done as finish
from callwright.accounts.roles import Permission
from callwright.privacy.restriction_actions import RestrictionActions
from callwright.privacy.restrictions import KINDS, CallerRestriction, CallerRestrictionRepository

MAX_REASON = 500
LABELS = {
    "record": "Do not record",
    "transcribe": "Do not transcribe (turns kept as “[not transcribed]”)",
    "store": "Do not store (only time, hashed number, duration, outcome)",
    "object": "Objected: tell the caller the call is not processed and hand them to the "
              "dialplan fallback",
}


def _repo(ctx: Ctx) -> CallerRestrictionRepository:
    return CallerRestrictionRepository(ctx.services.db, ctx.services.master_key)


def _actions(ctx: Ctx) -> RestrictionActions:
    return RestrictionActions(_repo(ctx), ctx.services.audit)


def as_json(found: CallerRestriction) -> dict[str, Any]:
    return {
        "number": found.caller_number, "erased": found.pseudonymised,
        "what": [kind for kind in KINDS if kind in found.kinds], "reason": found.reason,
        "created_at": found.created_at, "updated_at": found.updated_at,
    }


def _number(data: dict[str, Any]) -> str:
    number = str(data.get("number") or "").strip()
    if not number:
        raise UserError("Give the caller's number.", field="number")
    if len(number) > 64:
        raise UserError("A caller number has at most 64 characters.", field="number")
    return number


def _kinds(data: dict[str, Any]) -> frozenset[str]:
    what = data.get("what")
    if isinstance(what, list):
        names = [str(x) for x in what]
    elif isinstance(what, str):
        names = what.split(",")
    elif what is None:  # the form: one checkbox per kind
        names = [kind for kind in KINDS if data.get(kind)]
    else:
        raise UserError("'what' is a list of kinds or a comma-separated string.", field="what")
    kinds = frozenset(n.strip().lower() for n in names if n.strip())
    unknown = sorted(kinds - KINDS.keys())
    if unknown:
        raise UserError(f"Unknown restriction {', '.join(unknown)}: use {', '.join(KINDS)}.",
                        field="what")
    if not kinds:
        raise UserError("Choose at least one restriction.", field="what")
    return kinds


async def list_restrictions(ctx: Ctx) -> web.StreamResponse:
    found = await _repo(ctx).list(ctx.org_id)
    if ctx.api:
        return respond(ctx, {"restrictions": [as_json(x) for x in found]}, web.Response)
    rows = []
    for row in found:
        who = "an erased caller" if row.pseudonymised else row.caller_number
        lift = Html("") if row.pseudonymised else button_form(
            ctx, f"/restrictions/lift?number={quote(row.caller_number, safe='')}", "Lift",
            confirm="The caller's next call is processed as any other.")
        rows.append(h(
            "<tr><td>{n}</td><td>{w}</td><td>{r}</td><td>{c}</td><td>{u}</td><td>{x}</td></tr>",
            n=who, w=", ".join(k for k in KINDS if k in row.kinds) or "-", r=row.reason,
            c=row.created_at[:16], u=(row.updated_at or "")[:16], x=lift))
    boxes = join(h('<label class="check"><input type="checkbox" name="{k}"> {t}</label>',
                   k=kind, t=text) for kind, text in LABELS.items())
    new = form(ctx, "/restrictions", join([
        field("Caller number", text_input("number", "", required=True, maxlength=64)),
        boxes,
        field("Reason", text_input("reason", "", maxlength=MAX_REASON)),
        Html('<button type="submit">Restrict</button>'),
    ]), cls="stack")
    body = h(
        "<p>What may be done with a caller's calls. Honoured from their next call; a restricted "
        "caller is still served. Every change is in the audit log.</p>"
        "{t}<h2>Restrict a caller</h2>{n}",
        t=table(["Caller", "Restricted", "Reason", "Since (UTC)", "Changed (UTC)", ""], rows,
                "No caller is restricted."),
        n=new,
    )
    return page(ctx, "Restrictions", body)


async def set_restriction(ctx: Ctx) -> web.StreamResponse:
    data = await ctx.input()
    number, kinds = _number(data), _kinds(data)
    reason = str(data.get("reason") or "")
    if len(reason) > MAX_REASON:
        raise UserError(f"The reason has at most {MAX_REASON} characters.", field="reason")
    with user_errors("number"):
        found = await _actions(ctx).restrict(ctx.org_id, number, kinds, reason, ctx.actor)
    return finish(ctx, as_json(found), "/restrictions")


async def lift_restriction(ctx: Ctx) -> web.StreamResponse:
    data = {**ctx.request.query, **await ctx.input()}
    number = _number(data)
    with user_errors("number"):
        lifted = await _actions(ctx).unrestrict(ctx.org_id, number, ctx.actor)
    if not lifted:
        raise Missing("This caller's restriction")
    return finish(ctx, {"number": number, "lifted": True}, "/restrictions")


_BODY: dict[str, Any] = {
    "type": "object",
    "properties": {
        "number": {"type": "string", "maxLength": 64},
        "what": {"oneOf": [{"type": "string"},
                           {"type": "array", "items": {"type": "string", "enum": list(KINDS)}}]},
        "reason": {"type": "string", "maxLength": MAX_REASON},
    },
}

ROUTES = [
    Route("GET", "/restrictions", list_restrictions, Permission.PRIVACY_REQUESTS,
          "Callers' restrictions of processing (record, transcribe, store, object)"),
    Route("POST", "/restrictions", set_restriction, Permission.PRIVACY_REQUESTS,
          "Restrict a caller number (number, what, reason); honoured from the next call",
          body=_BODY),
    Route("POST", "/restrictions/lift", lift_restriction, Permission.PRIVACY_REQUESTS,
          "Lift a caller number's restrictions", body=_BODY, query=("number",)),
]
