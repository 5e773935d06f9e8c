"""The control messages of Asterisk's WebSocket media channel (chan_websocket), sans-IO.

Audio travels as BINARY messages; everything else is TEXT, in one of two forms chosen when the
channel is created: plain text (the default) or JSON (``transport_data=f(json)``). Verbatim from
Asterisk 22.10.1 (tests/asterisk22/asterisk-facts/media.md section 3)::

    MEDIA_START connection_id:8d41... channel:WebSocket/INCOMING/0x7fcb8000a5b0
        channel_id:1795327155.73 format:slin16 optimal_frame_size:640 ptime:20
    {"event":"MEDIA_START","connection_id":"e8e7...","channel":"WebSocket/INCOMING/0x55a2...",
     "channel_id":"1795327167.77","format":"slin16","optimal_frame_size":640,"ptime":20,
     "channel_variables":{...}}
    DTMF_END digit:1 channel_id:1795327155.73
    STATUS channel_id:... queue_length:0 xon_level:800 xoff_level:900 queue_full:false
        bulk_media:false media_paused:false
    MEDIA_MARK_PROCESSED mark-1            MEDIA_BUFFERING_COMPLETED bulk-1
    MEDIA_XOFF    MEDIA_XON    QUEUE_DRAINED

:func:`parse_event` turns one TEXT message (either form) into an event, or raises
:class:`~callwright.errors.ProtocolError`; it never raises anything else. An event name we do not
know becomes :class:`UnknownEvent` (Asterisk adds events between versions). :func:`build_command`
makes the commands we send (``GET_STATUS``, ``MARK_MEDIA <id>``, ``FLUSH_MEDIA`` ...).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from callwright.errors import MediaError, ProtocolError

#: A message over this many bytes makes Asterisk close the websocket (1009) and hang up.
MAX_MESSAGE_BYTES = 65535
#: Bytes of one 20 ms frame per format, as Asterisk sends them (``optimal_frame_size``).
FRAME_BYTES = {"ulaw": 160, "alaw": 160, "slin": 320, "slin16": 640}
COMMANDS = frozenset({
    "GET_STATUS", "MARK_MEDIA", "START_MEDIA_BUFFERING", "STOP_MEDIA_BUFFERING",
    "REPORT_QUEUE_DRAINED", "FLUSH_MEDIA", "HANGUP",
})
_WITH_ID = frozenset({"MARK_MEDIA", "STOP_MEDIA_BUFFERING"})
_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_ID = re.compile(r"^[\x21-\x7e]{1,200}$")
_MAX_TEXT = 65535


@dataclass(frozen=True, slots=True)
class MediaStart:
    connection_id: str
    channel: str
    channel_id: str
    format: str
    optimal_frame_size: int
    ptime: int
    channel_variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DtmfEnd:
    digit: str
    channel_id: str = ""


@dataclass(frozen=True, slots=True)
class MediaXoff:
    channel_id: str = ""


@dataclass(frozen=True, slots=True)
class MediaXon:
    channel_id: str = ""


@dataclass(frozen=True, slots=True)
class Status:
    channel_id: str
    queue_length: int
    xon_level: int
    xoff_level: int
    queue_full: bool
    bulk_media: bool
    media_paused: bool


@dataclass(frozen=True, slots=True)
class QueueDrained:
    channel_id: str = ""


@dataclass(frozen=True, slots=True)
class MarkProcessed:
    correlation_id: str
    channel_id: str = ""


@dataclass(frozen=True, slots=True)
class BufferingCompleted:
    correlation_id: str
    channel_id: str = ""


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    name: str
    fields: Mapping[str, str]


WsMediaEvent = (
    MediaStart | DtmfEnd | MediaXoff | MediaXon | Status | QueueDrained | MarkProcessed
    | BufferingCompleted | UnknownEvent
)


def _plain(text: str) -> tuple[str, dict[str, str], list[str]]:
    """``NAME k:v k:v arg`` → (NAME, {k: v}, [arg])."""
    tokens = text.split()
    if not tokens:
        raise ProtocolError("empty media control message")
    fields: dict[str, str] = {}
    args: list[str] = []
    for token in tokens[1:]:
        key, sep, value = token.partition(":")
        if sep and key and key.replace("_", "").isalnum():
            fields[key] = value
        else:
            args.append(token)
    return tokens[0], fields, args


def _json(text: str) -> tuple[str, dict[str, Any]]:
    try:
        body = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"media control message is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ProtocolError("media control JSON is not an object")
    name = body.get("event")
    if not isinstance(name, str):
        raise ProtocolError("media control JSON has no \"event\" string")
    return name, body


def _text(fields: Mapping[str, Any], key: str, *, required: bool = False) -> str:
    value = fields.get(key)
    if value is None:
        if required:
            raise ProtocolError(f"media control message lacks {key!r}")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ProtocolError(f"media control field {key!r} is not text: {value!r}")
    return str(value)


def _int(fields: Mapping[str, Any], key: str) -> int:
    value = fields.get(key)
    if isinstance(value, bool):
        raise ProtocolError(f"media control field {key!r} is not a number: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 10:
        return int(value)
    raise ProtocolError(f"media control field {key!r} is not a number: {value!r}")


def _bool(fields: Mapping[str, Any], key: str) -> bool:
    value = fields.get(key)
    if isinstance(value, bool):
        return value
    if value == "true" or value == "false":
        return bool(value == "true")
    raise ProtocolError(f"media control field {key!r} is not true/false: {value!r}")


def _variables(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ProtocolError("MEDIA_START channel_variables is not an object")
    return {str(k): str(v) for k, v in value.items()}


def parse_event(text: str) -> WsMediaEvent:
    """One TEXT message from Asterisk → an event. Raises ProtocolError when it is malformed."""
    if not isinstance(text, str):
        raise ProtocolError("media control message is not text")
    if len(text) > _MAX_TEXT:
        raise ProtocolError(f"media control message of {len(text)} characters")
    stripped = text.strip()
    args: list[str] = []
    fields: Mapping[str, Any]
    if stripped.startswith("{"):
        name, fields = _json(stripped)
    else:
        name, fields, args = _plain(stripped)
    if not _NAME.match(name):
        raise ProtocolError(f"media control message with a bad event name: {name[:40]!r}")
    channel_id = _text(fields, "channel_id")
    if name == "MEDIA_START":
        return MediaStart(
            connection_id=_text(fields, "connection_id", required=True),
            channel=_text(fields, "channel"),
            channel_id=channel_id,
            format=_text(fields, "format", required=True),
            optimal_frame_size=_int(fields, "optimal_frame_size"),
            ptime=_int(fields, "ptime") if "ptime" in fields else 20,
            channel_variables=_variables(fields.get("channel_variables")),
        )
    if name == "DTMF_END":
        digit = _text(fields, "digit", required=True)
        if len(digit) != 1:
            raise ProtocolError(f"DTMF_END with digit {digit[:10]!r}")
        return DtmfEnd(digit, channel_id)
    if name == "MEDIA_XOFF":
        return MediaXoff(channel_id)
    if name == "MEDIA_XON":
        return MediaXon(channel_id)
    if name == "QUEUE_DRAINED":
        return QueueDrained(channel_id)
    if name == "STATUS":
        return Status(
            channel_id=channel_id,
            queue_length=_int(fields, "queue_length"),
            xon_level=_int(fields, "xon_level"),
            xoff_level=_int(fields, "xoff_level"),
            queue_full=_bool(fields, "queue_full"),
            bulk_media=_bool(fields, "bulk_media"),
            media_paused=_bool(fields, "media_paused"),
        )
    if name in ("MEDIA_MARK_PROCESSED", "MEDIA_BUFFERING_COMPLETED"):
        ident = _text(fields, "correlation_id") or (args[0] if args else "")
        if name == "MEDIA_MARK_PROCESSED":
            return MarkProcessed(ident, channel_id)
        return BufferingCompleted(ident, channel_id)
    return UnknownEvent(name, {str(k): str(v) for k, v in fields.items()})


def build_command(name: str, *, json_form: bool = False, correlation_id: str | None = None) -> str:
    """A TEXT command for Asterisk. ``correlation_id`` goes with MARK_MEDIA and
    STOP_MEDIA_BUFFERING (printable ASCII, no spaces). Raises MediaError for anything else."""
    if name not in COMMANDS:
        raise MediaError(f"unknown media command {name!r}")
    if correlation_id is not None:
        if name not in _WITH_ID:
            raise MediaError(f"{name} takes no correlation id")
        if not _ID.match(correlation_id):
            raise MediaError(f"bad correlation id {correlation_id!r}")
    if json_form:
        body: dict[str, str] = {"command": name}
        if correlation_id is not None:
            body["correlation_id"] = correlation_id
        return json.dumps(body, separators=(",", ":"))
    return name if correlation_id is None else f"{name} {correlation_id}"


def frame_bytes(fmt: str) -> int:
    """Bytes of a 20 ms frame in ``fmt``; MediaError for a format we cannot carry."""
    try:
        return FRAME_BYTES[fmt]
    except KeyError:
        raise MediaError(f"WebSocket media cannot carry {fmt!r}") from None


def media_url(base_url: str, connection_id: str) -> str:
    """``ws(s)://host:port/media/<connection_id>`` from ARI's ``http(s)://host:port``."""
    if not _ID.match(connection_id) or "/" in connection_id:
        raise MediaError(f"bad MEDIA_WEBSOCKET_CONNECTION_ID {connection_id!r}")
    base = base_url.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base[len("https://"):]
    elif base.startswith("http://"):
        base = "ws://" + base[len("http://"):]
    else:
        raise MediaError(f"ARI URL {base_url!r} is not http(s)://")
    return f"{base}/media/{connection_id}"
