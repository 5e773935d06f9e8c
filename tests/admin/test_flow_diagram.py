"""The flow's read-only diagram (issue 17): server-rendered SVG, problems drawn on their nodes."""

from __future__ import annotations

import json
import re
from typing import Any
from xml.etree import ElementTree

from admin.flow_diagram import Problem, flow_svg
from callwright.dialog.demo_flow import DEMO_FLOW_EN
from tests.admin.conftest import AdminFactory

SVG = "{http://www.w3.org/2000/svg}"


def _nodes(svg: str) -> dict[str, ElementTree.Element]:
    root = ElementTree.fromstring(svg)
    return {g.attrib["data-node"]: g for g in root.iter(f"{SVG}g") if "data-node" in g.attrib}


def test_every_node_and_edge_is_drawn_rows_by_distance_from_the_start() -> None:
    svg = flow_svg(DEMO_FLOW_EN)
    nodes = _nodes(svg)
    assert set(nodes) == set(DEMO_FLOW_EN["nodes"])
    assert "start" in nodes["greet"].attrib["class"]
    edges = [g for g in ElementTree.fromstring(svg).iter(f"{SVG}g")
             if "edge" in g.attrib.get("class", "")]
    labels = sorted("".join(g.itertext()) for g in edges)
    assert labels == sorted(["next", "on fail", "yes", "no", "on fail"])

    def top(node: str) -> float:
        rect = nodes[node].find(f"{SVG}rect")
        assert rect is not None
        return float(rect.attrib["y"])

    assert top("greet") < top("offer") < top("booked") == top("declined")


def test_problems_sit_on_their_nodes_and_missing_targets_are_shown() -> None:
    flow: dict[str, Any] = {
        "start": "a",
        "nodes": {
            "a": {"kind": "say", "text": "Hi", "next": "nowhere"},
            "island": {"kind": "hangup"},
        },
    }
    svg = flow_svg(flow, [Problem("a", "next", "no node has the id 'nowhere'"),
                          Problem("island", None, "no path from the start reaches this node"),
                          Problem(None, None, "a flow-wide problem")])
    nodes = _nodes(svg)
    assert nodes["a"].attrib["data-problems"] == "1"
    title = nodes["a"].find(f"{SVG}title")
    assert title is not None and "next: no node has the id" in "".join(title.itertext())
    assert nodes["island"].attrib["data-problems"] == "1"
    assert nodes["nowhere"].attrib["data-missing"] == "true"
    assert flow_svg({"nodes": []}) == "" and flow_svg("not a flow") == ""


def test_labels_are_escaped() -> None:
    svg = flow_svg({"start": "x", "nodes": {"x": {"kind": "say", "label": "<script>&"}}})
    assert "<script>" not in svg and "&lt;script&gt;&amp;" in svg
    ElementTree.fromstring(svg)  # well-formed


async def test_the_flow_page_draws_the_saved_flow_and_a_rejected_one(
    make_admin: AdminFactory,
) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    editor = await admin.login(org.users["editor"])
    saved = await editor.api("POST", f"/assistants/{org.assistant_id}/flow",
                             {"definition": DEMO_FLOW_EN})
    assert saved.status == 201
    page = await (await editor.client.get(f"/assistants/{org.assistant_id}/flow")).text()
    assert page.count('class="node') == len(DEMO_FLOW_EN["nodes"])
    broken = json.loads(json.dumps(DEMO_FLOW_EN))
    broken["nodes"]["offer"]["routes"]["yes"] = "bookd"
    response = await editor.post_form(f"/assistants/{org.assistant_id}/flow",
                                      {"definition": json.dumps(broken)})
    assert response.status == 422
    page = await response.text()
    offer = re.search(r'<g class="node[^"]*" data-node="offer"[^>]*>', page)
    assert offer is not None and 'has-problems' in offer.group(0)
    assert 'data-node="bookd" data-missing="true"' in page
