"""The route table: every page and API route names the permission it needs.

A :class:`Route` is registered as a page (``/calls``) and, when ``api`` is set, as a JSON route
under ``/api/v1`` (``/api/v1/calls``): the same handler serves both and looks at
:attr:`Ctx.api` only to choose the presentation. :func:`guard` wraps each handler so that nothing
runs before the caller is authenticated, has passed the CSRF check (cookie sessions), has the
second factor the org requires, and holds the route's permission.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from jsonschema import Draft202012Validator

from admin.errors import Unauthenticated, UserError, is_api
from admin.forms import parse_id, parse_json
from admin.keys import API_PREFIX, SERVICES, session_cookie_name
from admin.principal import Principal, token_principal
from admin.services import AdminServices
from callwright.accounts.audit import Actor
from callwright.accounts.roles import Forbidden, Permission, Role, minimum_role

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_JSON_BYTES = 2 * 1024 * 1024


@dataclass
class Ctx:
    """One request as a handler sees it."""

    request: web.Request
    services: AdminServices
    principal: Principal
    api: bool
    _input: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def org_id(self) -> int:
        return self.principal.org_id

    @property
    def actor(self) -> Actor:
        return self.principal.actor

    def match(self, name: str) -> str:
        return self.request.match_info[name]

    def match_int(self, name: str) -> int:
        """An id in the path; anything but one (``²``, 2^63, ``-1``) is a page that is not there."""
        return parse_id(self.request.match_info[name], name, status=404)

    async def input(self) -> dict[str, Any]:
        """The request body: a JSON object (API) or the form fields (pages)."""
        if self._input is not None:
            return self._input
        if self.request.content_type == "application/json":
            raw = await self.request.read()
            if len(raw) > MAX_JSON_BYTES:
                raise UserError("the request body is too large", status=413)
            data = parse_json(raw or b"{}")
            if not isinstance(data, dict):
                raise UserError("the request body must be a JSON object")
            self._input = data
        else:
            form = await self.request.post()
            self._input = {key: value for key, value in form.items() if key != "_csrf"}
        return self._input

    async def record(self, action: str, target: str = "", **detail: Any) -> None:
        await self.services.audit.record(
            self.actor, action, org_id=self.org_id, target=target, detail=detail
        )


RouteHandler = Callable[[Ctx], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: RouteHandler
    permission: Permission | None  # None: any member of the org (their own account pages)
    summary: str
    api: bool = True
    page: bool = True
    body: dict[str, Any] | None = None  # JSON schema of the API body: OpenAPI, and checked
    query: tuple[str, ...] = ()
    allow_without_second_factor: bool = False

    @property
    def minimum(self) -> Role:
        return Role.VIEWER if self.permission is None else minimum_role(self.permission)


def client_ip(request: web.Request) -> str:
    return request.remote or ""


async def authenticate(request: web.Request, services: AdminServices) -> Principal:
    """The principal for this request, from a Bearer token (API only) or the session cookie."""
    auth = request.headers.get("Authorization", "")
    if auth and is_api(request):
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer":
            raise Unauthenticated()
        row = await services.tokens.authenticate(token.strip())
        if row is None:
            raise Unauthenticated()
        by_token = await token_principal(services.users, row, client_ip(request))
        if by_token is None:  # its issuer left, was disabled, or no longer backs it
            raise Unauthenticated()
        return by_token
    session = await services.sessions.load(request.cookies.get(session_cookie_name(services), ""))
    if session is None or not session.totp_ok:
        raise Unauthenticated()
    user = await services.users.get(session.user_id)
    if user is None or user.disabled:
        await services.sessions.end(session)
        raise Unauthenticated()
    memberships = tuple(await services.users.memberships(user.id))
    if not memberships:
        await services.sessions.end(session)
        raise Unauthenticated()
    current = next((m for m in memberships if m.org_id == session.org_id), memberships[0])
    if current.org_id != session.org_id:
        await services.sessions.switch_org(session, current.org_id)
    actor = Actor("user", user_id=user.id, ip=client_ip(request))
    return Principal(
        actor=actor,
        org=current.org,
        role=Role(current.role),
        user=user,
        session=session,
        memberships=memberships,
    )


def check_csrf(request: web.Request, principal: Principal, form_token: str | None) -> None:
    """Cookie-authenticated writes must carry the session's CSRF token and a same-origin Origin."""
    if principal.session is None or request.method not in UNSAFE:
        return
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        if urlsplit(origin).netloc != request.host:
            raise Forbidden("This request came from another site and was refused.")
    sent = request.headers.get("X-CSRF-Token") or form_token or ""
    if not hmac.compare_digest(sent.encode(), principal.session.csrf_token.encode()):
        raise Forbidden(
            "The form had expired or was not sent from this admin. Reload the page and try again."
        )


def guard(route: Route, api: bool) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        services = request.app[SERVICES]
        principal = await authenticate(request, services)
        form_token = None
        if principal.session is not None and request.method in UNSAFE and not api:
            if request.content_type in (
                "application/x-www-form-urlencoded",
                "multipart/form-data",
            ):
                form = await request.post()
                value = form.get("_csrf")
                form_token = value if isinstance(value, str) else None
        check_csrf(request, principal, form_token)
        if principal.needs_second_factor_setup and not route.allow_without_second_factor:
            if api:
                raise Forbidden(
                    "This organisation requires a second factor for owners and admins: "
                    "set one up under Account first."
                )
            raise web.HTTPSeeOther("/account/security?required=1")
        if route.permission is not None and not principal.can(route.permission):
            raise Forbidden(
                f"Your role ({principal.role.value}) cannot do this: it needs "
                f"{route.minimum.value} or above."
            )
        ctx = Ctx(request, services, principal, api)
        if api and validator is not None and request.method in UNSAFE:
            problem = next(iter(validator.iter_errors(await ctx.input())), None)
            if problem is not None:
                where = next((str(p) for p in problem.absolute_path), None)
                if where is None and problem.validator == "required":
                    where = str(problem.message).split("'")[1]
                raise UserError(f"{where or 'body'}: {problem.message}", field=where)
        return await route.handler(ctx)

    validator = Draft202012Validator(route.body) if route.body is not None else None
    return handle


def register(app: web.Application, routes: Sequence[Route]) -> None:
    for route in routes:
        if route.page:
            app.router.add_route(route.method, route.path, guard(route, api=False))
        if route.api:
            app.router.add_route(route.method, API_PREFIX + route.path, guard(route, api=True))
