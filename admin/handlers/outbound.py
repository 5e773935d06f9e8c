"""Outbound calls: the Call form (editors and above) and what became of each call.

``POST /calls`` (and ``POST /api/v1/calls``) queues a call for a running call service to place
(:class:`callwright.outbound.placing.OutboundPlacer`): ``assistant_id``, ``to``, optional
``from`` (one of the org's outbound numbers), ``endpoint`` (a ``{number}`` template) and
``variables`` (an object in the API; ``key=value`` lines in the form). ``GET /outbound`` lists
the org's outbound calls with their outcome; ``GET /outbound/{uid}`` is one of them (poll it to
follow a call). Placing is audited as ``call.place``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from admin.errors import Missing, UserError
from admin.forms import parse_id, text, user_errors
from admin.html import Html, h, join
from admin.routing import Ctx, Route
from admin.views import done, field, form, page, respond, select, table, text_input, textarea
from callwright.accounts.roles import Permission
from callwright.errors import NotFound
from callwright.outbound.placing import OUTBOUND_DIRECTIONS, OutboundPlacer, RestrictionsDoNotCall
from callwright.outbound.request import RequestError, check_variables, parse_variables
from callwright.privacy.restrictions import CallerRestrictionRepository
from callwright.store.outbound_calls import (
    MAX_MACHINE_MESSAGE,
    AssistantOutbound,
    OutboundCall,
    OutboundCallRepository,
)


def outbound(ctx: Ctx) -> OutboundCallRepository:
    return OutboundCallRepository(ctx.services.db)


def placer(ctx: Ctx) -> OutboundPlacer:
    s = ctx.services
    return OutboundPlacer(s.assistants, s.numbers, outbound(ctx), RestrictionsDoNotCall(
        CallerRestrictionRepository(s.db, s.master_key)))


def _variables(ctx: Ctx, data: dict[str, Any]) -> dict[str, str]:
    raw = data.get("variables")
    try:
        if raw is None or raw == "":
            return {}
        if ctx.api:
            if not isinstance(raw, dict):
                raise UserError("variables: a JSON object of text values", field="variables")
            return check_variables(raw)
        if not isinstance(raw, str):
            raise UserError("variables: key=value lines", field="variables")
        return parse_variables(line for line in raw.splitlines() if line.strip())
    except RequestError as exc:
        raise UserError(str(exc), field="variables") from None


async def place_call(ctx: Ctx) -> web.StreamResponse:
    data = await ctx.input()
    assistant_id = parse_id(data.get("assistant_id"), "assistant_id")
    to = text(data, "to", max_len=40).strip()
    from_number = text(data, "from", max_len=40).strip() or None
    endpoint = text(data, "endpoint", max_len=200).strip() or None
    variables = _variables(ctx, data)
    try:
        row = await placer(ctx).queue(ctx.org_id, assistant_id, to, from_number=from_number,
                                      endpoint=endpoint, variables=variables)
    except NotFound:
        raise Missing("This assistant") from None
    except RequestError as exc:
        raise UserError(str(exc), field="to") from None
    await ctx.record("call.place", f"outbound:{row.uid}", assistant_id=assistant_id,
                     to=row.to_number)
    return done(ctx, row.to_json(), f"/outbound/{row.uid}", notice="created", status=201)


def _outcome(row: OutboundCall) -> Html:
    if row.status != "ended":
        return h('<span class="pending">{s}</span>', s=row.status)
    cause = f" (cause {row.cause} {row.cause_text})" if row.cause is not None else ""
    return h("{o}{c}", o=row.outcome, c=cause)


def call_form(ctx: Ctx, assistants: list[tuple[Any, Any]], numbers: list[tuple[Any, Any]],
              selected: int | None = None) -> Html:
    return form(ctx, "/calls", join([
        field("Assistant", select("assistant_id", assistants, selected, required=True)),
        field("Call", text_input("to", "", required=True, maxlength=40,
                                 placeholder="+15550100199 or 201"),
              "An E.164 number or an extension."),
        field("From", select("from", numbers, ""), "The caller ID (one of your outbound "
              "numbers; its outbound endpoint is used)."),
        field("Endpoint", text_input("endpoint", "", maxlength=200,
                                     placeholder="PJSIP/{number}@trunk"),
              "Optional: instead of the number's outbound endpoint."),
        field("Variables", textarea("variables", "", rows=3,
                                    placeholder="first_name=Ana\nappointment=Tuesday 3 pm"),
              "key=value lines; {first_name} in the greeting and the flow is filled in."),
        Html('<button type="submit">Call</button>'),
    ]), cls="stack")


async def list_outbound(ctx: Ctx) -> web.StreamResponse:
    rows = await outbound(ctx).list_recent(ctx.org_id, 100)
    if ctx.api:
        return respond(ctx, {"calls": [r.to_json() for r in rows]}, web.Response)
    s = ctx.services
    assistants = await s.assistants.list(ctx.org_id)
    names = {a.id: a.name for a in assistants}
    body_rows = [h('<tr><td><a href="/outbound/{u}">{u}</a></td><td>{to}</td><td>{a}</td>'
                   "<td>{o}</td><td>{r}</td><td>{at}</td></tr>",
                   u=r.uid, to=r.to_number, a=names.get(r.assistant_id, r.assistant_id),
                   o=_outcome(r), r="" if r.ring_ms is None else f"{r.ring_ms / 1000:.1f} s",
                   at=r.created_at[:19].replace("T", " ")) for r in rows]
    new = Html("")
    if ctx.principal.can(Permission.ASSISTANTS_WRITE):
        numbers = [(n.number, n.label or n.number) for n in await s.numbers.list(ctx.org_id)
                   if n.direction in OUTBOUND_DIRECTIONS]
        new = h("<h2>Place a call</h2>{f}", f=call_form(
            ctx, [(a.id, a.name) for a in assistants], [("", "default"), *numbers]))
    body = h("{new}<h2>Recent outbound calls</h2>{t}", new=new, t=table(
        ["Id", "To", "Assistant", "Outcome", "Rang", "Asked (UTC)"], body_rows,
        "No outbound calls yet."))
    return page(ctx, "Outbound calls", body)


async def show_outbound(ctx: Ctx) -> web.StreamResponse:
    try:
        row = await outbound(ctx).get_by_uid(ctx.match("uid"), org_id=ctx.org_id)
    except NotFound:
        raise Missing("This outbound call") from None
    data = row.to_json()
    call_uid = None
    if row.call_id is not None:
        call_uid = await ctx.services.db.fetch_value(
            "SELECT uid FROM calls WHERE id = ? AND org_id = ?", (row.call_id, ctx.org_id))
    data["call_uid"] = call_uid
    if ctx.api:
        return respond(ctx, data, web.Response)
    link = h(' · <a href="/calls/{u}">the call</a>', u=call_uid) if call_uid else ""
    vars_text = ", ".join(f"{k}={v}" for k, v in row.variables.items()) or "none"
    body = h(
        "<dl><dt>To</dt><dd>{to}</dd><dt>From</dt><dd>{f}</dd><dt>Endpoint</dt><dd>{e}</dd>"
        "<dt>Variables</dt><dd>{v}</dd><dt>Status</dt><dd>{s}</dd><dt>Outcome</dt>"
        "<dd>{o}{link}</dd><dt>Answering machine detection</dt><dd>{amd}</dd></dl>"
        '<p><a href="/outbound">All outbound calls</a></p>',
        to=row.to_number, f=row.caller_id or "-", e=row.endpoint, v=vars_text, s=row.status,
        o=_outcome(row), link=link, amd=f"{row.amd_status} {row.amd_cause}".strip() or "-",
    )
    return page(ctx, f"Outbound call {row.uid}", body)


async def assistant_outbound(ctx: Ctx) -> web.StreamResponse:
    """An assistant's answering-machine settings: on_machine and the message left on one."""
    assistant_id = ctx.match_int("assistant_id")
    try:
        assistant = await ctx.services.assistants.get(ctx.org_id, assistant_id)
    except NotFound:
        raise Missing("This assistant") from None
    repo = outbound(ctx)
    if ctx.request.method == "POST":
        data = await ctx.input()
        current = await repo.assistant_settings(assistant_id)
        on_machine = text(data, "on_machine", max_len=20) or current.on_machine
        message = text(data, "machine_message", max_len=MAX_MACHINE_MESSAGE,
                       default=current.machine_message)
        with user_errors("on_machine"):
            await repo.set_assistant_settings(AssistantOutbound(assistant_id, on_machine,
                                                                message))
        await ctx.record("assistant.outbound", f"assistant:{assistant_id}",
                         on_machine=on_machine, message_chars=len(message))
    settings = await repo.assistant_settings(assistant_id)
    data = {"assistant_id": assistant_id, "on_machine": settings.on_machine,
            "machine_message": settings.machine_message}
    if ctx.api:
        return respond(ctx, data, web.Response)
    if ctx.request.method == "POST":
        return done(ctx, data, f"/assistants/{assistant_id}/outbound")
    body = form(ctx, f"/assistants/{assistant_id}/outbound", join([
        field("When an answering machine answers", select(
            "on_machine", [("hangup", "Hang up"), ("leave_message", "Leave the message below"),
                           ("continue", "Talk as to a person")], settings.on_machine)),
        field("Message for machines", textarea("machine_message", settings.machine_message,
                                               rows=3, maxlength=MAX_MACHINE_MESSAGE),
              "Said after the greeting or beep; {first_name} and the call's other variables "
              "are filled in. Empty: the greeting."),
        Html('<button type="submit">Save</button>'),
    ]), cls="stack")
    return page(ctx, f"{assistant.name}: outbound calls", body)


ROUTES = [
    Route("GET", "/assistants/{assistant_id}/outbound", assistant_outbound,
          Permission.ASSISTANTS_READ, "An assistant's answering-machine settings"),
    Route("POST", "/assistants/{assistant_id}/outbound", assistant_outbound,
          Permission.ASSISTANTS_WRITE, "Set on_machine (hangup, leave_message, continue) and "
          "the machine message", body={
              "type": "object",
              "properties": {"on_machine": {"enum": ["hangup", "leave_message", "continue"]},
                             "machine_message": {"type": "string"}}}),
    Route("POST", "/calls", place_call, Permission.ASSISTANTS_WRITE,
          "Place an outbound call (queued for the call service)", body={
              "type": "object",
              "required": ["assistant_id", "to"],
              "properties": {
                  "assistant_id": {"type": "integer"},
                  "to": {"type": "string", "maxLength": 40},
                  "from": {"type": "string", "maxLength": 40},
                  "endpoint": {"type": "string", "maxLength": 200},
                  "variables": {"type": "object",
                                "additionalProperties": {"type": ["string", "number"]}},
              },
          }),
    Route("GET", "/outbound", list_outbound, Permission.CALLS_READ,
          "Outbound calls and their outcomes"),
    Route("GET", "/outbound/{uid}", show_outbound, Permission.CALLS_READ,
          "One outbound call: status, outcome, cause, ring time, AMD"),
]
