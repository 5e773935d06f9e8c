"""The flow engine's own phrases, in each language it knows: the apologies, re-prompts and goodbyes
it says when a flow gives it none (:func:`default_texts`), and which of them says goodbye for
each reason a flow hangs up."""

from __future__ import annotations

from callwright.dialog.matching import base_language

__all__ = ["default_texts"]

_DEFAULT_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "sorry": "Sorry, I didn't catch that.",
        "no_input": "Sorry, I didn't hear anything.",
        "goodbye": "Sorry, I couldn't help you this time. Goodbye.",
        "error": "Sorry, something went wrong. Goodbye.",
        "no_answer": "Sorry, I don't have an answer to that.",
        "transfer_failed": "Sorry, I couldn't connect you. Please call again later. Goodbye.",
        "finish": "Call this when the goal is reached, with a short summary of the outcome.",
    },
    "ko": {
        "sorry": "죄송합니다, 잘 알아듣지 못했습니다.",
        "no_input": "죄송합니다, 말씀이 들리지 않았습니다.",
        "goodbye": "도와드리지 못해 죄송합니다. 안녕히 계세요.",
        "error": "죄송합니다, 문제가 발생했습니다. 안녕히 계세요.",
        "no_answer": "죄송합니다, 그 질문에는 답변드리기 어렵습니다.",
        "transfer_failed": "죄송합니다, 연결하지 못했습니다. 나중에 다시 전화해 주세요.",
        "finish": "Call this when the goal is reached, with a short summary of the outcome.",
    },
}


def default_texts(language: str) -> dict[str, str]:
    """The engine's own phrases (apology, goodbye) in ``language``; English when unknown."""
    return _DEFAULT_TEXTS.get(base_language(language), _DEFAULT_TEXTS["en"])


#: Which of the texts above says goodbye for each hang-up reason.
_GOODBYES = {
    "flow_error": "error",
    "webhook_error": "error",
    "no_input": "goodbye",
    "no_match": "goodbye",
    "no_llm": "goodbye",
    "transfer_failed": "transfer_failed",
}
