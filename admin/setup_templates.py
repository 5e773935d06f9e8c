"""Assistants to start from in the setup wizard: a receptionist, a booking line, a message
taker and an FAQ line answering from an uploaded document. Each is a name, a greeting and a
dialog flow (English), valid as they stand (tests check them with the flow validator) and
meant to be edited afterwards."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from callwright.dialog.demo_flow import BOOKING_FLOW_EN


@dataclass(frozen=True, slots=True)
class Template:
    key: str
    label: str
    name: str
    flow: dict[str, Any]
    needs_document: bool = False


def _receptionist(front_desk: str) -> dict[str, Any]:
    return {
        "version": 1, "name": "Receptionist", "language": "en", "start": "greet",
        "nodes": {
            "greet": {
                "kind": "ask", "label": "Who would the caller like?",
                "prompt": "Hello, thank you for calling. Would you like sales or support?",
                "slot": "department", "answer": "choice",
                "choices": [{"value": "sales", "phrases": ["sales", "buy", "price"]},
                            {"value": "support", "phrases": ["support", "help", "problem"]}],
                "reprompt": "Sorry, sales or support?", "max_retries": 2,
                "routes": {"sales": "to_sales", "support": "to_support"},
                "on_fail": "to_desk",
            },
            "to_sales": {"kind": "transfer", "target": front_desk, "reason": "sales",
                         "text": "Putting you through to sales.", "on_fail": "sorry"},
            "to_support": {"kind": "transfer", "target": front_desk, "reason": "support",
                           "text": "Putting you through to support.", "on_fail": "sorry"},
            "to_desk": {"kind": "transfer", "target": front_desk, "reason": "front_desk",
                        "text": "Let me put you through.", "on_fail": "sorry"},
            "sorry": {"kind": "hangup", "reason": "nobody_free",
                      "text": "Sorry, nobody can take your call right now. Please call again."},
        },
    }


def _message_taker() -> dict[str, Any]:
    return {
        "version": 1, "name": "Message taker", "language": "en", "start": "take",
        "nodes": {
            "take": {
                "kind": "take_message", "label": "Take the caller's message",
                "prompt": "Hello, nobody can answer right now. Please leave your message "
                          "after this, and say goodbye when you are done.",
                "slot": "message", "next": "bye",
            },
            "bye": {"kind": "hangup", "reason": "message_taken",
                    "text": "Thank you, we will call you back. Goodbye."},
        },
    }


def _faq() -> dict[str, Any]:
    return {
        "version": 1, "name": "FAQ", "language": "en", "start": "answer",
        "nodes": {
            "answer": {
                "kind": "knowledge", "label": "Answer from the uploaded document",
                "prompt": "Hello, what would you like to know?", "next": "more",
                "on_miss": "more",
            },
            "more": {
                "kind": "ask", "prompt": "Anything else?", "slot": "more", "answer": "yes_no",
                "routes": {"yes": "answer", "no": "bye"}, "max_retries": 1, "on_fail": "bye",
            },
            "bye": {"kind": "hangup", "reason": "faq_done", "text": "Goodbye."},
        },
    }


def templates(front_desk: str = "PJSIP/100") -> dict[str, Template]:
    return {
        t.key: t for t in (
            Template("receptionist", "Receptionist: asks who the caller wants, transfers",
                     "Receptionist", _receptionist(front_desk)),
            Template("booking", "Booking line: date, time and party size, then a webhook books",
                     "Bookings", copy.deepcopy(BOOKING_FLOW_EN)),
            Template("message", "Message taker: records what the caller says", "Messages",
                     _message_taker()),
            Template("faq", "FAQ line: answers from a document you upload", "FAQ", _faq(),
                     needs_document=True),
        )
    }
