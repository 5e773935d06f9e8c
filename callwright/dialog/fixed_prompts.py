"""The fixed texts of a flow (greeting, questions, re-prompts, goodbyes): what can be synthesised
before any call, so scripted replies start without waiting for TTS."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")

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


#: What a call says when the speech recogniser failed on the caller's words (crashed, or gave no
#: answer in time): the caller is asked again and the conversation goes on.
REPEAT_LINES = {
    "en": "Sorry, I did not catch that. Could you say it again?",
    "ko": "죄송합니다. 잘 듣지 못했습니다. 다시 한 번 말씀해 주시겠어요?",
    "de": "Entschuldigung, das habe ich nicht verstanden. Können Sie es wiederholen?",
    "fr": "Pardon, je n'ai pas compris. Pouvez-vous répéter ?",
    "es": "Perdone, no le he entendido. ¿Puede repetirlo?",
    "ja": "申し訳ありません、聞き取れませんでした。もう一度おっしゃっていただけますか。",
}

#: What a call says when the LLM could not answer (timed out, or an error after its one retry)
#: and the assistant goes on listening.
LLM_RETRY_LINES = {
    "en": "Sorry, I could not answer that just now. Could you say it again?",
    "ko": "죄송합니다. 지금은 답변을 드리지 못했습니다. 다시 한 번 말씀해 주시겠어요?",
    "de": "Entschuldigung, darauf konnte ich gerade nicht antworten. Können Sie es wiederholen?",
    "fr": "Pardon, je n'ai pas pu répondre. Pouvez-vous répéter ?",
    "es": "Perdone, no he podido responder. ¿Puede repetirlo?",
    "ja": "申し訳ありません、今はお答えできませんでした。もう一度おっしゃっていただけますか。",
}


def line_for(lines: Mapping[str, T], language: str) -> T:
    """The entry of ``lines`` for ``language`` (``ko-KR`` → ``ko``), English when there is none."""
    return lines.get(language.split("-")[0].lower(), lines["en"])


def failure_prompts(language: str) -> list[str]:
    """The fixed lines a call of ``language`` may need when a dependency fails (synthesised ahead
    with the flow's prompts, so they are ready when the TTS engine is the thing that failed)."""
    return [line_for(REPEAT_LINES, language), line_for(LLM_RETRY_LINES, language)]
