"""Webhook tools: an assistant's own LLM tools, each answered by one of the org's webhooks.

An assistant declares them in its ``tools`` list (the admin saves the list as given; check it with
:func:`parse_tool_declarations`, which says what is wrong):

    {
      "name": "order_status",                       # letters, digits, _ and -; not a built-in name
      "description": "Look up the status of an order by its number.",
      "parameters": {                               # a JSON Schema for the arguments (an object)
        "type": "object",
        "properties": {"order": {"type": "string", "pattern": "^[0-9]{4,10}$"}},
        "required": ["order"]
      },
      "webhook": "orders-hook",                     # name of the org's webhook_url credential
      "timeout_s": 5                                # optional, 0 < timeout_s <= 30, default 5
    }

The schema is checked when the tool is loaded (any JSON Schema draft, by its ``$schema``; 2020-12
by default; ``format`` is checked too); :meth:`WebhookTool.check` validates the model's arguments.
How a call is made and answered: :mod:`callwright.dialog.llm_tools`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import jsonschema
from openai.types.chat import ChatCompletionFunctionToolParam

from callwright.dialog.prompt import BUILT_IN_TOOLS
from callwright.errors import DialogError

__all__ = [
    "MAX_TOOL_TIMEOUT_S",
    "ToolDeclarationError",
    "WebhookCaller",
    "WebhookTool",
    "parse_tool_declarations",
]

_TOOL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_DECLARATION_KEYS = frozenset({"name", "description", "parameters", "webhook", "timeout_s"})
MAX_TOOL_TIMEOUT_S = 30.0


class WebhookCaller(Protocol):
    """Calls a webhook by credential name (:class:`callwright.dialog.webhooks.WebhookClient`)."""

    async def call(
        self, name: str, payload: Mapping[str, Any], timeout_s: float
    ) -> Mapping[str, Any]: ...


class ToolDeclarationError(DialogError):
    """An assistant's tool declaration is invalid; the message names the tool and the field."""


@dataclass(frozen=True, slots=True)
class WebhookTool:
    """A custom tool answered by a webhook. Validates itself when created."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    webhook: str
    timeout_s: float = 5.0
    validator: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        def bad(what: str) -> ToolDeclarationError:
            return ToolDeclarationError(f"tool {self.name!r}: {what}")

        if not isinstance(self.name, str) or not _TOOL_NAME.match(self.name):
            raise bad("name must be 1-64 letters, digits, _ or -, starting with a letter")
        if self.name in BUILT_IN_TOOLS:
            raise bad("name is the name of a built-in tool")
        if not isinstance(self.description, str) or not 0 < len(self.description.strip()) <= 1000:
            raise bad("description must be 1-1000 characters")
        if not isinstance(self.webhook, str) or not self.webhook.strip():
            raise bad("webhook must name a webhook_url credential")
        timeout = self.timeout_s
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise bad("timeout_s must be a number")
        if not 0 < timeout <= MAX_TOOL_TIMEOUT_S:
            raise bad(f"timeout_s must be more than 0 and at most {MAX_TOOL_TIMEOUT_S:g}")
        schema = self.parameters
        if not isinstance(schema, Mapping) or schema.get("type") != "object":
            raise bad('parameters must be a JSON Schema with "type": "object"')
        cls = jsonschema.validators.validator_for(schema)
        try:
            cls.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise bad(f"parameters is not a valid JSON Schema: {exc.message}") from None
        object.__setattr__(self, "validator", cls(schema, format_checker=cls.FORMAT_CHECKER))

    def definition(self) -> ChatCompletionFunctionToolParam:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": dict(self.parameters),
            },
        }

    def check(self, arguments: Any) -> str | None:
        """What is wrong with ``arguments`` (None when they match the schema)."""
        error = jsonschema.exceptions.best_match(self.validator.iter_errors(arguments))
        if error is None:
            return None
        where = "/".join(str(p) for p in error.absolute_path)
        return (f"{where}: " if where else "") + str(error.message)[:300]


def parse_tool_declarations(declarations: Sequence[Any]) -> tuple[WebhookTool, ...]:
    """The webhook tools of an assistant's ``tools`` list; ToolDeclarationError if one is bad."""
    tools: list[WebhookTool] = []
    for i, item in enumerate(declarations):
        if not isinstance(item, Mapping):
            raise ToolDeclarationError(f"tool #{i + 1}: must be an object")
        unknown = sorted(set(item) - _DECLARATION_KEYS)
        if unknown:
            raise ToolDeclarationError(f"tool #{i + 1}: unknown fields {unknown}")
        missing = sorted(k for k in _DECLARATION_KEYS - {"timeout_s"} if k not in item)
        if missing:
            raise ToolDeclarationError(f"tool #{i + 1}: missing fields {missing}")
        tool = WebhookTool(
            name=item["name"],
            description=item["description"],
            parameters=item["parameters"],
            webhook=item["webhook"],
            timeout_s=item.get("timeout_s", 5.0),
        )
        if any(t.name == tool.name for t in tools):
            raise ToolDeclarationError(f"tool {tool.name!r}: declared twice")
        tools.append(tool)
    return tuple(tools)
