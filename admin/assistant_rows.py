"""An assistant's tools and transfer targets as rows of a form, with their JSON as an "advanced"
view (pages only; the API takes the JSON lists as before).

Each list is shown as editable rows (plus empty rows to add one) and, in a ``<details>``, as the
JSON textarea of before with a hidden copy of what was shown. Reading the form: when the JSON was
changed, the JSON wins (as typed, checked as before); otherwise the list is rebuilt from the rows,
and rows with no name are dropped. A tool's parameters are written ``order:string,
party:integer, note:string?`` (``?``: optional; types string, integer, number, boolean); a schema
with more than that (patterns, formats…) is kept as it was while its box is left unchanged.
Tools built from rows are checked like the call service checks them
(:func:`~callwright.dialog.webhook_tools.parse_tool_declarations`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from admin.errors import UserError
from admin.forms import json_value, parse_json, text
from admin.html import Html, h, join
from admin.views import text_input, textarea
from callwright.dialog.webhook_tools import ToolDeclarationError, parse_tool_declarations

EMPTY_ROWS = 2
MAX_ROWS = 50
PARAM_TYPES = ("string", "integer", "number", "boolean")
_PARAM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*:\s*([a-z]+)\s*(\?)?\s*$")


def params_text(schema: Any) -> str:
    """``name:type`` list of a parameters schema ("" when it has no properties)."""
    if not isinstance(schema, dict):
        return ""
    props = schema.get("properties")
    if not isinstance(props, dict):
        return ""
    listed = schema.get("required")
    required: list[Any] = listed if isinstance(listed, list) else []
    parts = []
    for name, prop in props.items():
        kind = prop.get("type") if isinstance(prop, dict) else None
        kind = kind if isinstance(kind, str) else "string"
        parts.append(f"{name}:{kind}{'' if name in required else '?'}")
    return ", ".join(parts)


def parse_params(source: str, where: str) -> dict[str, Any]:
    """The JSON schema of a ``name:type, name2:type?`` list."""
    props: dict[str, Any] = {}
    required: list[str] = []
    for part in [p for p in source.split(",") if p.strip()]:
        found = _PARAM.match(part)
        if found is None or found.group(2) not in PARAM_TYPES:
            raise UserError(
                f"{where}: write parameters as name:type (types: {', '.join(PARAM_TYPES)}; "
                f"a ? after the type makes it optional), not {part.strip()!r}", field=where)
        name, kind, optional = found.groups()
        props[name] = {"type": kind}
        if not optional:
            required.append(name)
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    return schema


def _json_text(value: list[Any]) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _advanced(name: str, value: list[Any], hint: str) -> Html:
    shown = _json_text(value)
    return h(
        '<details class="advanced"><summary>Advanced: edit as JSON</summary>{t}'
        '<input type="hidden" name="{n}_shown" value="{s}"><small class="hint">{hint}</small>'
        "</details>",
        t=textarea(name, shown, rows=6, class_="code"), n=name, s=shown, hint=hint,
    )


def transfer_rows(targets: list[Any]) -> Html:
    rows = [t for t in targets if isinstance(t, dict)][:MAX_ROWS]
    lines = []
    for i, item in enumerate([*rows, *({} for _ in range(EMPTY_ROWS))]):
        lines.append(h(
            '<tr data-row="transfer"><td>{a}</td><td>{b}</td></tr>',
            a=text_input(f"transfer_name_{i}", item.get("name", ""), maxlength=64,
                         aria_label="Name the assistant uses"),
            b=text_input(f"transfer_target_{i}", item.get("target", item.get("endpoint", "")),
                         maxlength=200, aria_label="Dialplan target"),
        ))
    return h(
        "<fieldset><legend>Transfer targets</legend>"
        '<div class="table-wrap"><table class="rows"><thead><tr><th>Name</th>'
        "<th>Dialplan target</th></tr></thead><tbody>{rows}</tbody></table></div>"
        '<input type="hidden" name="transfer_rows" value="{n}">'
        '<small class="hint">The name is what the assistant may choose ("sales"); the target is '
        "where the PBX sends the caller (PJSIP/200, or context,extension). Empty a name to "
        "remove its row.</small>{adv}</fieldset>",
        rows=join(lines), n=len(lines),
        adv=_advanced("transfer_targets", targets, 'e.g. [{"name": "sales", "target": '
                      '"PJSIP/200"}]'),
    )


def tool_rows(tools: list[Any], webhooks: list[str]) -> Html:
    rows = [t for t in tools if isinstance(t, dict)][:MAX_ROWS]
    lines = []
    for i, item in enumerate([*rows, *({} for _ in range(EMPTY_ROWS))]):
        params = params_text(item.get("parameters"))
        schema = json.dumps(item.get("parameters", {}), ensure_ascii=False)
        lines.append(h(
            '<tr data-row="tool"><td>{a}</td><td>{b}</td><td>{c}</td><td>{d}{e}{f}</td>'
            "<td>{g}</td></tr>",
            a=text_input(f"tool_name_{i}", item.get("name", ""), maxlength=64,
                         aria_label="Tool name"),
            b=text_input(f"tool_description_{i}", item.get("description", ""), maxlength=500,
                         aria_label="What it does"),
            c=text_input(f"tool_webhook_{i}", item.get("webhook", ""), maxlength=100,
                         list="webhook-names", aria_label="Webhook credential"),
            d=text_input(f"tool_params_{i}", params, maxlength=1000,
                         placeholder="order:string, party:integer?", aria_label="Parameters"),
            e=h('<input type="hidden" name="tool_params_shown_{i}" value="{v}">', i=i, v=params),
            f=h('<input type="hidden" name="tool_schema_{i}" value="{v}">', i=i, v=schema),
            g=text_input(f"tool_timeout_{i}", item.get("timeout_s", ""), inputmode="decimal",
                         maxlength=5, aria_label="Timeout in seconds"),
        ))
    names = join(h('<option value="{n}">', n=n) for n in webhooks)
    return h(
        "<fieldset><legend>Tools (webhooks the LLM may call)</legend>"
        '<div class="table-wrap"><table class="rows"><thead><tr><th>Name</th><th>What it does'
        "</th><th>Webhook</th><th>Parameters</th><th>Timeout (s)</th></tr></thead>"
        '<tbody>{rows}</tbody></table></div><datalist id="webhook-names">{names}</datalist>'
        '<input type="hidden" name="tool_rows" value="{n}">'
        '<small class="hint">Parameters: name:type, separated by commas (string, integer, '
        "number, boolean; add ? for an optional one). The webhook is the name of one of the "
        "organisation's webhook URL credentials.</small>{adv}</fieldset>",
        rows=join(lines), names=names, n=len(lines),
        adv=_advanced("tools", tools, "The full declarations, with any JSON Schema for the "
                      "parameters."),
    )


def _row_count(data: dict[str, Any], name: str) -> int:
    raw = str(data.get(name, "0"))
    return min(int(raw), MAX_ROWS + EMPTY_ROWS) if raw.isdigit() else 0


def _json_edited(data: dict[str, Any], name: str) -> bool:
    """True when the JSON view is what to save: it was changed, or the form had no rows."""
    shown = data.get(f"{name}_shown")
    if not isinstance(shown, str):
        return True
    typed = data.get(name)
    if not isinstance(typed, str):
        return False
    try:
        return bool(parse_json(typed, name) != parse_json(shown, name))
    except UserError:
        return True  # not JSON: read as JSON, which says what is wrong


def read_transfer_targets(data: dict[str, Any]) -> list[Any]:
    if _json_edited(data, "transfer_targets"):
        return list(json_value(data, "transfer_targets", list, api=False))
    targets = []
    for i in range(_row_count(data, "transfer_rows")):
        name = text(data, f"transfer_name_{i}", max_len=64).strip()
        target = text(data, f"transfer_target_{i}", max_len=200).strip()
        if not name:
            continue
        if not target:
            raise UserError(f"transfer target {name!r}: where should the PBX send the caller?",
                            field=f"transfer_target_{i}")
        targets.append({"name": name, "target": target})
    return targets


def read_tools(data: dict[str, Any]) -> list[Any]:
    if _json_edited(data, "tools"):
        return list(json_value(data, "tools", list, api=False))
    tools: list[Any] = []
    for i in range(_row_count(data, "tool_rows")):
        name = text(data, f"tool_name_{i}", max_len=64).strip()
        if not name:
            continue
        params = text(data, f"tool_params_{i}", max_len=1000)
        if params == text(data, f"tool_params_shown_{i}", max_len=1000):
            schema: Any = parse_json(text(data, f"tool_schema_{i}", max_len=100_000) or "{}",
                                     f"tool_schema_{i}")
        else:
            schema = parse_params(params, f"tool_params_{i}")
        if not schema:
            schema = {"type": "object", "properties": {}}
        tool: dict[str, Any] = {
            "name": name,
            "description": text(data, f"tool_description_{i}", max_len=500).strip(),
            "parameters": schema,
            "webhook": text(data, f"tool_webhook_{i}", max_len=100).strip(),
        }
        timeout = text(data, f"tool_timeout_{i}", max_len=5).strip()
        if timeout:
            try:
                tool["timeout_s"] = float(timeout)
            except ValueError:
                raise UserError(f"tool {name!r}: the timeout is a number of seconds",
                                field=f"tool_timeout_{i}") from None
        tools.append(tool)
    try:
        parse_tool_declarations(tools)
    except ToolDeclarationError as exc:
        raise UserError(f"tools: {exc}", field="tools") from exc
    return tools
