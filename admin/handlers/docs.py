"""The JSON API's description: OpenAPI 3.1 built from the route table, and a page listing it."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from admin.html import h, join
from admin.keys import API_PREFIX
from admin.routing import Ctx, Route
from admin.views import page, table

_PARAM = re.compile(r"\{(\w+)\}")
_ERROR = {"$ref": "#/components/responses/Error"}


def _operation_id(route: Route) -> str:
    words = re.sub(r"[{}]", "", route.path).strip("/").replace("/", "_") or "root"
    return f"{route.method.lower()}_{words}"


def openapi_spec(routes: list[Route]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not route.api:
            continue
        params: list[dict[str, Any]] = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "string" if name == "uid" else "integer"},
            }
            for name in _PARAM.findall(route.path)
        ]
        params += [
            {"name": q, "in": "query", "required": False, "schema": {"type": "string"}}
            for q in route.query
        ]
        operation: dict[str, Any] = {
            "operationId": _operation_id(route),
            "summary": route.summary,
            "description": f"Requires the **{route.minimum.value}** role or above.",
            "x-required-role": route.minimum.value,
            "parameters": params,
            "responses": {
                "201" if route.method == "POST" and "create" in _operation_id(route) else "200": {
                    "description": "OK",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "400": _ERROR,
                "401": _ERROR,
                "403": _ERROR,
                "404": _ERROR,
            },
        }
        if route.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": route.body}},
            }
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Callwright admin API",
            "version": "1",
            "description": "The same data as the admin pages. Authenticate with an API token "
            "(`Authorization: Bearer cwt_…`, created under API tokens) or the admin session "
            "cookie plus an `X-CSRF-Token` header for writes. Every call acts inside the "
            "token's organisation; ids of other organisations answer 404.",
        },
        "servers": [{"url": API_PREFIX}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "__Host-cw_session"},
            },
            "responses": {
                "Error": {
                    "description": "An error, with a message for people",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["error"],
                                "properties": {
                                    "error": {
                                        "type": "object",
                                        "properties": {
                                            "status": {"type": "integer"},
                                            "message": {"type": "string"},
                                            "field": {"type": ["string", "null"]},
                                        },
                                    }
                                },
                            }
                        }
                    },
                }
            },
        },
    }


ROUTE_TABLE = web.AppKey("route_table", list[Route])


def setup(app: web.Application, routes: list[Route]) -> None:
    spec = openapi_spec(routes)
    app[ROUTE_TABLE] = routes

    async def serve(request: web.Request) -> web.StreamResponse:
        return web.json_response(spec)

    app.router.add_get(API_PREFIX + "/openapi.json", serve)


async def api_docs(ctx: Ctx) -> web.StreamResponse:
    rows = [
        h(
            "<tr><td><code>{m}</code></td><td><code>{p}</code></td><td>{s}</td><td>{r}</td></tr>",
            m=r.method,
            p=API_PREFIX + r.path,
            s=r.summary,
            r=r.minimum.value,
        )
        for r in ctx.request.app[ROUTE_TABLE]
        if r.api
    ]
    body = h(
        '<p>The machine-readable description is <a href="{u}/openapi.json">{u}/openapi.json'
        "</a> (OpenAPI 3.1). Send <code>Authorization: Bearer &lt;token&gt;</code>.</p>{t}",
        u=API_PREFIX,
        t=table(["Method", "Path", "What", "Role"], rows),
    )
    return page(ctx, "JSON API", join([body]))


ROUTES = [Route("GET", "/api-docs", api_docs, None, "The JSON API's routes", api=False)]
