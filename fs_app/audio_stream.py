"""amigniter mod_audio_stream (community edition)'s protocol, sans-IO: the fallback media path
for a FreeSWITCH without mod_audio_fork.

What was observed (tests/freeswitch110/freeswitch-facts/README.md, "mod_audio_stream"; traces
audio-stream-s1/s2/s3):

* ``uuid_audio_stream <uuid> start <ws-url> <mono|mixed|stereo> <8k|16k> [metadata]``: the
  metadata is the rest of the line (it may hold spaces) and is sent verbatim as the first TEXT
  frame. ``send_text`` and ``stop``'s text are cut at their first space by the module, so this
  module refuses such text rather than let it arrive cut.
* The WebSocket handshake asks for no subprotocol; the caller's audio then comes as BINARY L16
  little-endian frames, 20 ms each (320 bytes mono 8 kHz, 640 bytes 16 kHz).
* It fires CUSTOM events ``mod_audio_stream::connect`` (``{"status":"connected"}``),
  ``::disconnect`` (``{"status":"disconnected","message":{"code":1000,"reason":""}}``),
  ``::error`` (``{"status":"error","message":{"code":6,"error":"..."}}``: connection refused,
  upgrade refused), ``::json`` (any TEXT the server sends, even not JSON, verbatim) and ``::play``
  when the server sends ``{"type":"streamAudio",...}``: the audio written to a file whose path the
  body gives. BINARY frames from the server are ignored: the community edition cannot stream audio
  back, so replies are played as files (``uuid_broadcast``), at a higher latency.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from callwright.errors import ProtocolError

API = "uuid_audio_stream"
#: The CUSTOM event subclasses mod_audio_stream fires (subscribe to them with ``event ... CUSTOM``).
EVENT_PREFIX = "mod_audio_stream::"
SUBCLASSES = tuple(EVENT_PREFIX + name for name in ("connect", "disconnect", "error", "json",
                                                     "play"))
RATES = {"8k": 8000, "16k": 16000}
MIX_TYPES = ("mono", "mixed", "stereo")
#: The module's replies to its API (as recorded).
OK = "+OK Success\n"
FAILED = "-ERR Operation Failed\n"
BAD_MIX = "-ERR no reply\n"


class AudioStreamError(ProtocolError):
    """A mod_audio_stream command that cannot be expressed, or an event body that is not the
    protocol."""


def _word(what: str, value: str) -> str:
    if not value or any(ch.isspace() for ch in value):
        raise AudioStreamError(f"mod_audio_stream cuts {what} at its first space: {value!r}")
    return value


def start_args(uuid: str, url: str, *, rate: int, mix: str = "mono",
               metadata: str | None = None) -> str:
    """The ``uuid_audio_stream`` API arguments starting a stream (metadata: the rest of the line,
    spaces allowed, no line breaks)."""
    if mix not in MIX_TYPES:
        raise AudioStreamError(f"mix type must be one of {MIX_TYPES}: {mix!r}")
    if rate not in (8000, 16000):
        raise AudioStreamError(f"rate must be 8000 or 16000: {rate}")
    parts = [API, _word("uuid", uuid), "start", _word("url", url), mix, f"{rate // 1000}k"]
    if metadata is not None:
        if not metadata.strip() or "\n" in metadata or "\r" in metadata:
            raise AudioStreamError(f"metadata must be one non-empty line: {metadata!r}")
        parts.append(metadata)
    return " ".join(parts)


def stop_args(uuid: str, text: str | None = None) -> str:
    """``stop [text]``: the text (sent as a last TEXT frame) must hold no space."""
    parts = [API, _word("uuid", uuid), "stop"]
    if text is not None:
        parts.append(_word("stop text", text))
    return " ".join(parts)


def send_text_args(uuid: str, text: str) -> str:
    return f"{API} {_word('uuid', uuid)} send_text {_word('text', text)}"


def cut_text(rest: str) -> str:
    """What the module sends of ``send_text``/``stop``'s text: up to its first space."""
    return rest.split(" ", 1)[0]


@dataclass(frozen=True)
class StreamEvent:
    """One CUSTOM event of the module, read: ``kind`` is connect, disconnect, error, json or
    play; ``code``/``reason`` for disconnect and error, ``file``/``rate`` for play, ``text`` for
    json (verbatim)."""

    kind: str
    code: int | None = None
    reason: str = ""
    file: str = ""
    rate: int | None = None
    text: str = ""


def parse_event(subclass: str, body: str) -> StreamEvent:
    """The CUSTOM event ``subclass`` (``mod_audio_stream::...``) with ``body``."""
    if not subclass.startswith(EVENT_PREFIX) or subclass not in SUBCLASSES:
        raise AudioStreamError(f"not a mod_audio_stream event: {subclass!r}")
    kind = subclass.removeprefix(EVENT_PREFIX)
    if kind == "json":
        return StreamEvent(kind, text=body)
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise AudioStreamError(f"{subclass} body is not JSON: {body[:80]!r}") from exc
    if not isinstance(data, dict):
        raise AudioStreamError(f"{subclass} body is not an object: {body[:80]!r}")
    if kind == "connect":
        return StreamEvent(kind)
    if kind == "play":
        file, rate = data.get("file"), data.get("sampleRate")
        if not isinstance(file, str) or not isinstance(rate, int):
            raise AudioStreamError(f"{subclass} body lacks file or sampleRate: {body[:80]!r}")
        return StreamEvent(kind, file=file, rate=rate)
    message = data.get("message")
    if not isinstance(message, dict) or not isinstance(message.get("code"), int):
        raise AudioStreamError(f"{subclass} body lacks message.code: {body[:80]!r}")
    reason = message.get("reason" if kind == "disconnect" else "error", "")
    return StreamEvent(kind, code=message["code"], reason=str(reason))


def connect_body() -> str:
    return '{"status":"connected"}'


def disconnect_body(code: int, reason: str = "") -> str:
    return json.dumps({"status": "disconnected", "message": {"code": code, "reason": reason}},
                      separators=(",", ":"))


def error_body(error: str, code: int = 6) -> str:
    return json.dumps({"status": "error", "message": {"code": code, "error": error}},
                      separators=(",", ":"))
