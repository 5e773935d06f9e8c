"""Post-call webhooks: an org's event endpoints (create, change, roll the secret, delete) and
the delivery log with redelivery. Admins and owners only; every change is in the audit log.

An endpoint's URL is a ``webhook_url`` credential (sealed, write-only: see Credentials); its
signing secret is shown once, when the endpoint is made or its secret rolled. The log shows each
delivery's event, endpoint, status, attempts, next attempt, last response and error, never the
body (it may hold a transcript). A redelivery puts a delivery back in the queue with a new 24 h
window; the call service's worker sends it within seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

from admin.errors import Missing, UserError
from admin.forms import flag, parse_id, text, user_errors
from admin.html import Html, h, join
from admin.routing import Ctx, Route
from admin.views import button_form, done, field, form, page, respond, select, table, text_input
from callwright.accounts.roles import Permission
from callwright.errors import NotFound
from callwright.privacy.call_restrictions import CallRestrictionRepository
from callwright.store.clock import format_iso, utc_now
from callwright.store.webhook_deliveries import STATUSES, Delivery, DeliveryRepository
from callwright.store.webhook_endpoints import (
    EVENT_TYPES,
    TARGETS,
    Endpoint,
    EndpointRepository,
)
from callwright.webhooks.backoff import window_end

LOG_LIMIT = 200


def _endpoints(ctx: Ctx) -> EndpointRepository:
    return EndpointRepository(ctx.services.db, ctx.services.master_key)


def _deliveries(ctx: Ctx) -> DeliveryRepository:
    return DeliveryRepository(ctx.services.db)


def endpoint_json(e: Endpoint) -> dict[str, Any]:
    return {"id": e.id, "name": e.name, "target": e.target, "enabled": e.enabled,
            "events": list(e.events), "credential": e.credential_name,
            "created_at": e.created_at}


def delivery_json(d: Delivery) -> dict[str, Any]:
    return {"id": d.id, "event_id": d.event_id, "event": d.event, "call_uid": d.call_uid,
            "endpoint": {"id": d.endpoint_id, "name": d.endpoint_name, "target": d.target},
            "status": d.status, "attempts": d.attempts, "created_at": d.created_at,
            "next_at": d.next_at if d.status == "pending" else None,
            "expires_at": d.expires_at, "last_attempt_at": d.last_attempt_at,
            "response_code": d.response_code, "last_error": d.last_error}


def _events(data: dict[str, Any], api: bool) -> list[str]:
    """The events chosen: a JSON list (API) or one ``event:<type>`` checkbox each (page)."""
    if api:
        value = data.get("events")
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UserError("events: a list of event types", field="events")
        return list(value)
    return [e for e in EVENT_TYPES if flag(data.get(f"event:{e}"))]


@contextmanager
def _no_such_credential() -> Iterator[None]:
    """A credential name that is not one of the org's webhook URLs is bad input (400)."""
    try:
        yield
    except NotFound as exc:
        raise UserError(str(exc), field="credential") from exc


def _when(iso: str | None) -> str:
    return (iso or "")[:19].replace("T", " ")


async def list_endpoints(ctx: Ctx) -> web.StreamResponse:
    items = await _endpoints(ctx).list(ctx.org_id)
    if ctx.api:
        return respond(ctx, {"endpoints": [endpoint_json(e) for e in items]}, web.Response)
    rows = [
        h(
            "<tr><td>{n}</td><td>{t}</td><td>{c}</td><td>{ev}</td><td>{on}</td>"
            "<td>{toggle}{roll}{d}</td></tr>",
            n=e.name, t=e.target, c=e.credential_name, ev=", ".join(e.events),
            on="on" if e.enabled else "off",
            toggle=form(ctx, f"/webhooks/{e.id}", h(
                '<input type="hidden" name="enabled" value="{v}">'
                '<button type="submit">{label}</button>',
                v="false" if e.enabled else "true", label="Turn off" if e.enabled else "Turn on",
            ), cls="inline"),
            roll=button_form(ctx, f"/webhooks/{e.id}/secret", "New signing secret",
                             confirm=f"Replace {e.name}'s signing secret? The old one stops now."),
            d=button_form(ctx, f"/webhooks/{e.id}/delete", "Delete", danger=True,
                          confirm=f"Delete {e.name} and its delivery log?"),
        )
        for e in items
    ]
    credentials = [c.name for c in await ctx.services.credentials.list(ctx.org_id)
                   if c.kind == "webhook_url"]
    checks = join(
        h('<label><input type="checkbox" name="event:{e}" checked> {e}</label> ', e=e)
        for e in EVENT_TYPES
    )
    add = form(ctx, "/webhooks", join([
        field("Name", text_input("name", required=True, maxlength=100)),
        field("Target", select("target", [("webhook", "Signed JSON webhook"),
                                          ("slack", "Slack incoming webhook")], "webhook")),
        field("URL credential", select("credential", [(c, c) for c in credentials], ""),
              hint="A webhook_url credential (add one under Credentials: the URL stays sealed)."),
        field("Events", checks),
        Html('<button type="submit">Add endpoint</button>'),
    ]), cls="stack")
    body = h(
        '{t}<p><a href="/webhooks/deliveries">Delivery log</a></p>'
        "<h2>New endpoint</h2>{a}<p>Signing, headers and a verification example: "
        '<a href="/docs">the docs</a> (docs/webhooks.md).</p>',
        t=table(["Name", "Target", "URL credential", "Events", "State", ""], rows,
                "No endpoints yet."),
        a=add,
    )
    return page(ctx, "Webhooks", body)


def _secret_page(ctx: Ctx, endpoint: Endpoint, secret: str) -> web.Response:
    return page(ctx, "Signing secret", h(
        "<p>The signing secret of <strong>{n}</strong>. Copy it now: it is not shown again.</p>"
        '<p><code class="secret">{s}</code></p><p><a href="/webhooks">Back to webhooks</a></p>',
        n=endpoint.name, s=secret,
    ))


async def create_endpoint(ctx: Ctx) -> web.StreamResponse:
    data = await ctx.input()
    with _no_such_credential(), user_errors("name"):
        endpoint, secret = await _endpoints(ctx).create(
            ctx.org_id, text(data, "name", max_len=100),
            target=text(data, "target", max_len=20, default="webhook"),
            credential_name=text(data, "credential", max_len=100),
            events=_events(data, ctx.api),
        )
    await ctx.record("webhook.create", f"webhook:{endpoint.id}", name=endpoint.name,
                     kind=endpoint.target, events=list(endpoint.events))
    if ctx.api:
        return web.json_response({**endpoint_json(endpoint), "signing_secret": secret},
                                 status=201)
    return _secret_page(ctx, endpoint, secret)


async def update_endpoint(ctx: Ctx) -> web.StreamResponse:
    endpoint_id = ctx.match_int("endpoint_id")
    repo = _endpoints(ctx)
    await repo.get(ctx.org_id, endpoint_id)
    data = await ctx.input()
    events = _events(data, ctx.api) if (ctx.api and "events" in data) or (
        not ctx.api and any(k.startswith("event:") for k in data)) else None
    enabled = None if "enabled" not in data else flag(data["enabled"])
    credential = text(data, "credential", max_len=100) or None
    with _no_such_credential(), user_errors("events"):
        updated = await repo.update(ctx.org_id, endpoint_id, events=events, enabled=enabled,
                                    credential_name=credential)
    await ctx.record("webhook.update", f"webhook:{endpoint_id}", name=updated.name,
                     changed=[k for k in ("events", "enabled", "credential") if k in data])
    return done(ctx, endpoint_json(updated), "/webhooks")


async def roll_secret(ctx: Ctx) -> web.StreamResponse:
    endpoint_id = ctx.match_int("endpoint_id")
    repo = _endpoints(ctx)
    endpoint = await repo.get(ctx.org_id, endpoint_id)
    secret = await repo.roll_secret(ctx.org_id, endpoint_id)
    await ctx.record("webhook.secret_roll", f"webhook:{endpoint_id}", name=endpoint.name)
    if ctx.api:
        return web.json_response({**endpoint_json(endpoint), "signing_secret": secret})
    return _secret_page(ctx, endpoint, secret)


async def delete_endpoint(ctx: Ctx) -> web.StreamResponse:
    endpoint_id = ctx.match_int("endpoint_id")
    repo = _endpoints(ctx)
    endpoint = await repo.get(ctx.org_id, endpoint_id)
    if not await repo.delete(ctx.org_id, endpoint_id):
        raise Missing("This endpoint")
    await ctx.record("webhook.delete", f"webhook:{endpoint_id}", name=endpoint.name)
    return done(ctx, {"ok": True}, "/webhooks", notice="deleted")


async def list_deliveries(ctx: Ctx) -> web.StreamResponse:
    query = ctx.request.query
    status = query.get("status") or None
    if status is not None and status not in STATUSES:
        raise UserError(f"status: one of {', '.join(STATUSES)}", field="status")
    endpoint = query.get("endpoint") or None
    endpoint_id = None if endpoint is None else parse_id(endpoint, "endpoint")
    items = await _deliveries(ctx).list(ctx.org_id, status=status, endpoint_id=endpoint_id,
                                        limit=LOG_LIMIT)
    if ctx.api:
        return respond(ctx, {"deliveries": [delivery_json(d) for d in items]}, web.Response)
    rows = [
        h(
            "<tr><td>{id}</td><td>{when}</td><td>{ev}</td><td>{call}</td><td>{ep}</td>"
            '<td class="status-{st}">{st}</td><td>{n}</td><td>{code}</td><td>{err}</td>'
            "<td>{next}</td><td>{again}</td></tr>",
            id=d.id, when=_when(d.created_at), ev=d.event,
            call=h('<a href="/calls/{u}">{u}</a>', u=d.call_uid) if d.call_uid else "",
            ep=d.endpoint_name, st=d.status, n=d.attempts,
            code="" if d.response_code is None else d.response_code, err=d.last_error,
            next=_when(d.next_at) if d.status == "pending" else "",
            again=button_form(ctx, f"/webhooks/deliveries/{d.id}/redeliver", "Redeliver"),
        )
        for d in items
    ]
    filters = join(
        h('<a href="/webhooks/deliveries{q}">{label}</a> ', q=f"?status={s}" if s else "",
          label=s or "all")
        for s in ("", *STATUSES)
    )
    body = h(
        "<p>Show: {f}</p>{t}<p><a href=\"/webhooks\">Endpoints</a></p>",
        f=filters,
        t=table(["#", "Queued", "Event", "Call", "Endpoint", "Status", "Attempts", "Response",
                 "Last error", "Next attempt", ""], rows, "No deliveries."),
    )
    return page(ctx, "Webhook deliveries", body)


async def redeliver(ctx: Ctx) -> web.StreamResponse:
    delivery_id = ctx.match_int("delivery_id")
    delivery = await _deliveries(ctx).get(ctx.org_id, delivery_id)  # NotFound: a 404
    if delivery.call_uid and await CallRestrictionRepository(ctx.services.db).for_uid(
            ctx.org_id, delivery.call_uid) is not None:
        raise UserError("This delivery's call has its processing restricted: its events are not "
                        "sent again until the restriction is lifted.", status=409)
    now = utc_now()
    again = await _deliveries(ctx).redeliver(
        ctx.org_id, delivery_id, now=format_iso(now), expires_at=format_iso(window_end(now))
    )
    await ctx.record("webhook.redeliver", f"webhook_delivery:{delivery_id}", event=again.event,
                     endpoint=again.endpoint_name, call_uid=again.call_uid)
    return done(ctx, delivery_json(again), "/webhooks/deliveries")


_ENDPOINT_BODY = {
    "type": "object",
    "required": ["name", "credential", "events"],
    "properties": {
        "name": {"type": "string", "maxLength": 100},
        "target": {"enum": list(TARGETS)},
        "credential": {"type": "string", "description": "a webhook_url credential's name"},
        "events": {"type": "array", "items": {"enum": list(EVENT_TYPES)}},
    },
}

ROUTES = [
    Route("GET", "/webhooks", list_endpoints, Permission.CREDENTIALS_READ,
          "List the org's post-call event endpoints"),
    Route("POST", "/webhooks", create_endpoint, Permission.CREDENTIALS_WRITE,
          "Add an endpoint (its signing secret is in the answer, once)", body=_ENDPOINT_BODY),
    Route("POST", "/webhooks/{endpoint_id}", update_endpoint, Permission.CREDENTIALS_WRITE,
          "Change an endpoint's events, state or URL credential", body={
              "type": "object",
              "properties": {
                  "events": {"type": "array", "items": {"enum": list(EVENT_TYPES)}},
                  "enabled": {"type": "boolean"},
                  "credential": {"type": "string"},
              },
          }),
    Route("POST", "/webhooks/{endpoint_id}/secret", roll_secret, Permission.CREDENTIALS_WRITE,
          "Replace an endpoint's signing secret (the new one is in the answer, once)"),
    Route("POST", "/webhooks/{endpoint_id}/delete", delete_endpoint,
          Permission.CREDENTIALS_WRITE, "Delete an endpoint and its delivery log"),
    Route("GET", "/webhooks/deliveries", list_deliveries, Permission.CREDENTIALS_READ,
          "The delivery log, newest first (never the bodies)", query=("status", "endpoint")),
    Route("POST", "/webhooks/deliveries/{delivery_id}/redeliver", redeliver,
          Permission.CREDENTIALS_WRITE, "Queue a delivery again, with a new 24 h window"),
]
