"""The page chrome and the two ways every handler answers: a page, or JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from admin.html import Html, attrs, esc, h, join, options
from admin.routing import Ctx
from callwright.accounts.roles import Permission

_NAV: tuple[tuple[str, str, Permission | None], ...] = (
    ("/", "Dashboard", Permission.CALLS_READ),
    ("/calls", "Calls", Permission.CALLS_READ),
    ("/outbound", "Outbound calls", Permission.CALLS_READ),
    ("/campaigns", "Campaigns", Permission.ASSISTANTS_READ),
    ("/pbx", "PBX now", Permission.NUMBERS_READ),
    ("/assistants", "Assistants", Permission.ASSISTANTS_READ),
    ("/numbers", "Numbers", Permission.NUMBERS_READ),
    ("/credentials", "Credentials", Permission.CREDENTIALS_READ),
    ("/webhooks", "Webhooks", Permission.CREDENTIALS_READ),
    ("/retention", "Retention", Permission.RETENTION_READ),
    ("/requests", "Requests", Permission.PRIVACY_REQUESTS),
    ("/restrictions", "Restrictions", Permission.PRIVACY_REQUESTS),
    ("/team", "Team", Permission.USERS_READ),
    ("/tokens", "API tokens", Permission.TOKENS_MANAGE),
    ("/audit", "Audit log", Permission.AUDIT_READ),
    ("/org", "Organisation", Permission.ORG_SETTINGS),
    ("/org/consent", "Consent on calls", Permission.ORG_SETTINGS),
    ("/models", "Speech models", Permission.ORG_SETTINGS),
    ("/setup", "Setup", Permission.ORG_SETTINGS),
    ("/account", "Account", None),
)

NOTICES = {
    "saved": "Saved.",
    "created": "Created.",
    "deleted": "Deleted.",
    "revoked": "Revoked.",
    "added": "Added.",
    "accepted": "Invitation accepted: switch organisation at the top to work there.",
    "declined": "Invitation declined.",
    "switched": "Switched organisation.",
    "totp-on": "Two-step sign-in is on.",
    "totp-off": "Two-step sign-in is off.",
    "password": "Password changed. Your other sessions were signed out.",
}


def csrf_field(ctx: Ctx) -> Html:
    session = ctx.principal.session
    token = session.csrf_token if session else ""
    return h('<input type="hidden" name="_csrf" value="{t}">', t=token)


def form(ctx: Ctx, action: str, body: Html, *, cls: str = "", multipart: bool = False) -> Html:
    enctype = "multipart/form-data" if multipart else None
    return h(
        '<form method="post"{a}>{csrf}{body}</form>',
        a=attrs(action=action, class_=cls or None, enctype=enctype),
        csrf=csrf_field(ctx),
        body=body,
    )


def button_form(
    ctx: Ctx, action: str, label: str, *, danger: bool = False, confirm: str = ""
) -> Html:
    return form(
        ctx,
        action,
        h(
            "<button{a}>{label}</button>",
            a=attrs(
                type="submit", class_="danger" if danger else None, data_confirm=confirm or None
            ),
            label=label,
        ),
        cls="inline",
    )


def field(label: str, control: Html, hint: str = "", error: str = "") -> Html:
    return h(
        '<label class="field{bad}"><span>{label}</span>{control}{hint}{error}</label>',
        bad=" invalid" if error else "",
        label=label,
        control=control,
        hint=h('<small class="hint">{t}</small>', t=hint) if hint else "",
        error=h('<small class="error" role="alert">{t}</small>', t=error) if error else "",
    )


def text_input(name: str, value: Any = "", **extra: Any) -> Html:
    return h("<input{a}>", a=attrs(name=name, value="" if value is None else value, **extra))


def textarea(name: str, value: Any = "", rows: int = 4, **extra: Any) -> Html:
    return h("<textarea{a}>{v}</textarea>", a=attrs(name=name, rows=rows, **extra), v=value)


def select(name: str, choices: list[tuple[Any, Any]], selected: Any, **extra: Any) -> Html:
    return h("<select{a}>{o}</select>", a=attrs(name=name, **extra), o=options(choices, selected))


def table(headers: list[str], rows: list[Html], empty: str = "Nothing here yet.") -> Html:
    if not rows:
        return h('<p class="empty">{e}</p>', e=empty)
    head = join(h("<th>{x}</th>", x=x) for x in headers)
    return h(
        '<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody>'
        "</table></div>",
        head=head,
        rows=join(rows),
    )


def _nav(ctx: Ctx) -> Html:
    p = ctx.principal
    here = ctx.request.path
    links = []
    for href, label, permission in _NAV:
        if permission is not None and not p.can(permission):
            continue
        current = href == here or (href != "/" and here.startswith(href + "/"))
        links.append(
            h(
                "<a{a}>{label}</a>",
                a=attrs(href=href, aria_current="page" if current else None),
                label=label,
            )
        )
    switcher = Html("")
    if len(p.memberships) > 1:
        choices = [(m.org.slug, f"{m.org.name} ({m.role})") for m in p.memberships]
        switcher = form(
            ctx,
            "/org/switch",
            h(
                '<label class="sr-only" for="org-switch">Organisation</label>{sel}'
                '<button type="submit">Switch</button>',
                sel=select("org", choices, p.org.slug, id="org-switch"),
            ),
            cls="inline org-switch",
        )
    else:
        switcher = h('<span class="org-name">{n}</span>', n=p.org.name)
    logout = form(
        ctx, "/logout", Html('<button type="submit" class="link">Sign out</button>'), cls="inline"
    )
    return h(
        '<header class="top"><a class="brand" href="/">Callwright</a>{switcher}'
        '<span class="who">{who} · {role}</span>{logout}</header>'
        '<nav class="main" aria-label="Main">{links}</nav>',
        switcher=switcher,
        who=p.display,
        role=p.role.value,
        logout=logout,
        links=join(links),
    )


def document(title: str, body: Html, *, script: bool = True) -> str:
    return h(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>{title} · Callwright</title>"
        '<link rel="stylesheet" href="/static/admin.css">{script}</head>'
        "<body>{body}</body></html>",
        title=title,
        body=body,
        script=Html('<script src="/static/admin.js" defer></script>') if script else "",
    )


def page(ctx: Ctx, title: str, body: Html, status: int = 200) -> web.Response:
    notice_key = ctx.request.query.get("notice", "")
    notice = NOTICES.get(notice_key)
    flash = h('<p class="flash ok" role="status">{n}</p>', n=notice) if notice else ""
    content = h(
        '{nav}<main id="main"><h1>{title}</h1>{flash}{body}</main>',
        nav=_nav(ctx),
        title=title,
        flash=flash,
        body=body,
    )
    return web.Response(text=document(title, content), status=status, content_type="text/html")


def respond(
    ctx: Ctx, data: Any, render: Callable[[], web.Response], status: int = 200
) -> web.StreamResponse:
    """JSON ``data`` for the API, else the page ``render`` builds."""
    if ctx.api:
        return web.json_response(data, status=status, dumps=_dumps)
    return render()


def done(
    ctx: Ctx, data: Any, location: str, notice: str = "saved", status: int = 200
) -> web.StreamResponse:
    """After a change: JSON for the API, a redirect (303, with a notice) for the pages."""
    if ctx.api:
        return web.json_response(data, status=status, dumps=_dumps)
    sep = "&" if "?" in location else "?"
    raise web.HTTPSeeOther(f"{location}{sep}notice={notice}")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def yes_no(value: bool) -> str:
    return "yes" if value else "no"


def esc_json(value: Any) -> Html:
    return esc(json.dumps(value, ensure_ascii=False, indent=2))
