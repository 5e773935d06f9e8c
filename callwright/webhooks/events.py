"""The post-call events' payloads (pure: no I/O, tested without a store).

Every event is a JSON envelope ``{"id", "type", "created_at", "data"}``; ``id`` is the same for
every endpoint and every retry of one event, so a receiver can drop duplicates. ``data.call`` is
the call's metadata and outcome, with ``url`` (its page in the admin) when ``[admin] public_url``
is set. ``call.ended`` adds the slots and the transcript, except for a caller whose processing is
restricted: then ``transcript`` is absent, ``transcript_withheld`` is true, and the slots filled by
a ``take_message`` node (spoken words, taken down) are left out too; ``message.taken`` then says
that a message was taken, without its words. See docs/webhooks.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from callwright.store.calls import Call
from callwright.store.turns import Turn

ENVELOPE_VERSION = 1


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What an event says about a call, gathered once by the lifecycle hook."""

    call: Call
    assistant_name: str
    public_url: str
    restricted: bool


@dataclass(frozen=True, slots=True)
class TakenMessage:
    node_id: str
    slot: str
    text: str


def event_id(call_uid: str, event: str, suffix: str = "") -> str:
    """A stable id for one event of one call (the same on every retry and every endpoint)."""
    return f"evt_{call_uid}_{event.replace('.', '_')}{'_' + suffix if suffix else ''}"


def call_url(public_url: str, call_uid: str) -> str | None:
    """The call's page in the admin, or None when ``public_url`` is not set."""
    base = public_url.strip().rstrip("/")
    return f"{base}/calls/{call_uid}" if base else None


def call_json(facts: CallFacts) -> dict[str, Any]:
    call = facts.call
    return {
        "uid": call.uid,
        "url": call_url(facts.public_url, call.uid),
        "direction": call.direction,
        "dialed": call.dialed,
        "caller_number": call.caller_number,
        "caller_name": call.caller_name,
        "assistant": {"id": call.assistant_id, "name": facts.assistant_name},
        "started_at": call.started_at,
        "answered_at": call.answered_at,
        "ended_at": call.ended_at,
        "duration_ms": call.duration_ms,
        "status": call.status,
        "end_reason": call.end_reason,
    }


def envelope(event: str, ident: str, created_at: str, data: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": ident, "type": event, "version": ENVELOPE_VERSION, "created_at": created_at,
            "data": dict(data)}


def messages_taken(flow: Mapping[str, Any] | None, slots: Mapping[str, Any]) -> list[TakenMessage]:
    """The messages a flow's ``take_message`` nodes took in this call: each such node whose slot
    holds text at the end of the call (in the flow's node order)."""
    nodes = (flow or {}).get("nodes")
    if not isinstance(nodes, Mapping):
        return []
    found: list[TakenMessage] = []
    seen: set[str] = set()
    for node_id, node in nodes.items():
        if not isinstance(node, Mapping) or node.get("kind") != "take_message":
            continue
        slot = node.get("slot", "message")
        value = slots.get(slot) if isinstance(slot, str) else None
        if isinstance(value, str) and value.strip() and slot not in seen:
            seen.add(slot)
            found.append(TakenMessage(str(node_id), slot, value))
    return found


def summary(facts: CallFacts, messages: Sequence[TakenMessage], slots: Mapping[str, Any]) -> str:
    """One short line on what came of the call (for Slack and humans): the message taken, else
    the slots filled, else the outcome."""
    if messages:
        if facts.restricted:
            return "A message was taken (its words are withheld: the caller's processing is " \
                   "restricted)."
        return "Message: " + " / ".join(m.text for m in messages)[:500]
    shown = [f"{k}: {v}" for k, v in slots.items() if isinstance(v, str | int | float)]
    if shown:
        return "; ".join(shown)[:500]
    reason = f" ({facts.call.end_reason})" if facts.call.end_reason else ""
    return f"Call {facts.call.status}{reason}."


def call_started(facts: CallFacts, created_at: str) -> dict[str, Any]:
    return envelope("call.started", event_id(facts.call.uid, "call.started"), created_at,
                    {"call": call_json(facts)})


def call_ended(
    facts: CallFacts, turns: Sequence[Turn], messages: Sequence[TakenMessage], created_at: str
) -> dict[str, Any]:
    slots = dict(facts.call.slots)
    if facts.restricted:
        for message in messages:
            slots.pop(message.slot, None)
    data: dict[str, Any] = {
        "call": call_json(facts),
        "slots": slots,
        "summary": summary(facts, messages, slots),
        "recording": facts.call.recording_path is not None,
    }
    if facts.restricted:
        data["transcript_withheld"] = True
    else:
        data["transcript"] = [
            {"seq": t.seq, "speaker": t.speaker, "text": t.text, "at": t.started_at,
             "interrupted": t.interrupted}
            for t in turns
        ]
    return envelope("call.ended", event_id(facts.call.uid, "call.ended"), created_at, data)


def message_taken(facts: CallFacts, message: TakenMessage, created_at: str) -> dict[str, Any]:
    data: dict[str, Any] = {"call": call_json(facts), "node": message.node_id,
                            "slot": message.slot}
    if facts.restricted:
        data["message_withheld"] = True
    else:
        data["message"] = message.text
    return envelope("message.taken", event_id(facts.call.uid, "message.taken", message.node_id),
                    created_at, data)


def recording_ready(facts: CallFacts, created_at: str) -> dict[str, Any]:
    url = call_url(facts.public_url, facts.call.uid)
    data = {
        "call": call_json(facts),
        "recording": {
            "encrypted": facts.call.recording_key_id is not None,
            "url": f"{url}/recording" if url else None,
        },
    }
    return envelope("recording.ready", event_id(facts.call.uid, "recording.ready"), created_at,
                    data)


def encode(event: Mapping[str, Any]) -> str:
    """The exact JSON text sent (and signed) for an event: compact, UTF-8, no NaN."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"), allow_nan=False,
                      default=str)
