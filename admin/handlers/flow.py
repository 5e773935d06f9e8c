"""An assistant's dialog flow, edited as JSON: validated (by node and field) before it is saved.

``llm`` and ``intent`` nodes need an LLM: a flow with one is refused unless the assistant's LLM is
on (its ``llm`` settings say ``"enabled": true``) and the server has one (``[llm] base_url``).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from admin.errors import UserError
from admin.flow_diagram import Problem, flow_svg
from admin.forms import parse_json, text
from admin.html import Html, h, join
from admin.routing import Ctx, Route
from admin.views import done, form, page, respond, textarea
from callwright.accounts.roles import Permission
from callwright.dialog.flow import validate_flow
from callwright.store.assistants import Assistant


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


def _diagram(source: str, errors: list[dict[str, Any]]) -> Html:
    """The flow drawn (read-only), its problems on their nodes; nothing if it is not JSON."""
    try:
        definition = parse_json(source, "definition") if source else None
    except UserError:  # not JSON (too deep, broken): the errors above say so
        return Html("")
    svg = flow_svg(definition, [Problem(e["node"], e["field"], e["message"]) for e in errors])
    if not svg:
        return Html("")
    return h(
        '<figure class="flow-figure"><div class="flow-scroll">{svg}</div><figcaption class="hint">'
        "The flow as drawn from its JSON (read-only: edit the JSON below). "
        "A red node has problems: hover it to read them.</figcaption></figure>",
        svg=svg,
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
        '<p><a href="/assistants/{id}">← {name}</a> · {ver}</p>{errs}{diagram}{editor}',
        id=assistant_id,
        name=a.name,
        ver=f"version {version}" if version else "no flow saved yet",
        errs=_flow_errors(errors),
        diagram=_diagram(source, errors),
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


def llm_available(ctx: Ctx, assistant: Assistant) -> bool:
    """True when the assistant may use an LLM: its own switch is on and the server has one."""
    return assistant.llm.get("enabled") is True and bool(ctx.services.options.llm_base_url)


def _why_no_llm(ctx: Ctx, assistant: Assistant) -> str:
    if assistant.llm.get("enabled") is not True:
        return 'turn on "Use an LLM" in the assistant\'s settings'
    return "the server has no LLM (set base_url in the [llm] section of its configuration)"


def _llm_nodes(flow: Any) -> set[str]:
    """The ids of the flow's llm and intent nodes."""
    nodes = flow.get("nodes") if isinstance(flow, dict) else None
    if not isinstance(nodes, dict):
        return set()
    return {
        nid
        for nid, n in nodes.items()
        if isinstance(n, dict) and n.get("kind") in ("llm", "intent")
    }


async def save_flow(ctx: Ctx) -> web.StreamResponse:
    assistant_id = ctx.match_int("assistant_id")
    assistant = await ctx.services.assistants.get(ctx.org_id, assistant_id)
    data = await ctx.input()
    definition: Any = (
        data.get("definition") if ctx.api else text(data, "definition", max_len=1_000_000)
    )
    errors: list[dict[str, Any]] = []
    parsed: Any = definition
    if isinstance(definition, str):
        try:
            parsed = parse_json(definition, "definition")
        except UserError as exc:
            errors = [{"node": None, "field": None, "message": exc.message}]
    if not errors:
        with_llm = llm_available(ctx, assistant)
        problems = await asyncio.to_thread(
            validate_flow, parsed if isinstance(parsed, dict) else {}, llm_available=with_llm
        )
        errors = [{"node": e.node, "field": e.field, "message": str(e)} for e in problems]
        if not with_llm:
            needing = _llm_nodes(parsed)
            for e in errors:
                if e["node"] in needing and e["field"] == "kind":
                    e["message"] += f" ({_why_no_llm(ctx, assistant)})"
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
ROUTES = [
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
