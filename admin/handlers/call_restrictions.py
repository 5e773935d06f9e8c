"""Restriction of processing of one stored call (issue 12, item 2, "per call"): the call page's
controls, the reveal of a restricted transcript, and the routes (page forms and API).

What a restriction does is :mod:`callwright.privacy.call_restrictions`'s: a restricted transcript
is left out of search, hidden on the call's page and in its API answer until an admin reveals it
(``?reveal=transcript``, audited ``call.reveal``), and withheld from webhooks; a restricted
recording is neither played nor downloaded. Setting and lifting are audited
(``call_restriction.set`` / ``call_restriction.lift``) through
:class:`~callwright.privacy.call_restrictions.CallRestrictionActions`; both are for admins (the
permission of the requests and restrictions pages).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from admin.errors import Missing, UserError
from admin.forms import user_errors
from admin.html import Html, h, join
from admin.routing import Ctx, Route
from admin.views import button_form, field, form, text_input
from admin.views import done as finish
from callwright.accounts.roles import Permission
from callwright.privacy.call_restrictions import (
    CALL_KINDS,
    CallRestriction,
    CallRestrictionActions,
    CallRestrictionRepository,
    parse_call_kinds,
)
from callwright.store.legal_holds import MAX_REASON

LABELS = {
    "transcribe": "Transcript: hidden from search and views (audited reveal), withheld from "
                  "webhooks",
    "record": "Recording: not playable nor downloadable",
}


def repo(ctx: Ctx) -> CallRestrictionRepository:
    return CallRestrictionRepository(ctx.services.db)


def as_json(found: CallRestriction) -> dict[str, Any]:
    return {"call": found.call_uid, "what": [k for k in CALL_KINDS if k in found.kinds],
            "reason": found.reason, "set_by": found.set_by, "created_at": found.created_at,
            "updated_at": found.updated_at}


def summary(found: CallRestriction | None) -> str:
    """The call page's one-line answer to "is it restricted?"."""
    if found is None:
        return "no"
    what = " and ".join(w for k, w in (("transcribe", "transcript"), ("record", "recording"))
                        if k in found.kinds)
    reason = f" ({found.reason})" if found.reason else ""
    return f"{what} since {found.created_at[:16].replace('T', ' ')}{reason}"


async def may_reveal(ctx: Ctx, uid: str, found: CallRestriction | None) -> bool:
    """True when the page shows a restricted transcript: asked (``?reveal=transcript``) by one
    who may manage restrictions; the reveal is then written to the audit log."""
    if found is None or not found.transcript:
        return True
    if ctx.request.query.get("reveal") != "transcript":
        return False
    if not ctx.principal.can(Permission.PRIVACY_REQUESTS):
        raise UserError("Only an admin may reveal a restricted transcript.", status=403)
    await ctx.record("call.reveal", f"call:{uid}", what="transcript", reason=found.reason)
    return True


def withheld_transcript(ctx: Ctx, uid: str) -> Html:
    """What the timeline says in place of a restricted transcript."""
    reveal = Html("")
    if ctx.principal.can(Permission.PRIVACY_REQUESTS):
        reveal = h(' <a id="reveal" href="/calls/{u}?reveal=transcript">Reveal it (written to the '
                   "audit log)</a>", u=uid)
    return h('<p class="hint" id="transcript-restricted">The transcript of this call is '
             "restricted: it is not shown.{r}</p>", r=reveal)


def controls(ctx: Ctx, uid: str, found: CallRestriction | None) -> Html:
    """The call page's restriction form (and lift button), for admins."""
    if not ctx.principal.can(Permission.PRIVACY_REQUESTS):
        return Html("")
    lift = Html("")
    if found is not None:
        lift = button_form(ctx, f"/calls/{uid}/unrestrict", "Lift the restriction",
                           confirm="The call's transcript and recording are used again.")
    boxes = join(h('<label class="check"><input type="checkbox" name="{k}"{c}> {t}</label>',
                   k=kind, t=text, c=Html(" checked") if found and kind in found.kinds else "")
                 for kind, text in LABELS.items())
    new = form(ctx, f"/calls/{uid}/restrict", join([
        boxes, field("Reason", text_input("reason", found.reason if found else "",
                                          maxlength=MAX_REASON)),
        Html('<button type="submit">Restrict processing of this call</button>'),
    ]), cls="stack")
    return h("<section><h2>Restriction of processing</h2><p>{s}</p>{n}{l}</section>",
             s=f"Restricted: {summary(found)}", n=new, l=lift)


def _kinds(data: dict[str, Any]) -> frozenset[str]:
    what = data.get("what")
    if isinstance(what, list):
        text = ",".join(str(x) for x in what)
    elif isinstance(what, str):
        text = what
    elif what is None:  # the form: one checkbox per kind
        text = ",".join(kind for kind in CALL_KINDS if data.get(kind))
    else:
        raise UserError("'what' is a list of kinds or a comma-separated string.", field="what")
    try:
        return parse_call_kinds(text)
    except ValueError as exc:
        raise UserError(str(exc)[:1].upper() + str(exc)[1:] + ".", field="what") from exc


def _actions(ctx: Ctx) -> CallRestrictionActions:
    return CallRestrictionActions(repo(ctx), ctx.services.audit)


async def _call_uid(ctx: Ctx) -> str:
    """The path's call, which must be the org's (another org's call is simply not found)."""
    uid = ctx.match("uid")
    if await ctx.services.calls.find_call(ctx.org_id, uid) is None:
        raise Missing("This call")
    return uid


async def restrict_call(ctx: Ctx) -> web.StreamResponse:
    uid = await _call_uid(ctx)
    data = await ctx.input()
    kinds = _kinds(data)
    reason = str(data.get("reason") or "")
    if len(reason) > MAX_REASON:
        raise UserError(f"The reason has at most {MAX_REASON} characters.", field="reason")
    by = ctx.principal.user.email if ctx.principal.user is not None else ""
    with user_errors("reason"):
        found = await _actions(ctx).restrict(ctx.org_id, uid, kinds, reason, ctx.actor, by)
    return finish(ctx, as_json(found), f"/calls/{uid}")


async def unrestrict_call(ctx: Ctx) -> web.StreamResponse:
    uid = await _call_uid(ctx)
    with user_errors("call"):
        found = await _actions(ctx).lift(ctx.org_id, uid, ctx.actor)
    if found is None:
        raise Missing("This call's restriction")
    return finish(ctx, {**as_json(found), "lifted": True}, f"/calls/{uid}")


_BODY: dict[str, Any] = {
    "type": "object",
    "properties": {
        "what": {"oneOf": [{"type": "string"}, {"type": "array", "items": {
            "type": "string", "enum": list(CALL_KINDS)}}]},
        "reason": {"type": "string", "maxLength": MAX_REASON},
    },
}

ROUTES = [
    Route("POST", "/calls/{uid}/restrict", restrict_call, Permission.PRIVACY_REQUESTS,
          "Restrict processing of a stored call (what: transcribe, record; reason)", body=_BODY),
    Route("POST", "/calls/{uid}/unrestrict", unrestrict_call, Permission.PRIVACY_REQUESTS,
          "Lift a stored call's restriction of processing"),
]
