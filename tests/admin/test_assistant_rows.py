"""Tools and transfer targets as rows of the assistant form, the JSON as an advanced view
(issue 17)."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest

from admin.assistant_rows import params_text, parse_params
from admin.errors import UserError
from callwright.store.assistants import AssistantRepository
from tests.admin.conftest import AdminFactory, LoggedIn

ORDER_TOOL = {
    "name": "order_status",
    "description": "Look up an order.",
    "parameters": {
        "type": "object",
        "properties": {"order": {"type": "string", "pattern": "^[0-9]{4,10}$"}},
        "required": ["order"],
    },
    "webhook": "orders-hook",
    "timeout_s": 5,
}


def test_parameters_round_trip_as_name_type_lists() -> None:
    schema = parse_params("order:string, party:integer?, vip:boolean", "p")
    assert schema == {
        "type": "object",
        "properties": {"order": {"type": "string"}, "party": {"type": "integer"},
                       "vip": {"type": "boolean"}},
        "required": ["order", "vip"],
    }
    assert params_text(schema) == "order:string, party:integer?, vip:boolean"
    assert parse_params("", "p") == {"type": "object", "properties": {}}
    for bad in ("order", "order:text", "1x:string", "a:string;b:string"):
        with pytest.raises(UserError, match="name:type"):
            parse_params(bad, "p")


async def _form(user: LoggedIn, path: str) -> dict[str, str]:
    """Every input, textarea and selected option of the settings form, as the browser sends."""
    page = await (await user.client.get(path)).text()
    form = page[page.index('<form method="post" action="' + path + '"'):]
    form = form[: form.index("</form>")]
    data: dict[str, str] = {}
    for tag in re.finditer(r"<input([^>]*)>", form):
        attrs = dict(re.findall(r'(\w[\w-]*)="([^"]*)"', tag.group(1)))
        if "name" in attrs and attrs.get("type") != "checkbox":
            data[attrs["name"]] = _unescape(attrs.get("value", ""))
    for tag in re.finditer(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.S):
        data[tag.group(1)] = _unescape(tag.group(2))
    for tag in re.finditer(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', tag.group(2))
        data[tag.group(1)] = _unescape(chosen.group(1)) if chosen else ""
    data.pop("_csrf", None)
    return data


def _unescape(value: str) -> str:
    return html.unescape(value)


async def test_rows_add_change_and_remove_tools_and_targets(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    repo = AssistantRepository(admin.db)
    await repo.update(org.id, org.assistant_id, tools=[ORDER_TOOL],
                      transfer_targets=[{"name": "sales", "target": "PJSIP/200"}])
    editor = await admin.login(org.users["editor"])
    path = f"/assistants/{org.assistant_id}"
    data = await _form(editor, path)
    assert data["tool_name_0"] == "order_status" and data["tool_params_0"] == "order:string"
    assert data["transfer_name_0"] == "sales" and data["transfer_target_0"] == "PJSIP/200"
    # Unchanged form: the same lists (the tool's pattern is kept: its box was not changed).
    assert (await editor.post_form(path, data)).status == 303
    saved = await repo.get(org.id, org.assistant_id)
    assert saved.tools == [ORDER_TOOL] and saved.transfer_targets == [
        {"name": "sales", "target": "PJSIP/200"}]
    # A new target and a new tool in the empty rows; the old target removed.
    data.update(transfer_name_0="", transfer_name_1="support", transfer_target_1="PJSIP/300",
                tool_name_1="book", tool_description_1="Book a table.",
                tool_webhook_1="orders-hook", tool_params_1="day:string, party:integer?",
                tool_timeout_1="8")
    assert (await editor.post_form(path, data)).status == 303
    saved = await repo.get(org.id, org.assistant_id)
    assert saved.transfer_targets == [{"name": "support", "target": "PJSIP/300"}]
    assert saved.tools[1] == {
        "name": "book", "description": "Book a table.", "webhook": "orders-hook",
        "parameters": {"type": "object", "properties": {"day": {"type": "string"},
                                                        "party": {"type": "integer"}},
                       "required": ["day"]},
        "timeout_s": 8.0,
    }


async def test_the_json_view_wins_when_it_was_edited(make_admin: AdminFactory) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    editor = await admin.login(org.users["editor"])
    path = f"/assistants/{org.assistant_id}"
    data = await _form(editor, path)
    data["transfer_targets"] = json.dumps([{"name": "desk", "target": "PJSIP/100"}])
    data["transfer_name_0"] = "ignored"  # the rows lose to the edited JSON
    data["transfer_target_0"] = "PJSIP/999"
    assert (await editor.post_form(path, data)).status == 303
    saved = await AssistantRepository(admin.db).get(org.id, org.assistant_id)
    assert saved.transfer_targets == [{"name": "desk", "target": "PJSIP/100"}]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"tool_name_0": "lookup", "tool_description_0": "x", "tool_webhook_0": "h",
          "tool_params_0": "when:date"}, "write parameters as name:type"),
        ({"tool_name_0": "has space", "tool_description_0": "x", "tool_webhook_0": "h"},
         "tools: "),
        ({"tool_name_0": "lookup", "tool_description_0": "x", "tool_webhook_0": "h",
          "tool_timeout_0": "soon"}, "number of seconds"),
        ({"transfer_name_0": "sales"}, "where should the PBX send the caller"),
        ({"tools": "[not json"}, "tools"),
    ],
)
async def test_bad_rows_are_a_clear_400_and_change_nothing(
    make_admin: AdminFactory, change: dict[str, Any], says: str
) -> None:
    admin = await make_admin()
    org = await admin.org("acme")
    editor = await admin.login(org.users["editor"])
    path = f"/assistants/{org.assistant_id}"
    data = await _form(editor, path)
    data.update(change)
    response = await editor.post_form(path, data)
    assert response.status == 400
    assert says in await response.text()
    saved = await AssistantRepository(admin.db).get(org.id, org.assistant_id)
    assert saved.tools == [] and saved.transfer_targets == []
