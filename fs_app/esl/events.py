"""ESL events (``text/event-plain`` and ``text/event-json``) and disconnect notices, decoded.

A plain event's body is itself a header block with URL-encoded values, followed, for events that
carry one (BACKGROUND_JOB's result, a CUSTOM event's payload), by ``Content-Length: N``, a blank
line and N bytes. A JSON event's body is one object; its payload is the ``_body`` key. Both give
the same :class:`EslEvent`: header values decoded, the payload as ``body``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from fs_app.esl.message import (
    EslMessage,
    EslProtocolError,
    encode_message,
    url_decode,
    url_encode,
)
from fs_app.esl.parser import content_length, parse_header_block

EVENT_PLAIN = "text/event-plain"
EVENT_JSON = "text/event-json"
DISCONNECT_NOTICE = "text/disconnect-notice"
#: A multi-valued channel variable: a list in JSON events, ``ARRAY::a|:b`` in plain ones (kept so).
ARRAY_PREFIX = "ARRAY::"
ARRAY_SEPARATOR = "|:"


@dataclass(frozen=True, slots=True)
class EslEvent:
    headers: Mapping[str, str]
    body: str = ""
    #: The header pairs in the order sent (plain events keep duplicates; JSON ones cannot).
    ordered: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    @property
    def name(self) -> str:
        return self.headers.get("Event-Name", "")

    @property
    def subclass(self) -> str:
        return self.headers.get("Event-Subclass", "")

    @property
    def uuid(self) -> str:
        """The channel the event is about (``Unique-ID``), "" for a non-channel event."""
        return self.headers.get("Unique-ID", "")

    def get(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)

    def variable(self, name: str) -> str | None:
        """Channel variable ``name`` as the event carries it (``variable_<name>``)."""
        return self.headers.get(f"variable_{name}")


def is_event(message: EslMessage) -> bool:
    return message.content_type in (EVENT_PLAIN, EVENT_JSON)


def parse_event(message: EslMessage) -> EslEvent:
    """The event in ``message``; raises EslProtocolError when its body does not decode."""
    if message.content_type == EVENT_PLAIN:
        return parse_plain_body(message.body)
    if message.content_type == EVENT_JSON:
        return parse_json_body(message.body)
    raise EslProtocolError(f"not an event: Content-Type {message.content_type!r}")


def parse_plain_body(body: bytes) -> EslEvent:
    head, blank, rest = body.partition(b"\n\n")
    if not blank and not head.endswith(b"\n"):
        raise EslProtocolError("plain event: its header block does not end")
    pairs = parse_header_block(head.rstrip(b"\n"), "plain event")
    length = content_length(pairs, "plain event")
    if len(rest) < length:
        raise EslProtocolError(f"plain event: payload of {length} bytes, {len(rest)} present")
    ordered = tuple(
        (name, url_decode(value)) for name, value in pairs if name != "Content-Length"
    )
    return EslEvent(dict(ordered), rest[:length].decode("utf-8", errors="replace"), ordered)


def parse_json_body(body: bytes) -> EslEvent:
    try:
        decoded = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EslProtocolError(f"JSON event: body is not JSON ({exc})") from exc
    if not isinstance(decoded, dict):
        raise EslProtocolError("JSON event: body is not an object of strings")
    pairs: list[tuple[str, str]] = []
    payload = ""
    for name, value in decoded.items():
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            value = ARRAY_PREFIX + ARRAY_SEPARATOR.join(value)
        if not isinstance(value, str):
            raise EslProtocolError(f"JSON event: {name!r} is not a string or a list of strings")
        if name == "_body":
            payload = value
        elif name != "Content-Length":
            pairs.append((name, value))
    return EslEvent(dict(pairs), payload, tuple(pairs))


def encode_plain_event(headers: Sequence[tuple[str, str]], body: str = "") -> bytes:
    """A whole ``text/event-plain`` message as FreeSWITCH writes it."""
    inner = "".join(f"{name}: {url_encode(value)}\n" for name, value in headers)
    payload = body.encode("utf-8")
    if payload:
        inner += f"Content-Length: {len(payload)}\n"
    data = inner.encode("utf-8") + b"\n" + payload
    return encode_message(
        [("Content-Length", str(len(data))), ("Content-Type", EVENT_PLAIN)], data
    )


def encode_json_event(headers: Sequence[tuple[str, str]], body: str = "") -> bytes:
    """A whole ``text/event-json`` message as FreeSWITCH writes it (payload as ``_body``)."""
    obj: dict[str, str | list[str]] = {
        name: value[len(ARRAY_PREFIX):].split(ARRAY_SEPARATOR)
        if value.startswith(ARRAY_PREFIX) else value
        for name, value in headers
    }
    if body:
        obj["Content-Length"] = str(len(body.encode("utf-8")))
        obj["_body"] = body
    data = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return encode_message([("Content-Length", str(len(data))), ("Content-Type", EVENT_JSON)], data)


@dataclass(frozen=True, slots=True)
class DisconnectNotice:
    """``text/disconnect-notice``: ``linger`` (the call is gone, the socket stays for
    ``linger_s`` seconds, -1 = until we close) or ``disconnect`` (FreeSWITCH closes now)."""

    disposition: str
    uuid: str
    linger_s: int | None
    text: str

    @property
    def lingering(self) -> bool:
        return self.disposition == "linger"


def parse_disconnect_notice(message: EslMessage) -> DisconnectNotice:
    linger = message.header("Linger-Time")
    try:
        linger_s = int(linger) if linger else None
    except ValueError as exc:
        raise EslProtocolError(f"disconnect notice: Linger-Time {linger!r}") from exc
    return DisconnectNotice(
        disposition=message.header("Content-Disposition", "disconnect"),
        uuid=message.header("Controlled-Session-UUID"),
        linger_s=linger_s,
        text=message.text,
    )
