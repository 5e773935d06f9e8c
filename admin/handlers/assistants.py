"""Assistants: their settings, and their dialog flow edited as JSON with validation."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from aiohttp import web

from admin.errors import Missing, UserError
from admin.forms import flag, json_value, optional_id, text, user_errors, whole
from admin.html import Html, h, join
from admin.routing import Ctx, Route
from admin.views import (
    button_form,
    done,
    field,
    form,
    page,
    respond,
    select,
    table,
    text_input,
    textarea,
    yes_no,
)
from callwright.accounts.roles import Permission
from callwright.dialog.flow import validate_flow
from callwright.store.assistants import Assistant

_TEXT = ("name", "language", "greeting", "system_prompt", "consent_prompt", "unknown_input_reply")


def assistant_json(a: Assistant) -> dict[str, Any]:
    return dataclasses.asdict(a)


async def assistant_fields(ctx: Ctx, partial: bool) -> dict[str, Any]:
    """The fields to save, from a JSON body (repository shape) or the settings form."""
    data = await ctx.input()
    fields: dict[str, Any] = {}
    for name in _TEXT:
        if name in data or not partial:
            fields[name] = text(data, name, default="en" if name == "language" else "")
    if ctx.api:
        for name, kind in (
            ("stt", dict),
            ("tts", dict),
            ("llm", dict),
            ("media", dict),
            ("tools", list),
            ("transfer_targets", list),
        ):
            if name in data:
                fields[name] = json_value(data, name, kind, api=True)
        if "record_calls" in data:
            if not isinstance(data["record_calls"], bool):
                raise UserError("record_calls: expected true or false", field="record_calls")
            fields["record_calls"] = data["record_calls"]
        return fields
    fields["record_calls"] = flag(data.get("record_calls"))
    stt: dict[str, Any] = {"engine": text(data, "stt_engine", max_len=50) or "vosk"}
    if text(data, "stt_model", max_len=200):
        stt["model"] = text(data, "stt_model")
    tts: dict[str, Any] = {"engine": text(data, "tts_engine", max_len=50) or "espeak-ng"}
    if text(data, "tts_voice", max_len=100):
        tts["voice"] = text(data, "tts_voice")
    if text(data, "tts_rate", max_len=5):
        tts["rate"] = whole(data, "tts_rate")
    llm: dict[str, Any] = {"enabled": flag(data.get("llm_enabled"))}
    if text(data, "llm_model", max_len=200):
        llm["model"] = text(data, "llm_model")
    credential_id = optional_id(data, "llm_credential_id")
    if credential_id is not None:
        await ctx.services.credentials.get_by_id(ctx.org_id, credential_id)  # same org, or 404
    llm["credential_id"] = credential_id
    fields.update(stt=stt, tts=tts, llm=llm)
    fields["tools"] = json_value(data, "tools", list, api=False)
    fields["transfer_targets"] = json_value(data, "transfer_targets", list, api=False)
    return fields


async def _settings_form(ctx: Ctx, a: Assistant | None, action: str) -> Html:
    creds = await ctx.services.credentials.list(ctx.org_id)
    cred_choices: list[tuple[Any, Any]] = [("", "none")] + [
        (c.id, f"{c.name} (…{c.last_four})") for c in creds
    ]
    v: dict[str, Any] = {name: getattr(a, name) if a else "" for name in _TEXT}
    if not v["language"]:
        v["language"] = "en"
    stt = a.stt if a else {}
    tts = a.tts if a else {}
    llm = a.llm if a else {}
    checked = bool(a and a.record_calls)
    body = join(
        [
            field("Name", text_input("name", v["name"], required=True, maxlength=200)),
            field(
                "Language",
                text_input("language", v["language"], required=True),
                hint="A tag like en, ko or en-GB.",
            ),
            field("Greeting", textarea("greeting", v["greeting"], rows=2)),
            field(
                "Prompt (LLM instructions)", textarea("system_prompt", v["system_prompt"], rows=6)
            ),
            field(
                "When the caller is not understood",
                textarea("unknown_input_reply", v["unknown_input_reply"], rows=2),
            ),
            h(
                "<fieldset><legend>Speech</legend>{a}{b}{c}{d}{e}</fieldset>",
                a=field("STT engine", text_input("stt_engine", stt.get("engine", "vosk"))),
                b=field("STT model", text_input("stt_model", stt.get("model", ""))),
                c=field("TTS engine", text_input("tts_engine", tts.get("engine", "espeak-ng"))),
                d=field("TTS voice", text_input("tts_voice", tts.get("voice", ""))),
                e=field(
                    "TTS rate (words/min)",
                    text_input("tts_rate", tts.get("rate", ""), inputmode="numeric"),
                ),
            ),
            h(
                "<fieldset><legend>LLM</legend>"
                '<label class="check"><input type="checkbox" name="llm_enabled"{c}> '
                "Use an LLM</label>"
                "{m}{k}</fieldset>",
                c=Html(" checked") if llm.get("enabled") else "",
                m=field("Model", text_input("llm_model", llm.get("model", ""))),
                k=field(
                    "API key credential",
                    select("llm_credential_id", cred_choices, llm.get("credential_id") or ""),
                ),
            ),
            h(
                "<fieldset><legend>Recording</legend>"
                '<label class="check"><input type="checkbox" name="record_calls"{c}> Record calls'
                "</label>{p}</fieldset>",
                c=Html(" checked") if checked else "",
                p=field("Consent prompt", textarea("consent_prompt", v["consent_prompt"], rows=2)),
            ),
            field(
                "Tools (JSON list)",
                textarea(
                    "tools", json.dumps(a.tools if a else [], indent=2), rows=4, class_="code"
                ),
            ),
            field(
                "Transfer targets (JSON list)",
                textarea(
                    "transfer_targets",
                    json.dumps(a.transfer_targets if a else [], indent=2),
                    rows=4,
                    class_="code",
                ),
                hint='e.g. [{"name": "sales", "endpoint": "PJSIP/200"}]',
            ),
            Html('<button type="submit">Save</button>'),
        ]
    )
    return form(ctx, action, body, cls="stack")


async def list_assistants(ctx: Ctx) -> web.StreamResponse:
    items = await ctx.services.assistants.list(ctx.org_id)
    if ctx.api:
        return respond(ctx, {"assistants": [assistant_json(a) for a in items]}, web.Response)
    rows = [
        h(
            '<tr><td><a href="/assistants/{id}">{n}</a></td><td>{l}</td><td>{r}</td>'
            "<td>{llm}</td></tr>",
            id=a.id,
            n=a.name,
            l=a.language,
            r=yes_no(a.record_calls),
            llm=yes_no(bool(a.llm.get("enabled"))),
        )
        for a in items
    ]
    new = Html("")
    if ctx.principal.can(Permission.ASSISTANTS_WRITE):
        new = h("<h2>New assistant</h2>{f}", f=await _settings_form(ctx, None, "/assistants"))
    body = h("{t}{n}", t=table(["Name", "Language", "Records", "LLM"], rows), n=new)
    return page(ctx, "Assistants", body)


async def create_assistant(ctx: Ctx) -> web.StreamResponse:
    fields = await assistant_fields(ctx, partial=False)
    name = fields.pop("name")
    with user_errors("name"):
        created = await ctx.services.assistants.create(ctx.org_id, name, **fields)
    await ctx.record("assistant.create", f"assistant:{created.id}", name=created.name)
    return done(
        ctx, assistant_json(created), f"/assistants/{created.id}", notice="created", status=201
    )


async def show_assistant(ctx: Ctx) -> web.StreamResponse:
    a = await ctx.services.assistants.get(ctx.org_id, ctx.match_int("assistant_id"))
    if ctx.api:
        return respond(ctx, assistant_json(a), web.Response)
    can_write = ctx.principal.can(Permission.ASSISTANTS_WRITE)
    links = h(
        '<p class="subnav"><a href="/assistants/{id}/flow">Dialog flow</a> · '
        '<a href="/assistants/{id}/knowledge">Knowledge</a> · '
        '<a href="/calls?assistant={id}">Calls</a></p>',
        id=a.id,
    )
    if can_write:
        settings = await _settings_form(ctx, a, f"/assistants/{a.id}")
        delete = button_form(
            ctx,
            f"/assistants/{a.id}/delete",
            "Delete assistant",
            danger=True,
            confirm=f"Delete {a.name}? Its numbers become unassigned.",
        )
    else:
        settings = h(
            "<pre>{j}</pre>", j=json.dumps(assistant_json(a), indent=2, ensure_ascii=False)
        )
        delete = Html("")
    return page(ctx, a.name, h("{l}{s}{d}", l=links, s=settings, d=delete))


async def update_assistant(ctx: Ctx) -> web.StreamResponse:
    assistant_id = ctx.match_int("assistant_id")
    await ctx.services.assistants.get(ctx.org_id, assistant_id)
    fields = await assistant_fields(ctx, partial=ctx.api)
    with user_errors():
        updated = await ctx.services.assistants.update(ctx.org_id, assistant_id, **fields)
    await ctx.record("assistant.update", f"assistant:{assistant_id}", fields=sorted(fields))
    return done(ctx, assistant_json(updated), f"/assistants/{assistant_id}")


async def delete_assistant(ctx: Ctx) -> web.StreamResponse:
    assistant_id = ctx.match_int("assistant_id")
    if not await ctx.services.assistants.delete(ctx.org_id, assistant_id):
        raise Missing("This assistant")
    await ctx.record("assistant.delete", f"assistant:{assistant_id}")
    return done(ctx, {"ok": True}, "/assistants", notice="deleted")


def _flow_errors(errors: list[dict[str, Any]]) -> Html:
    if not errors:
        return Html("")
    items = join(
        h(
            '<li><a href="#flow" data-node="{node}" data-field="{field}">{where}</a>{m}</li>',
            node=e["node"] or "",
            field=e["field"] or "",
            where=(f"node {e['node']}" if e["node"] else "flow")
            + (f", {e['field']}" if e["field"] else "")
            + ": ",
            m=e["message"],
        )
        for e in errors
    )
    return h(
        '<div class="flash error" role="alert"><p>The flow was not saved: {n} '
        'problem(s).</p><ul class="flow-errors">{i}</ul></div>',
        n=len(errors),
        i=items,
    )


async def _flow_page(
    ctx: Ctx,
    assistant_id: int,
    source: str,
    version: int | None,
    errors: list[dict[str, Any]],
    status: int = 200,
) -> web.StreamResponse:
    a = await ctx.services.assistants.get(ctx.org_id, assistant_id)
    editor = textarea("definition", source, rows=28, id="flow", class_="code", spellcheck="false")
    if ctx.principal.can(Permission.ASSISTANTS_WRITE):
        editor = form(
            ctx,
            f"/assistants/{assistant_id}/flow",
            h('{e}<button type="submit">Validate and save</button>', e=editor),
            cls="stack",
        )
    body = h(
        '<p><a href="/assistants/{id}">← {name}</a> · {ver}</p>{errs}{editor}',
        id=assistant_id,
        name=a.name,
        ver=f"version {version}" if version else "no flow saved yet",
        errs=_flow_errors(errors),
        editor=editor,
    )
    return page(ctx, f"Dialog flow: {a.name}", body, status=status)


async def show_flow(ctx: Ctx) -> web.StreamResponse:
    assistant_id = ctx.match_int("assistant_id")
    await ctx.services.assistants.get(ctx.org_id, assistant_id)
    latest = await ctx.services.assistants.latest_flow(assistant_id, org_id=ctx.org_id)
    version, definition = latest if latest else (None, None)
    if ctx.api:
        return respond(ctx, {"version": version, "definition": definition}, web.Response)
    source = json.dumps(definition, indent=2, ensure_ascii=False) if definition else ""
    return await _flow_page(ctx, assistant_id, source, version, [])


async def save_flow(ctx: Ctx) -> web.StreamResponse:
    assistant_id = ctx.match_int("assistant_id")
    await ctx.services.assistants.get(ctx.org_id, assistant_id)
    data = await ctx.input()
    definition: Any = (
        data.get("definition") if ctx.api else text(data, "definition", max_len=1_000_000)
    )
    errors: list[dict[str, Any]] = []
    parsed: Any = definition
    if isinstance(definition, str):
        try:
            parsed = json.loads(definition)
        except ValueError as exc:
            errors = [{"node": None, "field": None, "message": f"not valid JSON: {exc}"}]
    if not errors:
        errors = [
            {"node": e.node, "field": e.field, "message": str(e)}
            for e in validate_flow(parsed if isinstance(parsed, dict) else {})
        ]
        if not isinstance(parsed, dict):
            errors.insert(0, {"node": None, "field": None, "message": "a flow is a JSON object"})
    if errors:
        if ctx.api:
            return web.json_response(
                {"error": {"status": 422, "message": "the flow is invalid", "problems": errors}},
                status=422,
            )
        source = definition if isinstance(definition, str) else json.dumps(definition)
        return await _flow_page(ctx, assistant_id, source, None, errors, status=422)
    version = await ctx.services.assistants.save_flow(
        assistant_id, parsed, ctx.actor.label, org_id=ctx.org_id
    )
    await ctx.record("flow.save", f"assistant:{assistant_id}", version=version)
    return done(ctx, {"version": version}, f"/assistants/{assistant_id}/flow", status=201)


_ID = "/assistants/{assistant_id}"
_ASSISTANT_BODY = {
    "type": "object",
    "properties": {
        **{k: {"type": "string"} for k in _TEXT},
        "record_calls": {"type": "boolean"},
        "stt": {"type": "object"},
        "tts": {"type": "object"},
        "llm": {"type": "object"},
        "media": {"type": "object"},
        "tools": {"type": "array"},
        "transfer_targets": {"type": "array"},
    },
}

ROUTES = [
    Route("GET", "/assistants", list_assistants, Permission.ASSISTANTS_READ, "List assistants"),
    Route(
        "POST",
        "/assistants",
        create_assistant,
        Permission.ASSISTANTS_WRITE,
        "Create an assistant",
        body={**_ASSISTANT_BODY, "required": ["name"]},
    ),
    Route("GET", _ID, show_assistant, Permission.ASSISTANTS_READ, "An assistant's settings"),
    Route(
        "POST",
        _ID,
        update_assistant,
        Permission.ASSISTANTS_WRITE,
        "Change an assistant's settings (API: only the fields sent)",
        body=_ASSISTANT_BODY,
    ),
    Route(
        "POST",
        _ID + "/delete",
        delete_assistant,
        Permission.ASSISTANTS_WRITE,
        "Delete an assistant",
    ),
    Route(
        "GET",
        _ID + "/flow",
        show_flow,
        Permission.ASSISTANTS_READ,
        "The assistant's latest dialog flow",
    ),
    Route(
        "POST",
        _ID + "/flow",
        save_flow,
        Permission.ASSISTANTS_WRITE,
        "Validate and save a new flow version (422 lists problems by node and field)",
        body={
            "type": "object",
            "required": ["definition"],
            "properties": {"definition": {"type": "object"}},
        },
    ),
]
