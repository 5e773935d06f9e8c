"""The demo assistant's flow, in Korean (the language of the speech model we ship) and English.

The caller is asked to say hello, then whether they want a booking; yes books, no says goodbye.
Both are plain JSON-compatible dicts, loaded with :func:`~callwright.dialog.flow.load_flow`.

:data:`BOOKING_FLOW_EN` is the complete example of ``docs/flows.md`` (a restaurant's booking
line: date and time, party size, confirmation, a webhook that books, the result, goodbye).
"""

from __future__ import annotations

from typing import Any

from callwright.dialog.matching import base_language

__all__ = ["BOOKING_FLOW_EN", "DEMO_FLOW", "DEMO_FLOW_EN", "demo_flow"]


def _demo(texts: dict[str, str], hello_phrases: list[str], language: str) -> dict[str, Any]:
    return {
        "version": 1,
        "name": texts["name"],
        "language": language,
        "start": "greet",
        "nodes": {
            "greet": {
                "kind": "ask",
                "label": "Greeting: ask the caller to say hello",
                "prompt": texts["greeting"],
                "slot": "greeted",
                "answer": "choice",
                "choices": [{"value": "hello", "phrases": hello_phrases}],
                "reprompt": texts["greet_again"],
                "max_retries": 2,
                "next": "offer",
                "on_fail": "give_up",
            },
            "offer": {
                "kind": "ask",
                "label": "Offer a booking",
                "prompt": texts["offer"],
                "slot": "wants_booking",
                "answer": "yes_no",
                "reprompt": texts["offer_again"],
                "max_retries": 2,
                "routes": {"yes": "booked", "no": "declined"},
                "on_fail": "give_up",
            },
            "booked": {"kind": "hangup", "text": texts["booked"], "reason": "demo_booked"},
            "declined": {"kind": "hangup", "text": texts["declined"], "reason": "demo_declined"},
            "give_up": {"kind": "hangup", "text": texts["give_up"], "reason": "demo_no_answer"},
        },
    }


DEMO_FLOW: dict[str, Any] = _demo(
    {
        "name": "콜라이트 데모",
        "greeting": "안녕하세요, 콜라이트 데모입니다. 안녕하세요 라고 말씀해 보세요.",
        "greet_again": "잘 듣지 못했습니다. 안녕하세요 라고 말씀해 주세요.",
        "offer": "반갑습니다. 예약을 도와드릴까요? 네 또는 아니요로 답해 주세요.",
        "offer_again": "죄송합니다. 네 또는 아니요로 답해 주세요.",
        "booked": "예약을 접수했습니다. 감사합니다. 안녕히 계세요.",
        "declined": "알겠습니다. 좋은 하루 되세요.",
        "give_up": "죄송합니다. 다음에 다시 전화해 주세요. 안녕히 계세요.",
    },
    ["안녕하세요"],
    "ko",
)

DEMO_FLOW_EN: dict[str, Any] = _demo(
    {
        "name": "Callwright demo",
        "greeting": "Hello, this is the Callwright demo. Please say hello.",
        "greet_again": "Sorry, I didn't catch that. Please say hello.",
        "offer": "Nice to meet you. Shall I make a booking for you? Please answer yes or no.",
        "offer_again": "Sorry. Please answer yes or no.",
        "booked": "Your booking is made. Thank you. Goodbye.",
        "declined": "All right. Have a nice day.",
        "give_up": "Sorry, please call again later. Goodbye.",
    },
    ["hello", "hi", "hey", "good morning", "good afternoon", "good evening"],
    "en",
)


def demo_flow(language: str) -> dict[str, Any]:
    """The demo flow for ``language``: Korean for ``ko``, English otherwise."""
    return DEMO_FLOW if base_language(language) == "ko" else DEMO_FLOW_EN


BOOKING_FLOW_EN: dict[str, Any] = {
    "version": 1,
    "name": "Table booking",
    "language": "en",
    "start": "when",
    "nodes": {
        "when": {
            "kind": "ask",
            "prompt": "Welcome to Luigi's. For which day and time would you like a table?",
            "slot": "when",
            "answer": "datetime",
            "reprompt": "Sorry, for which day and time? For example: tomorrow at 7 pm.",
            "next": "size",
            "on_fail": "operator",
        },
        "size": {
            "kind": "ask",
            "prompt": "For how many people?",
            "slot": "party_size",
            "answer": "number",
            "min": 1,
            "max": 20,
            "reprompt": "How many people? You can also key the number and press hash.",
            "next": "big_party",
            "on_fail": "operator",
        },
        "big_party": {
            "kind": "branch",
            "slot": "party_size",
            "cases": [{"range": {"min": 9}, "next": "operator"}],
            "default": "confirm",
        },
        "confirm": {
            "kind": "ask",
            "prompt": "A table for {party_size} on {when}. Shall I book it?",
            "slot": "confirmed",
            "answer": "yes_no",
            "routes": {"yes": "book", "no": "when"},
            "on_fail": "operator",
        },
        "book": {
            "kind": "webhook",
            "webhook": "bookings",
            "text": "One moment please.",
            "send": ["when", "party_size"],
            "results": {"booking_ref": "booking.reference"},
            "next": "booked",
            "on_error": "operator",
        },
        "booked": {
            "kind": "say",
            "text": "You are booked. Your reference is {booking_ref}.",
            "next": "bye",
        },
        "operator": {
            "kind": "transfer",
            "target": "from-internal,200,1",
            "text": "Let me put you through to a colleague.",
            "on_fail": "sorry",
        },
        "sorry": {
            "kind": "hangup",
            "text": "Sorry, nobody can take your call right now. Please call again later.",
            "reason": "no_operator",
        },
        "bye": {"kind": "hangup", "text": "Thank you for calling. Goodbye.", "reason": "booked"},
    },
}
