"""jambonz mod_audio_fork's WebSocket protocol, sans-IO, both sides of it.

What was observed (tests/freeswitch110/freeswitch-facts/README.md, "mod_audio_fork"):

* FreeSWITCH connects with subprotocol ``audio.drachtio.org``, sends the metadata given to
  ``uuid_audio_fork ... start`` as the first TEXT frame (verbatim), then BINARY frames of raw L16
  little-endian PCM, 20 ms each (320 bytes mono 8 kHz, 640 bytes 16 kHz).
* With bidirectional streaming on (``... <bugname> <metadata> true true <rate>``) the server sends
  BINARY L16 LE at ``<rate>``; it is buffered and played in real time, replacing the frames the
  channel writes (so only while the channel writes frames: a playback of ``silence_stream://-1``).
* Server TEXT ``{"type": T, "data": D}``: ``killAudio`` clears the buffer, ``mark`` is echoed back
  as ``{"type": "mark", "data": {"name":"m1", "event": "playout"}}`` once the audio before it has
  played (``"cleared"`` when a killAudio dropped it); ``transcription``/``transfer``/``error``
  become CUSTOM events with D as body, ``json`` one with the whole message; ``disconnect`` ends
  the stream; anything else (unknown type, not JSON) only logs an error in FreeSWITCH.

The command line is split on spaces by the module: metadata and bug names must hold none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from callwright.errors import ProtocolError

SUBPROTOCOL = "audio.drachtio.org"
DEFAULT_BUGNAME = "audio_fork"
#: The CUSTOM event subclasses mod_audio_fork fires (subscribe to them with ``event ... CUSTOM``).
EVENT_PREFIX = "mod_audio_fork::"
SUBCLASSES = tuple(EVENT_PREFIX + name for name in (
    "connect", "connect_failed", "disconnect", "error", "json", "transcription", "transfer",
    "play_audio", "kill_audio", "buffer_overrun",
))
RATES = {"8k": 8000, "16k": 16000, "8000": 8000, "16000": 16000}
MIX_TYPES = ("mono", "mixed", "stereo")
#: Server message types the module acts on, and the CUSTOM event each fires ("" = none).
EVENT_FOR_TYPE = {
    "transcription": "transcription", "transfer": "transfer", "error": "error", "json": "json",
    "killAudio": "kill_audio", "disconnect": "disconnect", "playAudio": "play_audio", "mark": "",
}


class AudioForkError(ProtocolError):
    """A mod_audio_fork command that cannot be expressed, or a message that is not the protocol."""


def compact_json(value: Any) -> str:
    """JSON without spaces, as the module's arguments require (and as cJSON prints)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _word(what: str, value: str) -> str:
    if not value or any(ch.isspace() for ch in value):
        raise AudioForkError(f"mod_audio_fork splits its arguments on spaces: {what} {value!r}")
    return value


def start_args(
    uuid: str, url: str, *, rate: int, metadata: dict[str, Any] | None = None,
    bugname: str = DEFAULT_BUGNAME, mix: str = "mono", bidirectional_rate: int | None = None,
) -> str:
    """The ``uuid_audio_fork`` API arguments starting a fork (metadata compact JSON; the three
    bidirectional arguments are only read by the module when all ten are present)."""
    if mix not in MIX_TYPES:
        raise AudioForkError(f"mix type must be one of {MIX_TYPES}: {mix!r}")
    if rate not in (8000, 16000):
        raise AudioForkError(f"rate must be 8000 or 16000: {rate}")
    parts = [_word("uuid", uuid), "start", _word("url", url), mix, f"{rate // 1000}k"]
    meta = compact_json(metadata) if metadata is not None else None
    if bidirectional_rate is not None:
        parts += [_word("bugname", bugname), _word("metadata", meta or "{}"),
                  "true", "true", str(bidirectional_rate)]
    else:
        parts.append(_word("bugname", bugname))
        if meta is not None:
            parts.append(_word("metadata", meta))
    return "uuid_audio_fork " + " ".join(parts)


def stop_args(uuid: str, bugname: str = DEFAULT_BUGNAME, text: str | None = None) -> str:
    parts = ["uuid_audio_fork", _word("uuid", uuid), "stop", _word("bugname", bugname)]
    if text is not None:
        parts.append(_word("text", text))
    return " ".join(parts)


def kill_audio() -> str:
    return compact_json({"type": "killAudio"})


def mark(name: str) -> str:
    return compact_json({"type": "mark", "data": {"name": name}})


def mark_report(name: str, event: str) -> str:
    """The module's mark echo, spaced exactly as it writes it (``event``: playout or cleared)."""
    quoted_name, quoted_event = json.dumps(name), json.dumps(event)
    return f'{{"type": "mark", "data": {{"name":{quoted_name}, "event": {quoted_event}}}}}'


@dataclass(frozen=True, slots=True)
class MarkReport:
    name: str
    event: str  # "playout" or "cleared"


def parse_from_freeswitch(text: str) -> MarkReport | None:
    """A TEXT frame from FreeSWITCH: a mark report, or None (the metadata, send_text, stop text)."""
    try:
        message = json.loads(text)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("type") != "mark":
        return None
    data = message.get("data")
    if not isinstance(data, dict):
        raise AudioForkError(f"mark report without data: {text[:200]!r}")
    name, event = data.get("name"), data.get("event")
    if not isinstance(name, str) or event not in ("playout", "cleared"):
        raise AudioForkError(f"mark report not understood: {text[:200]!r}")
    return MarkReport(name, str(event))


@dataclass(frozen=True, slots=True)
class ServerMessage:
    """A TEXT frame from the server as the module reads it: its type, data, and the body of the
    CUSTOM event it fires (``event`` "" when it fires none)."""

    type: str
    data: Any
    event: str
    event_body: str


def parse_from_server(text: str) -> ServerMessage | None:
    """None for what the module ignores (not JSON, no or unknown type): it only logs those."""
    try:
        message = json.loads(text)
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    kind = message.get("type")
    if not isinstance(kind, str) or kind not in EVENT_FOR_TYPE:
        return None
    data = message.get("data")
    if kind == "json":
        body = compact_json(message)
    elif kind in ("transcription", "transfer", "error") and data is not None:
        body = compact_json(data)
    else:
        body = ""
    return ServerMessage(kind, data, EVENT_FOR_TYPE[kind], body)
