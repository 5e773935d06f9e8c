"""dialplan/freeswitch/: the operator's XML snippets parse, hand the call to the address
``[freeswitch]`` listens on by default, fall back to an extension that exists, and are the ones
docs/freeswitch.md points to."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from callwright.config import FreeswitchSettings

REPO = Path(__file__).resolve().parents[2]
SNIPPETS = REPO / "dialplan" / "freeswitch"
DOCS = REPO / "docs" / "freeswitch.md"
PLACEHOLDER = "callwright_socket"
#: How the dialplan names it: expanded when the XML is loaded.
PLACEHOLDER_REF = f"$${{{PLACEHOLDER}}}"


def parse(name: str) -> ET.Element:
    return ET.parse(SNIPPETS / name).getroot()  # our own files, not untrusted input


def actions(extension: ET.Element) -> list[tuple[str, str]]:
    return [(a.get("application", ""), a.get("data", ""))
            for a in extension.iter("action")]


def extension(root: ET.Element, name: str) -> ET.Element:
    found = [e for e in root.iter("extension") if e.get("name") == name]
    assert len(found) == 1, f"extension {name!r}"
    return found[0]


@pytest.mark.parametrize("path", sorted(SNIPPETS.glob("*.xml")), ids=lambda p: p.name)
def test_every_snippet_is_an_include_file(path: Path) -> None:
    assert ET.parse(path).getroot().tag == "include"  # FreeSWITCH's form for included files


def test_the_snippets_are_there() -> None:
    assert {p.name for p in SNIPPETS.glob("*.xml")} == {
        "callwright_vars.xml", "50_callwright.xml", "51_callwright_fallback.xml",
        "52_callwright_outbound.xml"}


def test_the_placeholder_is_set_to_the_default_socket_address() -> None:
    defaults = FreeswitchSettings()
    sets = [p.get("data", "") for p in parse("callwright_vars.xml").iter("X-PRE-PROCESS")
            if p.get("cmd") == "set"]
    assert sets == [f"{PLACEHOLDER}={defaults.socket_host}:{defaults.socket_port}"]


def test_the_socket_extension_uses_the_placeholder_in_async_full_mode() -> None:
    steps = actions(extension(parse("50_callwright.xml"), "callwright"))
    assert steps[0] == ("socket", f"{PLACEHOLDER_REF} async full")
    assert "answer" not in [app for app, _ in steps]  # Callwright answers, not the dialplan


def test_the_fallback_after_socket_reaches_the_operator_extension() -> None:
    steps = actions(extension(parse("50_callwright.xml"), "callwright"))
    transfers = [data for app, data in steps[1:] if app == "transfer"]
    assert len(transfers) == 1
    target, dialplan, context = transfers[0].split()
    assert (dialplan, context) == ("XML", "default")
    operator = extension(parse("51_callwright_fallback.xml"), target)
    condition = operator.find("condition")
    assert condition is not None and condition.get("field") == "destination_number"
    assert re.fullmatch(condition.get("expression", ""), target)
    assert any(app == "bridge" for app, _ in actions(operator))


def test_the_outbound_extension_is_the_one_outbound_calls_are_sent_to() -> None:
    defaults = FreeswitchSettings()
    found = extension(parse("52_callwright_outbound.xml"), defaults.outbound_extension)
    conditions = found.findall("condition")
    assert (conditions[0].get("field"), conditions[0].get("expression")) == (
        "destination_number", f"^{defaults.outbound_extension}$")
    # only the channels we placed (fs_app.outbound_call sets that variable)
    assert conditions[1].get("field") == "${callwright_outbound}"
    steps = actions(found)
    assert steps[0] == ("socket", f"{PLACEHOLDER_REF} async full")
    assert "answer" not in [app for app, _ in steps]  # the callee answered already
    assert steps[-1][0] == "hangup"  # nobody to talk to when Callwright is down


def test_the_docs_point_to_the_files_and_the_same_address() -> None:
    text = DOCS.read_text(encoding="utf-8")
    defaults = FreeswitchSettings()
    for path in SNIPPETS.glob("*.xml"):
        assert f"dialplan/freeswitch/{path.name}" in text, path.name
    assert f"socket {PLACEHOLDER_REF} async full" in text
    assert f"`{defaults.socket_host}:{defaults.socket_port}`" in text
    assert f'socket_host = "{defaults.socket_host}"' in text
    assert f"socket_port = {defaults.socket_port}" in text
    assert "<action application=\"socket\"" not in text  # the XML lives in the files only

