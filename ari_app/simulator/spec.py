"""The ARI REST surface the simulator answers: operations, parameters and route matching.

An :class:`AriSpec` is built from the compact table in :mod:`spec_table` (the default) or from the
Swagger files of a real Asterisk (``AriSpec.from_swagger_dir``). Matching follows Asterisk's
router: path segments are walked from the root, a literal segment wins over a ``{parameter}`` one
with no backtracking (so ``DELETE /channels/externalMedia`` is a 405, not a hangup of a channel
called "externalMedia"), an unknown path is a 404 and a known path with another method a 405.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import unquote

from ari_app.simulator.spec_table import OPERATIONS

ParamLocation = Literal["query", "body", "path"]

#: The order in which Asterisk lists methods in an ``Allow`` header (after OPTIONS).
_METHOD_ORDER = ("GET", "POST", "PUT", "DELETE")


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    location: ParamLocation
    required: bool = False
    multiple: bool = False


@dataclass(frozen=True, slots=True)
class Operation:
    """One ARI operation: an HTTP method on a path template, with its parameters."""

    method: str
    path: str
    nickname: str
    params: tuple[Param, ...]
    websocket: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.path.strip("/").split("/"))

    def param(self, name: str) -> Param | None:
        for p in self.params:
            if p.name == name:
                return p
        return None

    def required_query(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params if p.location == "query" and p.required)


@dataclass(frozen=True, slots=True)
class RouteMatch:
    operation: Operation
    path_args: dict[str, str]


@dataclass(frozen=True, slots=True)
class MethodNotAllowed:
    """The path exists but not with this method. ``allow`` is the value of the Allow header."""

    allow: str


@dataclass(slots=True)
class _Node:
    literal: dict[str, _Node] = field(default_factory=dict)
    wildcard: _Node | None = None
    ops: dict[str, Operation] = field(default_factory=dict)


def _path_params(path: str) -> tuple[Param, ...]:
    return tuple(
        Param(seg[1:-1], "path", required=True)
        for seg in path.strip("/").split("/")
        if seg.startswith("{") and seg.endswith("}")
    )


def _parse_table(text: str) -> list[Operation]:
    joined: list[str] = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        if raw[0].isspace() and joined:
            joined[-1] += " " + raw.strip()
        else:
            joined.append(raw.strip())
    ops: list[Operation] = []
    for line in joined:
        method, path, nickname, *tokens = line.split()
        websocket = "~ws" in tokens
        params = list(_path_params(path))
        for tok in tokens:
            if tok == "~ws":
                continue
            location: ParamLocation = "body" if tok.startswith("@") else "query"
            name = tok.lstrip("@").rstrip("!*")
            params.append(
                Param(name, location, required="!" in tok, multiple=tok.endswith("*"))
            )
        ops.append(Operation(method, path, nickname, tuple(params), websocket))
    return ops


def operations_from_swagger(directory: Path) -> list[Operation]:
    """Read every operation from the Swagger 1.1 resource files listed in resources.json."""
    index = json.loads((directory / "resources.json").read_text())
    ops: list[Operation] = []
    for api in index["apis"]:
        name = api["path"].rsplit("/", 1)[-1].replace("{format}", "json")
        doc = json.loads((directory / name).read_text())
        for entry in doc["apis"]:
            for op in entry["operations"]:
                params = list(_path_params(entry["path"]))
                for p in op.get("parameters", []):
                    if p["paramType"] == "path":
                        continue
                    params.append(
                        Param(
                            p["name"],
                            "body" if p["paramType"] == "body" else "query",
                            required=bool(p.get("required")),
                            multiple=bool(p.get("allowMultiple")),
                        )
                    )
                ops.append(
                    Operation(
                        op["httpMethod"],
                        entry["path"],
                        op["nickname"],
                        tuple(params),
                        websocket=op.get("upgrade") == "websocket",
                    )
                )
    return ops


class AriSpec:
    """The set of ARI operations, indexed for Asterisk-style route matching."""

    def __init__(self, operations: list[Operation]) -> None:
        self.operations: tuple[Operation, ...] = tuple(operations)
        self._by_key = {op.key: op for op in operations}
        self._root = _Node()
        for op in operations:
            node = self._root
            for seg in op.segments:
                if seg.startswith("{"):
                    if node.wildcard is None:
                        node.wildcard = _Node()
                    node = node.wildcard
                else:
                    node = node.literal.setdefault(seg, _Node())
            node.ops[op.method] = op

    @classmethod
    def builtin(cls) -> AriSpec:
        return cls(_parse_table(OPERATIONS))

    @classmethod
    def from_swagger_dir(cls, directory: Path) -> AriSpec:
        return cls(operations_from_swagger(directory))

    def get(self, method: str, path: str) -> Operation:
        """The operation for an exact method and path template; KeyError if the spec lacks it."""
        return self._by_key[(method, path)]

    def has(self, method: str, path: str) -> bool:
        return (method, path) in self._by_key

    def resolve(self, method: str, raw_path: str) -> RouteMatch | MethodNotAllowed | None:
        """Match a request path relative to /ari (``/channels/123/answer``), or None (404)."""
        if not raw_path.startswith("/"):
            return None
        segments = [unquote(s) for s in raw_path[1:].split("/")]
        node = self._root
        for seg in segments:
            if not seg:
                return None
            nxt = node.literal.get(seg)
            if nxt is None:
                nxt = node.wildcard
            if nxt is None:
                return None
            node = nxt
        if not node.ops:
            return None
        op = node.ops.get(method)
        if op is None:
            methods = [m for m in _METHOD_ORDER if m in node.ops]
            return MethodNotAllowed(",".join(["OPTIONS", *methods]))
        args = {
            tmpl[1:-1]: seg
            for tmpl, seg in zip(op.segments, segments, strict=True)
            if tmpl.startswith("{")
        }
        return RouteMatch(op, args)

    def allow_for(self, raw_path: str) -> str | None:
        """The Allow header for a path (OPTIONS requests), or None when the path is unknown."""
        found = self.resolve("\0", raw_path)
        return found.allow if isinstance(found, MethodNotAllowed) else None
