"""The fixed texts of a flow (greeting, questions, re-prompts, goodbyes): what can be synthesised
before any call, so scripted replies start without waiting for TTS."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TEXT_FIELDS = ("text", "prompt", "reprompt", "no_input_prompt")


def fixed_prompts(definition: Mapping[str, Any]) -> list[str]:
    """Every literal text of the flow's nodes, once each, in node order."""
    seen: dict[str, None] = {}
    nodes = definition.get("nodes")
    if not isinstance(nodes, Mapping):
        return []
    for node in nodes.values():
        if not isinstance(node, Mapping):
            continue
        for key in TEXT_FIELDS:
            value = node.get(key)
            if isinstance(value, str) and value.strip():
                seen.setdefault(value, None)
    return list(seen)
