"""Numbers: E.164 numbers and extensions, their direction, kind, region and assistant."""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from admin.errors import Missing, UserError
from admin.forms import optional_id, text, user_errors
from admin.html import Html, h, join
from admin.routing import Ctx, Route
from admin.views import button_form, done, field, form, page, respond, select, table, text_input
from callwright.accounts.roles import Permission
from callwright.store.numbers import DIRECTIONS, KINDS, InvalidNumber


async def _assistant_id(ctx: Ctx, data: dict[str, Any]) -> int | None:
    assistant_id = optional_id(data, "assistant_id")
    if assistant_id is not None:
        await ctx.services.assistants.get(ctx.org_id, assistant_id)  # this org's, or 404
    return assistant_id


async def list_numbers(ctx: Ctx) -> web.StreamResponse:
    numbers = await ctx.services.numbers.list(ctx.org_id)
    if ctx.api:
        return respond(ctx, {"numbers": [dataclasses.asdict(n) for n in numbers]}, web.Response)
    assistants = await ctx.services.assistants.list(ctx.org_id)
    names = {a.id: a.name for a in assistants}
    choices: list[tuple[Any, Any]] = [("", "none")] + [(a.id, a.name) for a in assistants]
    can_write = ctx.principal.can(Permission.NUMBERS_WRITE)
    rows = []
    for n in numbers:
        if can_write:
            assign: Html = form(
                ctx,
                f"/numbers/{n.id}/assign",
                h(
                    '{s}<button type="submit">Assign</button>',
                    s=select(
                        "assistant_id",
                        choices,
                        n.assistant_id or "",
                        aria_label=f"Assistant for {n.number}",
                    ),
                ),
                cls="inline",
            )
            delete = button_form(
                ctx, f"/numbers/{n.id}/delete", "Delete", danger=True, confirm=f"Delete {n.number}?"
            )
        else:
            assign, delete = h("{a}", a=names.get(n.assistant_id or 0, "")), Html("")
        rows.append(
            h(
                "<tr><td><code>{num}</code></td><td>{k}</td><td>{d}</td><td>{r}</td>"
                "<td>{l}</td><td>{a}</td><td>{x}</td></tr>",
                num=n.number,
                k=n.kind,
                d=n.direction,
                r=n.region,
                l=n.label,
                a=assign,
                x=delete,
            )
        )
    add = Html("")
    if can_write:
        add = h(
            "<h2>Add a number</h2>{f}",
            f=form(
                ctx,
                "/numbers",
                join(
                    [
                        field(
                            "Number",
                            text_input(
                                "number",
                                required=True,
                                maxlength=40,
                                placeholder="+15551234567 or 200",
                            ),
                            hint="E.164 (+, country code, 8-15 digits) or a 2-8 digit extension.",
                        ),
                        field(
                            "Kind",
                            select("kind", [("", "automatic")] + [(k, k) for k in KINDS], ""),
                        ),
                        field(
                            "Direction",
                            select("direction", [(d, d) for d in DIRECTIONS], "inbound"),
                        ),
                        field("Region", text_input("region", maxlength=100)),
                        field("Label", text_input("label", maxlength=200)),
                        field("Assistant", select("assistant_id", choices, "")),
                        field(
                            "Outbound endpoint",
                            text_input(
                                "outbound_endpoint", maxlength=200, placeholder="PJSIP/trunk-out"
                            ),
                        ),
                        Html('<button type="submit">Add number</button>'),
                    ]
                ),
                cls="stack",
            ),
        )
    body = h(
        "{t}{a}",
        t=table(
            ["Number", "Kind", "Direction", "Region", "Label", "Assistant", ""],
            rows,
            "No numbers yet.",
        ),
        a=add,
    )
    return page(ctx, "Numbers", body)


async def create_number(ctx: Ctx) -> web.StreamResponse:
    data = await ctx.input()
    assistant_id = await _assistant_id(ctx, data)
    try:
        with user_errors():
            created = await ctx.services.numbers.create(
                ctx.org_id,
                text(data, "number", max_len=40),
                text(data, "kind", max_len=20) or None,
                text(data, "direction", max_len=20) or "inbound",
                text(data, "region", max_len=100),
                assistant_id,
                label=text(data, "label", max_len=200),
                outbound_endpoint=text(data, "outbound_endpoint", max_len=200),
            )
    except UserError as exc:
        if isinstance(exc.__cause__, InvalidNumber):
            raise UserError(f"Invalid number: {exc.message}", field="number") from exc
        raise
    await ctx.record("number.create", f"number:{created.id}", number=created.number)
    return done(ctx, dataclasses.asdict(created), "/numbers", notice="created", status=201)


async def assign_number(ctx: Ctx) -> web.StreamResponse:
    number_id = ctx.match_int("number_id")
    data = await ctx.input()
    assistant_id = await _assistant_id(ctx, data)
    updated = await ctx.services.numbers.assign(ctx.org_id, number_id, assistant_id)
    await ctx.record("number.assign", f"number:{number_id}", assistant_id=assistant_id)
    return done(ctx, dataclasses.asdict(updated), "/numbers")


async def delete_number(ctx: Ctx) -> web.StreamResponse:
    number_id = ctx.match_int("number_id")
    if not await ctx.services.numbers.delete(ctx.org_id, number_id):
        raise Missing("This number")
    await ctx.record("number.delete", f"number:{number_id}")
    return done(ctx, {"ok": True}, "/numbers", notice="deleted")


ROUTES = [
    Route("GET", "/numbers", list_numbers, Permission.NUMBERS_READ, "List numbers"),
    Route(
        "POST",
        "/numbers",
        create_number,
        Permission.NUMBERS_WRITE,
        "Add a number (invalid numbers answer 400 with the reason)",
        body={
            "type": "object",
            "required": ["number"],
            "properties": {
                "number": {"type": "string"},
                "kind": {"enum": list(KINDS)},
                "direction": {"enum": list(DIRECTIONS)},
                "region": {"type": "string"},
                "label": {"type": "string"},
                "assistant_id": {"type": ["integer", "null"]},
                "outbound_endpoint": {"type": "string"},
            },
        },
    ),
    Route(
        "POST",
        "/numbers/{number_id}/assign",
        assign_number,
        Permission.NUMBERS_WRITE,
        "Assign the number to an assistant (null: unassign)",
        body={
            "type": "object",
            "required": ["assistant_id"],  # an empty body must not unassign the number
            "properties": {"assistant_id": {"type": ["integer", "null"]}},
        },
    ),
    Route(
        "POST",
        "/numbers/{number_id}/delete",
        delete_number,
        Permission.NUMBERS_WRITE,
        "Delete a number",
    ),
]
