"""What the browser and the admin say to each other during a test call (sans-IO: no sockets).

The browser opens ``/assistants/{id}/test-call?rate=16000&csrf=...`` as a WebSocket and sends:

* binary messages: the microphone as PCM16 LE mono at the chosen rate (16000 or 8000 Hz), any
  whole number of samples up to :data:`MAX_AUDIO_BYTES` per message (the page sends 20 ms);
* text messages, each a JSON object: ``{"type": "say", "text": "..."}`` (a caller turn typed
  instead of spoken) or ``{"type": "hangup"}``.

The admin answers with binary messages (the assistant's audio: 20 ms frames of PCM16 LE at the
same rate) and text messages: ``started`` (the call's uid, rate and time limit), ``turn`` (one
line of the transcript with its latencies), ``error`` (a message the page shows) and ``ended``
(status and reason; the socket closes after it).

:class:`FrameChunker` cuts the browser's audio into the pipeline's 20 ms frames.
:func:`parse_text` reads a text message; a bad one raises :class:`BadMessage`, which the page is
told about (the call goes on). Audio that is not PCM16, or too large, is a protocol error: the
socket closes with :data:`CLOSE_UNSUPPORTED` or :data:`CLOSE_TOO_BIG`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from callwright.call.journal import TurnRecord

RATES = (16000, 8000)
DEFAULT_RATE = 16000
#: At most half a second of 16 kHz audio in one message.
MAX_AUDIO_BYTES = 16000
#: The longest text one typed turn may carry.
MAX_TYPED_CHARS = 500
#: WebSocket close codes (RFC 6455): data of a kind we do not take; a message too big.
CLOSE_UNSUPPORTED = 1003
CLOSE_TOO_BIG = 1009
#: Text messages larger than this are refused before they are parsed.
MAX_TEXT_BYTES = 4096
#: The turn latencies sent to the page, as named on the turn rows.
LATENCIES = ("stt_ms", "dialog_ms", "tts_ms", "first_frame_ms")


class BadMessage(ValueError):
    """A text message the admin cannot take; the message says why (shown to the user)."""


class BadAudio(ValueError):
    """An audio message that is not PCM16 or is too large; ``code`` closes the socket."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Say:
    text: str


@dataclass(frozen=True, slots=True)
class HangUp:
    pass


ClientMessage = Say | HangUp


def parse_rate(raw: str | None) -> int:
    """The sample rate the page asked for (``?rate=``); the default when it named none."""
    if raw is None or raw == "":
        return DEFAULT_RATE
    if raw.isdigit() and int(raw) in RATES:
        return int(raw)
    raise BadMessage(f"rate must be one of {', '.join(str(r) for r in RATES)} (Hz)")


def parse_text(raw: str) -> ClientMessage:
    """One text message from the page."""
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
        raise BadMessage(f"a message may carry at most {MAX_TEXT_BYTES} bytes")
    try:
        data = json.loads(raw)
    except ValueError:
        raise BadMessage("a message must be a JSON object") from None
    if not isinstance(data, dict):
        raise BadMessage("a message must be a JSON object")
    kind = data.get("type")
    if kind == "hangup":
        return HangUp()
    if kind == "say":
        text = data.get("text")
        if not isinstance(text, str) or not text.strip():
            raise BadMessage("say: text must be a non-empty string")
        text = " ".join(text.split())
        if len(text) > MAX_TYPED_CHARS:
            raise BadMessage(f"say: text may have at most {MAX_TYPED_CHARS} characters")
        return Say(text)
    raise BadMessage('type must be "say" or "hangup"')


class FrameChunker:
    """Cuts audio messages of any whole number of samples into frames of ``frame_bytes``."""

    def __init__(self, frame_bytes: int) -> None:
        self.frame_bytes = frame_bytes
        self._pending = b""

    def feed(self, data: bytes) -> list[bytes]:
        if len(data) > MAX_AUDIO_BYTES:
            raise BadAudio(f"an audio message may carry at most {MAX_AUDIO_BYTES} bytes",
                           CLOSE_TOO_BIG)
        if len(data) % 2:
            raise BadAudio("audio must be PCM16: an even number of bytes", CLOSE_UNSUPPORTED)
        buffer = self._pending + data
        cut = len(buffer) - len(buffer) % self.frame_bytes
        self._pending = buffer[cut:]
        return [buffer[i:i + self.frame_bytes] for i in range(0, cut, self.frame_bytes)]


def started(call_uid: str, rate: int, time_limit_s: float) -> str:
    return _dumps({"type": "started", "call_uid": call_uid, "sample_rate": rate,
                   "time_limit_s": time_limit_s})


def turn(record: TurnRecord) -> str:
    latencies = {name: getattr(record, name) for name in LATENCIES
                 if getattr(record, name) is not None}
    return _dumps({"type": "turn", "speaker": record.speaker, "text": record.text,
                   "interrupted": record.interrupted, "latencies": latencies})


def error(message: str) -> str:
    return _dumps({"type": "error", "message": message})


def ended(status: str, reason: str) -> str:
    return _dumps({"type": "ended", "status": status, "reason": reason})


def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False)
