"""Retention settings: the org's default, and per assistant where it differs."""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from admin.errors import UserError
from admin.forms import optional_id, user_errors, whole
from admin.html import Html, h, join
from admin.routing import Ctx, Route
from admin.views import button_form, done, field, form, page, respond, select, table, text_input
from callwright.accounts.roles import Permission
from callwright.store.retention import MAX_DAYS


async def show(ctx: Ctx) -> web.StreamResponse:
    retention = ctx.services.retention
    org_policy = await retention.effective(ctx.org_id)
    stored = await retention.list(ctx.org_id)
    assistants = await ctx.services.assistants.list(ctx.org_id)
    data = {
        "org": dataclasses.asdict(org_policy),
        "assistants": [dataclasses.asdict(p) for p in stored if p.assistant_id is not None],
    }
    if ctx.api:
        return respond(ctx, data, web.Response)
    names = {a.id: a.name for a in assistants}

    def days_form(action: str, values: Any, extra: Html | None = None) -> Html:
        return form(
            ctx,
            action,
            join(
                [
                    extra or Html(""),
                    field(
                        "Call metadata (days)",
                        text_input(
                            "metadata_days",
                            values.metadata_days,
                            type="number",
                            min=1,
                            required=True,
                        ),
                    ),
                    field(
                        "Transcripts (days)",
                        text_input(
                            "transcript_days",
                            values.transcript_days,
                            type="number",
                            min=1,
                            required=True,
                        ),
                    ),
                    field(
                        "Recordings (days)",
                        text_input(
                            "recording_days",
                            values.recording_days,
                            type="number",
                            min=1,
                            required=True,
                        ),
                    ),
                    Html('<button type="submit">Save</button>'),
                ]
            ),
            cls="stack",
        )

    def logs_form(action: str, values: Any, extra: Html | None = None) -> Html:
        def days(name: str, label: str) -> Html:
            value = getattr(values, name)
            return field(label, text_input(name, "" if value is None else value, type="number",
                                           min=1, max=MAX_DAYS), "Empty: with the call.")

        return form(ctx, action, join([
            extra or Html(""), days("notes_days", "Notes (days)"),
            days("webhook_log_days", "Webhook delivery log (days)"),
            Html('<button type="submit">Save</button>'),
        ]), cls="stack")

    def with_call(days: int | None) -> Any:
        return "with the call" if days is None else days

    rows = [
        h(
            "<tr><td>{n}</td><td>{m}</td><td>{t}</td><td>{r}</td><td>{no}</td><td>{w}</td>"
            "<td>{x}</td></tr>",
            n=names.get(p.assistant_id or 0, "?"),
            m=p.metadata_days,
            t=p.transcript_days,
            r=p.recording_days,
            no=with_call(p.notes_days),
            w=with_call(p.webhook_log_days),
            x=button_form(ctx, f"/retention/assistant/{p.assistant_id}/clear", "Use org default"),
        )
        for p in stored
        if p.assistant_id is not None
    ]
    override = days_form(
        "/retention/assistant",
        org_policy,
        field("Assistant", select("assistant_id", [(a.id, a.name) for a in assistants], "")),
    )
    logs_override = logs_form(
        "/retention/assistant/logs",
        org_policy,
        field("Assistant", select("assistant_id", [(a.id, a.name) for a in assistants], "")),
    )
    body = h(
        "<p>Calls older than these are deleted (calls on "
        '<a href="/holds">legal hold</a> are kept). Transcripts and recordings cannot outlive '
        "the call's metadata. "
        '<a href="/retention/dry-run">What the next run would delete</a></p>'
        "<h2>Organisation default</h2>"
        '<p class="hint">Source: {src}</p>{org}<h2>Assistants that differ</h2>{t}'
        "<h2>Set an assistant's own policy</h2>{o}"
        "<h2>Notes and webhook delivery log</h2><p>Kept as long as the call unless shorter "
        "here: a call's notes, and the log of its webhook deliveries once sent or given up "
        "(pending ones are kept).</p>{lo}<h3>For one assistant</h3>{la}",
        src=org_policy.source,
        org=days_form("/retention", org_policy),
        t=table(
            ["Assistant", "Metadata", "Transcripts", "Recordings", "Notes", "Webhook log", ""],
            rows,
            "All assistants use the organisation default.",
        ),
        o=override if assistants else Html("<p>No assistants yet.</p>"),
        lo=logs_form("/retention/logs", org_policy),
        la=logs_override if assistants else Html("<p>No assistants yet.</p>"),
    )
    return page(ctx, "Retention", body)


async def _save(ctx: Ctx, assistant_id: int | None) -> web.StreamResponse:
    data = await ctx.input()
    with user_errors():
        policy = await ctx.services.retention.set(
            ctx.org_id,
            assistant_id,
            metadata_days=whole(data, "metadata_days"),
            transcript_days=whole(data, "transcript_days"),
            recording_days=whole(data, "recording_days"),
        )
    await ctx.record(
        "retention.set",
        f"assistant:{assistant_id}" if assistant_id else "org",
        metadata_days=policy.metadata_days,
        transcript_days=policy.transcript_days,
        recording_days=policy.recording_days,
    )
    return done(ctx, dataclasses.asdict(policy), "/retention")


async def save_org(ctx: Ctx) -> web.StreamResponse:
    return await _save(ctx, None)


async def chosen_assistant(ctx: Ctx) -> int:
    """The body's ``assistant_id``: required, and one of the org's assistants (else 404)."""
    assistant_id = optional_id(await ctx.input(), "assistant_id")
    if assistant_id is None:
        raise UserError("Choose an assistant.", field="assistant_id")
    await ctx.services.assistants.get(ctx.org_id, assistant_id)
    return assistant_id


async def save_assistant(ctx: Ctx) -> web.StreamResponse:
    return await _save(ctx, await chosen_assistant(ctx))


def optional_days(data: dict[str, Any], name: str) -> int | None:
    """A number of days, or None for "with the call" (empty in the form, null in the API)."""
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return whole(data, name, lo=1, hi=MAX_DAYS)


async def _save_logs(ctx: Ctx, assistant_id: int | None) -> web.StreamResponse:
    data = await ctx.input()
    notes_days = optional_days(data, "notes_days")
    webhook_log_days = optional_days(data, "webhook_log_days")
    with user_errors():
        policy = await ctx.services.retention.set_logs(
            ctx.org_id, assistant_id, notes_days=notes_days, webhook_log_days=webhook_log_days)
    await ctx.record(
        "retention.set_logs",
        f"assistant:{assistant_id}" if assistant_id else "org",
        notes_days=policy.notes_days,
        webhook_log_days=policy.webhook_log_days,
    )
    return done(ctx, dataclasses.asdict(policy), "/retention")


async def save_logs_org(ctx: Ctx) -> web.StreamResponse:
    return await _save_logs(ctx, None)


async def save_logs_assistant(ctx: Ctx) -> web.StreamResponse:
    return await _save_logs(ctx, await chosen_assistant(ctx))


async def clear_assistant(ctx: Ctx) -> web.StreamResponse:
    assistant_id = ctx.match_int("assistant_id")
    await ctx.services.assistants.get(ctx.org_id, assistant_id)
    await ctx.services.retention.clear(ctx.org_id, assistant_id)
    await ctx.record("retention.clear", f"assistant:{assistant_id}")
    return done(ctx, {"ok": True}, "/retention")


_DAY_PROPS: dict[str, Any] = {
    k: {"type": "integer", "minimum": 1}
    for k in ("metadata_days", "transcript_days", "recording_days")
}
_DAYS: dict[str, Any] = {"type": "object", "required": sorted(_DAY_PROPS), "properties": _DAY_PROPS}
_ASSISTANT_DAYS: dict[str, Any] = {
    "type": "object",
    "required": [*sorted(_DAY_PROPS), "assistant_id"],
    "properties": {**_DAY_PROPS, "assistant_id": {"type": "integer"}},
}

_LOG_PROPS: dict[str, Any] = {
    k: {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_DAYS}
    for k in ("notes_days", "webhook_log_days")
}
_LOGS: dict[str, Any] = {"type": "object", "required": sorted(_LOG_PROPS),
                         "properties": _LOG_PROPS}
_ASSISTANT_LOGS: dict[str, Any] = {
    "type": "object",
    "required": [*sorted(_LOG_PROPS), "assistant_id"],
    "properties": {**_LOG_PROPS, "assistant_id": {"type": "integer"}},
}

ROUTES = [
    Route(
        "GET",
        "/retention",
        show,
        Permission.RETENTION_READ,
        "Retention: the org default and assistant overrides",
    ),
    Route(
        "POST",
        "/retention",
        save_org,
        Permission.RETENTION_WRITE,
        "Set the org's default retention",
        body=_DAYS,
    ),
    Route(
        "POST",
        "/retention/assistant",
        save_assistant,
        Permission.RETENTION_WRITE,
        "Set an assistant's own retention",
        body=_ASSISTANT_DAYS,
    ),
    Route(
        "POST",
        "/retention/logs",
        save_logs_org,
        Permission.RETENTION_WRITE,
        "Set how long the org keeps notes and webhook deliveries (null: with the call)",
        body=_LOGS,
    ),
    Route(
        "POST",
        "/retention/assistant/logs",
        save_logs_assistant,
        Permission.RETENTION_WRITE,
        "Set how long an assistant's calls keep notes and webhook deliveries",
        body=_ASSISTANT_LOGS,
    ),
    Route(
        "POST",
        "/retention/assistant/{assistant_id}/clear",
        clear_assistant,
        Permission.RETENTION_WRITE,
        "Remove an assistant's own retention (use the org's)",
    ),
]
