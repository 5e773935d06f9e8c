"""A read-only picture of a dialog flow: server-rendered SVG (no script), nodes and their edges,
with each problem the validator found drawn on the node it is about.

It works on the flow's JSON as given, valid or not (a rejected flow is drawn too, so that its
problems can be seen in place): nodes are laid out in rows by their distance from ``start``
(nodes the start cannot reach come last), an edge is labelled with what takes it (a route's
value, ``on_fail``...), an edge to a node that does not exist ends on a dashed "missing" box.
Pure: no I/O.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from admin.html import Html, esc, h, join

BOX_W = 176
BOX_H = 52
GAP_X = 28
GAP_Y = 64
MARGIN = 16
MAX_NODES = 200
#: Fields of a node that name another node (as :func:`callwright.dialog.flow_checks.edges`).
REFERENCE_FIELDS = ("next", "default", "on_fail", "on_miss", "on_error", "on_max_turns")
KIND_WORDS = {
    "say": "Says", "ask": "Asks", "branch": "Branches", "intent": "Understands (LLM)",
    "llm": "Talks (LLM)", "hangup": "Hangs up", "transfer": "Transfers",
    "webhook": "Calls a webhook", "knowledge": "Answers from knowledge",
    "take_message": "Takes a message",
}


@dataclass(frozen=True, slots=True)
class Problem:
    node: str | None
    field: str | None
    message: str


def references(node: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(label, target id) for each node reference in a node's JSON (whatever else is wrong)."""
    routes = node.get("routes")
    if isinstance(routes, Mapping):
        for value, target in routes.items():
            if isinstance(target, str):
                yield str(value), target
    for list_name in ("cases", "intents"):
        items = node.get(list_name)
        if isinstance(items, Sequence) and not isinstance(items, str):
            for i, item in enumerate(items):
                if isinstance(item, Mapping) and isinstance(item.get("next"), str):
                    label = item.get("name") or item.get("intent") or f"{list_name[:-1]} {i + 1}"
                    yield str(label), item["next"]
    for name in REFERENCE_FIELDS:
        target = node.get(name)
        if isinstance(target, str):
            yield name.replace("_", " "), target


def _layers(nodes: Mapping[str, Mapping[str, Any]], start: str | None) -> dict[str, int]:
    depth: dict[str, int] = {}
    if start is not None and start in nodes:
        queue: deque[str] = deque([start])
        depth[start] = 0
        while queue:
            nid = queue.popleft()
            for _, target in references(nodes[nid]):
                if target in nodes and target not in depth:
                    depth[target] = depth[nid] + 1
                    queue.append(target)
    last = max(depth.values(), default=-1) + 1
    for nid in nodes:
        if nid not in depth:
            depth[nid] = last  # unreachable: one row at the end
    return depth


def flow_svg(definition: Any, problems: Sequence[Problem] = ()) -> Html:
    """The flow as an ``<svg>`` element (empty when there are no nodes to draw)."""
    raw = definition.get("nodes") if isinstance(definition, Mapping) else None
    if not isinstance(raw, Mapping) or not raw:
        return Html("")
    nodes = {str(k): v for k, v in list(raw.items())[:MAX_NODES] if isinstance(v, Mapping)}
    start = definition.get("start") if isinstance(definition.get("start"), str) else None
    depth = _layers(nodes, start)
    missing = sorted({t for n in nodes.values() for _, t in references(n) if t not in nodes})
    rows: dict[int, list[str]] = defaultdict(list)
    for nid, d in depth.items():
        rows[d].append(nid)
    if missing:
        rows[max(rows, default=-1) + 1].extend(missing)
    where: dict[str, tuple[int, int]] = {}
    width = 0
    for row, ids in sorted(rows.items()):
        for i, nid in enumerate(ids):
            x = MARGIN + i * (BOX_W + GAP_X)
            y = MARGIN + row * (BOX_H + GAP_Y)
            where[nid] = (x, y)
            width = max(width, x + BOX_W + MARGIN)
    height = MARGIN + len(rows) * (BOX_H + GAP_Y) - GAP_Y + MARGIN
    by_node: dict[str, list[Problem]] = defaultdict(list)
    for p in problems:
        if p.node is not None:
            by_node[p.node].append(p)
    edges = [_edge(where[src], where[dst], label, back=depth.get(dst, 1 << 30) <= depth[src])
             for src, node in nodes.items() for label, dst in references(node)]
    boxes = [_box(nid, nodes[nid], where[nid], by_node.get(nid, []), nid == start)
             for nid in nodes]
    ghosts = [_ghost(nid, where[nid]) for nid in missing]
    return h(
        '<svg class="flow-diagram" xmlns="http://www.w3.org/2000/svg" role="img" '
        'viewBox="0 0 {w} {hh}" width="{w}" height="{hh}" aria-label="Diagram of the flow">'
        "<defs>"
        '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#5b6473"/></marker></defs>'
        "{edges}{boxes}{ghosts}</svg>",
        w=width, hh=height, edges=join(edges), boxes=join(boxes), ghosts=join(ghosts),
    )


def _edge(a: tuple[int, int], b: tuple[int, int], label: str, *, back: bool) -> Html:
    x1, y1 = a[0] + BOX_W // 2, a[1] + BOX_H
    x2, y2 = b[0] + BOX_W // 2, b[1]
    if back:  # to a node above or beside: around the right-hand side
        x1, y1 = a[0] + BOX_W, a[1] + BOX_H // 2
        x2, y2 = b[0] + BOX_W, b[1] + BOX_H // 2
        bend = max(x1, x2) + GAP_X
        path = f"M{x1},{y1} C{bend},{y1} {bend},{y2} {x2 + 2},{y2}"
        lx, ly = bend - 4, (y1 + y2) // 2
    else:
        mid = (y1 + y2) // 2
        path = f"M{x1},{y1} C{x1},{mid} {x2},{mid} {x2},{y2 - 2}"
        lx, ly = (x1 + x2) // 2, mid
    return h(
        '<g class="edge{b}"><path d="{p}" fill="none" stroke="#5b6473" stroke-width="1.4" '
        'marker-end="url(#arrow)"/><text x="{x}" y="{y}" font-size="11" text-anchor="middle" '
        'fill="#1d2430">{t}</text></g>',
        b=" back" if back else "", p=path, x=lx, y=ly, t=label[:24],
    )


def _box(nid: str, node: Mapping[str, Any], at: tuple[int, int], problems: list[Problem],
         is_start: bool) -> Html:
    x, y = at
    kind = str(node.get("kind", "?"))
    words = KIND_WORDS.get(kind, kind)
    label = node.get("label")
    subtitle = str(label) if isinstance(label, str) and label else words
    bad = bool(problems)
    title = "\n".join(
        f"{p.field + ': ' if p.field else ''}{p.message}" for p in problems
    ) or f"{nid}: {words}"
    badge = h(
        '<g class="problems"><circle cx="{cx}" cy="{cy}" r="10" fill="#b3261e"/>'
        '<text x="{cx}" y="{ty}" font-size="12" font-weight="700" text-anchor="middle" '
        'fill="#fff">{n}</text></g>',
        cx=x + BOX_W - 4, cy=y + 4, ty=y + 8, n=len(problems),
    ) if bad else ""
    return h(
        '<g class="node{cls}" data-node="{id}" data-kind="{kind}" data-problems="{n}">'
        "<title>{title}</title>"
        '<rect x="{x}" y="{y}" width="{w}" height="{hh}" rx="8" fill="{fill}" '
        'stroke="{stroke}" stroke-width="{sw}"/>'
        '<text x="{tx}" y="{ty1}" font-size="13" font-weight="600" fill="#1d2430">{name}</text>'
        '<text x="{tx}" y="{ty2}" font-size="11" fill="#5b6473">{sub}</text>{badge}</g>',
        cls=(" start" if is_start else "") + (" has-problems" if bad else ""),
        id=nid, kind=kind, n=len(problems), title=title, x=x, y=y, w=BOX_W, hh=BOX_H,
        fill="#fbe9e7" if bad else ("#e6eefb" if is_start else "#fff"),
        stroke="#b3261e" if bad else "#1f5fbf" if is_start else "#b8bfca",
        sw=2 if bad or is_start else 1, tx=x + 10, ty1=y + 21, ty2=y + 39,
        name=_clip(nid, 22), sub=_clip(subtitle, 28), badge=badge,
    )


def _ghost(nid: str, at: tuple[int, int]) -> Html:
    x, y = at
    return h(
        '<g class="node missing" data-node="{id}" data-missing="true"><title>{id}: no node has '
        'this id</title><rect x="{x}" y="{y}" width="{w}" height="{hh}" rx="8" fill="none" '
        'stroke="#b3261e" stroke-dasharray="5 4"/><text x="{tx}" y="{ty}" font-size="12" '
        'fill="#b3261e">missing: {name}</text></g>',
        id=nid, x=x, y=y, w=BOX_W, hh=BOX_H, tx=x + 10, ty=y + 30, name=_clip(nid, 18),
    )


def _clip(text: str, limit: int) -> Html:
    return esc(text if len(text) <= limit else text[: limit - 1] + "…")
