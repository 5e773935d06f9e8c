"""No route answers 5xx, whatever a signed-in owner sends (issue 9, defect 5).

The routes come from the running app's router, so a new route is covered without editing this
file. For each one Hypothesis makes a few requests: arbitrary strings (and some known-bad ones:
``²``, ``①``, 2^63, ``-1``…) or one of the org's real ids in the path parameters; strings in the
query parameters (of a GET: every name a route declares or a page's GET form uses, and ``next``);
strings (pages) or any JSON values (API) in the body fields: the route's JSON-schema properties
and the fields of every page form that posts to it. Every answer must be below 500.

Hypothesis runs in a worker thread and sends each request to the test's event loop, which
serves the app meanwhile (so the loop is never blocked). Each route starts from a fresh session,
with the org's two-step requirement off (a fuzzed ``POST /org`` may turn it on); routes that
delete or sign out run last, so the others still find the org's data.
"""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from admin.app import all_routes
from admin.keys import API_PREFIX, SERVICES, session_cookie_name
from tests.admin.conftest import Admin, AdminFactory, LoggedIn, OrgFixture

EXAMPLES = 8  # per route (one for a route that takes no input); about 100 routes
_PARAM = re.compile(r"\{(\w+)\}")
_FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.DOTALL | re.IGNORECASE)
_ATTR = re.compile(r'\b(action|method)="([^"]*)"', re.IGNORECASE)
_NAME = re.compile(r'\bname="([^"]+)"')
_CSRF = re.compile(r'name="_csrf" value="([^"]+)"')
_LAST = ("delete", "remove", "revoke", "logout", "disable", "switch")

NASTY = [
    "",
    "²",
    "①",
    "١٢",
    "１",
    "0",
    "-1",
    "1.5",
    "1e9",
    " 1",
    str(2**63 - 1),
    str(2**63),
    "9" * 40,
    "none",
    "on",
    "null",
    "true",
    "[]",
    "{}",
    '{"a": ' * 70 + "1" + "}" * 70,
    "[" * 2000,
    "/\t/evil.example",
    "//evil.example",
    "\\evil.example",
    "../../etc/passwd",
    "%00",
    "\x00",
    "'; DROP TABLE calls; --",
    'foo" OR bar*',
    "<script>alert(1)</script>",
    "2026-02-30",
    "9999-12-31",
    "a" * 300,
]
# Values a field of some route accepts, so that a request gets past its first field more often.
PLAUSIBLE = ["1", "5", "30", "170", "en", "viewer", "editor", "admin", "inbound", "api_key"]
PLAUSIBLE += ["on", "+15551234567", "200", "A name", "Some text.", "PJSIP/200", "alpha"]
TEXT = st.one_of(st.sampled_from(NASTY), st.text(max_size=40))
JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=2**63 - 2, max_value=2**70),
        st.floats(),
        TEXT,
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


@dataclass(frozen=True)
class Target:
    method: str
    template: str  # as the router has it: "/api/v1/assistants/{assistant_id}"
    api: bool
    query: tuple[str, ...]
    fields: tuple[str, ...]

    @property
    def params(self) -> list[str]:
        return _PARAM.findall(self.template)


def path_pattern(template: str) -> re.Pattern[str]:
    """Matches the paths ``template`` serves (a parameter: one path segment)."""
    parts = _PARAM.split(template)  # literal, name, literal, name, …
    return re.compile(
        "".join(re.escape(p) if i % 2 == 0 else "[^/]+" for i, p in enumerate(parts)) + "$"
    )


def router_targets(admin: Admin) -> list[tuple[str, str]]:
    """(method, path template) of every route the app serves, but its static files."""
    found = set()
    for route in admin.app.router.routes():
        template = route.resource.canonical if route.resource is not None else ""
        if route.method in ("HEAD", "*") or not template or template.startswith("/static"):
            continue
        found.add((route.method, template))
    return sorted(found)


async def signed_in(admin: Admin, client: Any, org: OrgFixture) -> LoggedIn:
    """A fresh session of the org's owner in ``client``, made without the sign-in form (a
    fuzzed wrong password must not lock the owner out of the next route)."""
    services = admin.app[SERVICES]
    user = await services.users.by_email(org.users["owner"])
    assert user is not None
    started = await services.sessions.start(
        user_id=user.id, org_id=org.id, totp_ok=True, ip="127.0.0.1"
    )
    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies(
        {session_cookie_name(services): started.cookie_value}, response_url=client.make_url("/")
    )
    return LoggedIn(client, org.users["owner"])


def fill(template: str, ids: dict[str, str]) -> str:
    return _PARAM.sub(lambda m: quote(ids.get(m.group(1), "1"), safe=""), template)


async def page_forms(who: LoggedIn, pages: Iterable[str]) -> list[tuple[str, str, list[str]]]:
    """(method, action path, field names) of every form on the given pages."""
    forms = []
    for path in pages:
        response = await who.client.get(path, allow_redirects=False)
        if response.status != 200 or "html" not in response.headers.get("Content-Type", ""):
            continue
        for attrs, inner in _FORM.findall(await response.text()):
            found = {k.lower(): html.unescape(v) for k, v in _ATTR.findall(attrs)}
            action = found.get("action", path).split("?", 1)[0]
            forms.append((found.get("method", "get").upper(), action, _NAME.findall(inner)))
    return forms


async def build_targets(admin: Admin, who: LoggedIn, ids: dict[str, str]) -> list[Target]:
    declared = {(r.method, r.path): r for r in all_routes()}
    routes = router_targets(admin)
    pages = [fill(t, ids) for m, t in routes if m == "GET" and not t.startswith(API_PREFIX)]
    forms = await page_forms(who, pages)
    described: list[tuple[str, str, bool, set[str], set[str]]] = []
    for method, template in routes:
        api = template.startswith(API_PREFIX + "/")
        route = declared.get((method, template[len(API_PREFIX) :] if api else template))
        matches = path_pattern(template)
        named = {
            n for m, action, names in forms if m == method and matches.match(action) for n in names
        }
        named.discard("_csrf")
        schema = set((route.body or {}).get("properties", {})) if route is not None else set()
        query = set(route.query) if route is not None else set()
        if method == "GET":
            query, named = query | named | {"next"}, set()  # the sign-in pages read ?next=
        described.append((method, template, api, query, named | schema))
    # A GET gets every query name there is (a handler ignores the others); a write that nothing
    # describes (the two-step form, sign-out…) gets every field name there is.
    every_query = set().union(*(query for _, _, _, query, _ in described))
    every_field = set().union(*(fields for _, _, _, _, fields in described)) | {"code", "next"}
    targets = [
        Target(
            method,
            template,
            api,
            tuple(sorted(every_query if method == "GET" else query)),
            tuple(sorted(fields if fields or method == "GET" else every_field)),
        )
        for method, template, api, query, fields in described
    ]
    return sorted(targets, key=lambda t: (any(w in t.template for w in _LAST), t.template))


async def send(
    who: LoggedIn, target: Target, path: str, query: dict[str, str], body: dict[str, Any]
) -> tuple[int, str]:
    csrf = await who.csrf()
    if target.template == "/login" and target.method == "POST":  # the form's own token
        found = _CSRF.search(await (await who.client.get("/login")).text())
        csrf = found.group(1) if found else ""
    if target.method == "GET":
        response = await who.client.get(path, params=query, allow_redirects=False)
    elif target.api:
        response = await who.client.request(
            target.method,
            path,
            params=query,
            json=body,
            headers={"X-CSRF-Token": csrf},
            allow_redirects=False,
        )
    else:
        form = {k: v if isinstance(v, str) else str(v) for k, v in body.items()}
        form["_csrf"] = csrf
        response = await who.client.request(
            target.method, path, params=query, data=form, allow_redirects=False
        )
    return response.status, (await response.read())[:300].decode("utf-8", "replace")


def fuzz(
    target: Target, who: LoggedIn, ids: dict[str, str], loop: asyncio.AbstractEventLoop
) -> None:
    """Hypothesis's examples for one route (runs in a worker thread)."""
    known = st.sampled_from([*ids.values(), *PLAUSIBLE])
    params = {name: st.one_of(st.just(ids.get(name, "1")), known, TEXT) for name in target.params}
    values = st.one_of(known, TEXT)
    if target.api:
        values = st.one_of(known.map(lambda v: int(v) if v.isascii() and v.isdigit() else v), JSON)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.data())
    def check(data: st.DataObject) -> None:
        path = fill(target.template, {n: data.draw(v, label=n) for n, v in params.items()})
        query = data.draw(
            st.fixed_dictionaries({}, optional={n: st.one_of(known, TEXT) for n in target.query}),
            label="query",
        )
        body = data.draw(
            st.fixed_dictionaries({}, optional={n: values for n in target.fields}), label="body"
        )
        status, text = asyncio.run_coroutine_threadsafe(
            send(who, target, path, query, body), loop
        ).result(timeout=60)
        assert status < 500, (target.method, path, query, body, status, text)

    check()


async def test_no_route_answers_5xx_to_arbitrary_input(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org: OrgFixture = await admin.org("alpha")
    viewer_id = await admin.db.fetch_value(
        "SELECT id FROM users WHERE email = ?", (org.users["viewer"],)
    )
    ids = {
        "uid": org.call_uid,
        "assistant_id": str(org.assistant_id),
        "number_id": str(org.number_id),
        "credential_id": str(org.credential_id),
        "doc_id": str(org.doc_id),
        "token_id": str(org.token_id),
        "user_id": str(viewer_id),
    }
    client = await admin.client()
    owner = await signed_in(admin, client, org)
    targets = await build_targets(admin, owner, ids)
    assert len(targets) > 80 and all(t.fields for t in targets if t.method == "POST")
    loop = asyncio.get_running_loop()
    for target in targets:
        await admin.db.execute("UPDATE orgs SET require_totp = 0")
        owner = await signed_in(admin, client, org)
        await owner.csrf()
        await asyncio.to_thread(fuzz, target, owner, ids, loop)
