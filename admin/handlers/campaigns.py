"""Campaigns: create one from a CSV upload, start/pause/resume/cancel it, follow its progress.

``POST /campaigns`` takes the settings and the contacts (a multipart ``contacts`` file in the
form; ``contacts_csv`` text in the API). Bad lines are listed by line number and nothing is
created (``skip_bad_lines`` creates it with the good ones). ``GET /campaigns/{id}`` shows the
contacts by status, a bar chart of the outcomes and the contacts table;
``GET /campaigns/{id}/export`` is the results as CSV. Changes are audited (``campaign.*``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from admin.errors import Missing, UserError
from admin.forms import flag, parse_id, text, user_errors, whole
from admin.html import Html, h, join
from admin.routing import Ctx, Route
from admin.views import button_form, done, field, form, page, respond, select, table, text_input
from callwright.accounts.roles import Permission
from callwright.campaigns.contacts_csv import MAX_BYTES, parse_contacts
from callwright.campaigns.export import contacts_csv
from callwright.errors import NotFound
from callwright.store.campaigns import ACTIONS, Campaign, CampaignRepository

#: Bad lines shown at most in one answer.
MAX_ERRORS_SHOWN = 50
OUTCOME_COLOURS = {"answered": "#2e7d32", "machine": "#6a1b9a", "busy": "#ef6c00",
                   "no_answer": "#f9a825", "congestion": "#c62828", "failed": "#b71c1c",
                   "do_not_call": "#546e7a", "cancelled": "#90a4ae", "invalid": "#8d6e63"}


def repo(ctx: Ctx) -> CampaignRepository:
    return CampaignRepository(ctx.services.db)


async def _campaign(ctx: Ctx) -> Campaign:
    try:
        return await repo(ctx).get(ctx.match_int("campaign_id"), org_id=ctx.org_id)
    except NotFound:
        raise Missing("This campaign") from None


async def _contacts_data(ctx: Ctx, data: dict[str, Any]) -> bytes:
    upload = data.get("contacts")
    if isinstance(upload, web.FileField):
        raw: bytes = await asyncio.to_thread(upload.file.read, MAX_BYTES + 1)
        return raw
    csv_text = data.get("contacts_csv")
    if isinstance(csv_text, str) and csv_text.strip():
        return csv_text.encode()
    raise UserError("Upload the contacts as a CSV file with a 'number' column.", field="contacts")


async def create_campaign(ctx: Ctx) -> web.StreamResponse:
    data = await ctx.input()
    assistant_id = parse_id(data.get("assistant_id"), "assistant_id")
    try:
        await ctx.services.assistants.get(ctx.org_id, assistant_id)
    except NotFound:
        raise Missing("This assistant") from None
    parsed = parse_contacts(await _contacts_data(ctx, data))
    if parsed.errors and not flag(data.get("skip_bad_lines")):
        shown = "; ".join(str(e) for e in parsed.errors[:MAX_ERRORS_SHOWN])
        more = len(parsed.errors) - MAX_ERRORS_SHOWN
        raise UserError(f"{len(parsed.errors)} bad line(s), nothing created: {shown}"
                        + (f"; and {more} more" if more > 0 else ""), field="contacts")
    if not parsed.contacts:
        raise UserError("The file has no contacts.", field="contacts")
    settings = Campaign(
        0, ctx.org_id, text(data, "name", max_len=200), assistant_id,
        from_number=text(data, "from", max_len=40).strip(),
        endpoint=text(data, "endpoint", max_len=200).strip(),
        max_concurrent=whole(data, "max_concurrent", lo=1, hi=500) if data.get(
            "max_concurrent") not in (None, "") else 5,
        calls_per_minute=whole(data, "calls_per_minute", lo=1, hi=6000) if data.get(
            "calls_per_minute") not in (None, "") else 10,
        max_attempts=whole(data, "max_attempts", lo=1, hi=20) if data.get(
            "max_attempts") not in (None, "") else 3,
        retry_minutes=whole(data, "retry_minutes", lo=1, hi=10080) if data.get(
            "retry_minutes") not in (None, "") else 30,
        window_start=text(data, "window_start", max_len=5, default="09:00") or "09:00",
        window_end=text(data, "window_end", max_len=5, default="20:00") or "20:00",
        window_days=text(data, "window_days", max_len=20, default="1,2,3,4,5") or "1,2,3,4,5",
        timezone=text(data, "timezone", max_len=64).strip(),
    )
    with user_errors("name"):
        made = await repo(ctx).create(settings, parsed.contacts)
    await ctx.record("campaign.create", f"campaign:{made.id}", name=made.name,
                     contacts=len(parsed.contacts), bad_lines=len(parsed.errors))
    return done(ctx, {**made.to_json(), "contacts": len(parsed.contacts),
                      "bad_lines": [str(e) for e in parsed.errors]},
                f"/campaigns/{made.id}", notice="created", status=201)


async def list_campaigns(ctx: Ctx) -> web.StreamResponse:
    found = await repo(ctx).list_for_org(ctx.org_id)
    if ctx.api:
        return respond(ctx, {"campaigns": [c.to_json() for c in found]}, web.Response)
    rows = [h('<tr><td><a href="/campaigns/{id}">{n}</a></td><td>{s}</td><td>{cpm}/min, {mc} at'
              " once</td><td>{ws}-{we}</td></tr>", id=c.id, n=c.name, s=c.status,
              cpm=c.calls_per_minute, mc=c.max_concurrent, ws=c.window_start, we=c.window_end)
            for c in found]
    new = Html("")
    if ctx.principal.can(Permission.ASSISTANTS_WRITE):
        assistants = [(a.id, a.name) for a in await ctx.services.assistants.list(ctx.org_id)]
        new = h("<h2>New campaign</h2>{f}", f=form(ctx, "/campaigns", join([
            field("Name", text_input("name", "", required=True, maxlength=120)),
            field("Assistant", select("assistant_id", assistants, None, required=True)),
            field("Contacts (CSV)", text_input("contacts", type="file", accept=".csv,text/csv",
                                               required=True),
                  "A 'number' column (E.164); other columns are variables ({first_name}); "
                  "an optional 'timezone' column."),
            field("From", text_input("from", "", maxlength=40), "Optional caller ID number."),
            field("Calls per minute", text_input("calls_per_minute", 10, type="number",
                                                 min=1, max=6000)),
            field("Calls at once", text_input("max_concurrent", 5, type="number", min=1,
                                              max=500)),
            field("Attempts per contact", text_input("max_attempts", 3, type="number", min=1,
                                                     max=20)),
            field("First retry after (minutes, doubles)", text_input(
                "retry_minutes", 30, type="number", min=1)),
            field("Call window (callee's local time)", join([
                text_input("window_start", "09:00", type="time"),
                text_input("window_end", "20:00", type="time")])),
            field("Days", text_input("window_days", "1,2,3,4,5", maxlength=20),
                  "ISO weekdays, 1 = Monday."),
            field("Time zone", text_input("timezone", "", maxlength=64,
                                          placeholder="derived from each number"),
                  "Optional IANA zone (Europe/Paris) for every contact."),
            Html('<label><input type="checkbox" name="skip_bad_lines"> Create it even if some '
                 "lines are bad (they are left out)</label>"),
            Html('<button type="submit">Create campaign</button>'),
        ]), cls="stack", multipart=True))
    body = h("{t}{new}", t=table(["Campaign", "Status", "Pace", "Window"], rows,
                                 "No campaigns yet."), new=new)
    return page(ctx, "Campaigns", body)


def outcome_chart(counts: dict[str, int]) -> Html:
    """A horizontal bar chart (SVG) of the contacts' last outcomes."""
    outcomes = sorted(((k[8:], v) for k, v in counts.items() if k.startswith("outcome:")),
                      key=lambda kv: -kv[1])
    if not outcomes:
        return Html('<p class="empty">No outcomes yet.</p>')
    top = max(v for _, v in outcomes)
    bars = []
    for i, (name, n) in enumerate(outcomes):
        width = max(2, round(300 * n / top))
        bars.append(h(
            '<text x="0" y="{ty}" font-size="13">{name}</text>'
            '<rect x="110" y="{y}" width="{w}" height="18" fill="{c}"><title>{name}: {n}'
            '</title></rect><text x="{tx}" y="{ty}" font-size="13">{n}</text>',
            y=i * 26, ty=i * 26 + 14, w=width, tx=116 + width, name=name, n=n,
            c=OUTCOME_COLOURS.get(name, "#455a64")))
    return h('<svg class="chart" role="img" aria-label="Outcomes" width="460" height="{hgt}">'
             "{b}</svg>", hgt=len(outcomes) * 26, b=join(bars))


async def show_campaign(ctx: Ctx) -> web.StreamResponse:
    c = await _campaign(ctx)
    counts = await repo(ctx).counts(c.id)
    contacts = await repo(ctx).contacts(c.id, limit=1000)
    if ctx.api:
        return respond(ctx, {**c.to_json(), "counts": counts,
                             "contacts": [x.to_json() for x in contacts]}, web.Response)
    controls = Html("")
    if ctx.principal.can(Permission.ASSISTANTS_WRITE):
        controls = join(button_form(ctx, f"/campaigns/{c.id}/{action}", action.capitalize(),
                                    danger=action == "cancel")
                        for action, (allowed, _) in ACTIONS.items() if c.status in allowed)
    states = ", ".join(f"{k} {v}" for k, v in counts.items() if ":" not in k)
    rows = [h("<tr><td>{line}</td><td>{n}</td><td>{s}</td><td>{a}</td><td>{o}</td><td>{cz}</td>"
              "<td>{nx}</td></tr>", line=x.line, n=x.number, s=x.status, a=x.attempts,
              o=x.last_outcome, cz=x.last_cause, nx=(x.next_attempt_at or "")[:16])
            for x in contacts]
    body = h(
        "<p>Status: <strong>{s}</strong> · {cpm} calls/min, {mc} at once · window {ws}-{we} "
        "(days {d}{tz}) · {att} attempt(s), first retry after {rm} min</p><p>{controls}</p>"
        '<p>Contacts: {states} · <a href="/campaigns/{id}/export">Export CSV</a></p>'
        "<h2>Outcomes</h2>{chart}<h2>Contacts</h2>{t}",
        s=c.status, cpm=c.calls_per_minute, mc=c.max_concurrent, ws=c.window_start,
        we=c.window_end, d=c.window_days, tz=f", {c.timezone}" if c.timezone else "",
        att=c.max_attempts, rm=c.retry_minutes, controls=controls, states=states, id=c.id,
        chart=outcome_chart(counts),
        t=table(["Line", "Number", "Status", "Attempts", "Last outcome", "Cause", "Next try"],
                rows, "No contacts."),
    )
    return page(ctx, f"Campaign: {c.name}", body)


async def change_campaign(ctx: Ctx) -> web.StreamResponse:
    c = await _campaign(ctx)
    action = ctx.match("action")
    if action not in ACTIONS:
        raise Missing("This action")
    with user_errors():
        changed = await repo(ctx).change(ctx.org_id, c.id, action)
    await ctx.record(f"campaign.{action}", f"campaign:{c.id}", status=changed.status)
    return done(ctx, changed.to_json(), f"/campaigns/{c.id}")


async def export_campaign(ctx: Ctx) -> web.StreamResponse:
    c = await _campaign(ctx)
    body = contacts_csv(await repo(ctx).contacts(c.id))
    return web.Response(text=body, content_type="text/csv", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="campaign-{c.id}.csv"'})


ROUTES = [
    Route("GET", "/campaigns", list_campaigns, Permission.ASSISTANTS_READ, "Campaigns"),
    Route("POST", "/campaigns", create_campaign, Permission.ASSISTANTS_WRITE,
          "Create a campaign (draft) from a CSV of contacts", body={
              "type": "object", "required": ["name", "assistant_id", "contacts_csv"],
              "properties": {
                  "name": {"type": "string"}, "assistant_id": {"type": "integer"},
                  "contacts_csv": {"type": "string"}, "from": {"type": "string"},
                  "endpoint": {"type": "string"}, "max_concurrent": {"type": "integer"},
                  "calls_per_minute": {"type": "integer"}, "max_attempts": {"type": "integer"},
                  "retry_minutes": {"type": "integer"}, "window_start": {"type": "string"},
                  "window_end": {"type": "string"}, "window_days": {"type": "string"},
                  "timezone": {"type": "string"}, "skip_bad_lines": {"type": "boolean"},
              }}),
    Route("GET", "/campaigns/{campaign_id}", show_campaign, Permission.ASSISTANTS_READ,
          "A campaign: settings, contacts by status, outcomes"),
    Route("POST", "/campaigns/{campaign_id}/{action}", change_campaign,
          Permission.ASSISTANTS_WRITE, "start, pause, resume or cancel a campaign"),
    Route("GET", "/campaigns/{campaign_id}/export", export_campaign, Permission.ASSISTANTS_READ,
          "A campaign's results per contact as CSV", api=True),
]
