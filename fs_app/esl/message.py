"""One ESL message: a header block (``Name: value`` lines ended by a blank line) and, when the
headers carry ``Content-Length``, a body of that many bytes.

Every message FreeSWITCH sends has this shape: ``auth/request``, ``command/reply``,
``api/response``, ``text/event-plain``, ``text/event-json`` and ``text/disconnect-notice``.
Header values are kept as sent: most are plain text, but the outbound ``connect`` reply is one
block of channel data whose values are URL-encoded (see :meth:`EslMessage.decoded`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote

from callwright.errors import ProtocolError

#: Characters FreeSWITCH leaves unencoded in header values of plain events and channel data
#: (seen in the traces: ``Mon,%2007%20Dec``, ``loopback/park-b``, ``fd00%3A%3A2``, ``%2BOK``).
URL_SAFE = "'(),-./_~"


class EslProtocolError(ProtocolError):
    """Bytes from an Event Socket peer that are not ESL (a header line with no colon, a bad
    Content-Length, an oversized header block, an event body that does not decode).
    ``complete``: the messages parsed whole before the bad input (none is lost)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.complete: list[EslMessage] = []


class EslCommandError(ProtocolError):
    """FreeSWITCH answered a command with ``-ERR ...`` (``reply`` is its whole reply text)."""

    def __init__(self, command: str, reply: str) -> None:
        super().__init__(f"{command!r} failed: {reply.strip()}")
        self.command = command
        self.reply = reply


def url_encode(value: str) -> str:
    """A header value encoded as FreeSWITCH encodes it (``switch_url_encode``)."""
    return quote(value, safe=URL_SAFE)


def url_decode(value: str) -> str:
    return unquote(value)


@dataclass(frozen=True, slots=True)
class EslMessage:
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""

    def header(self, name: str, default: str = "") -> str:
        """The last value of header ``name`` (names compare case-sensitively, as FreeSWITCH's)."""
        for key, value in reversed(self.headers):
            if key == name:
                return value
        return default

    @property
    def content_type(self) -> str:
        return self.header("Content-Type")

    @property
    def reply_text(self) -> str:
        """``Reply-Text``, URL-decoded (the outbound connect reply encodes it)."""
        return url_decode(self.header("Reply-Text"))

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def decoded(self) -> dict[str, str]:
        """The headers as a dict with URL-decoded values (the outbound ``connect`` reply)."""
        return {key: url_decode(value) for key, value in self.headers}

    @property
    def is_ok(self) -> bool:
        """A command/reply or api/response that starts with ``+OK``."""
        answer = self.reply_text if self.content_type == "command/reply" else self.text
        return answer.startswith("+OK")


def encode_message(headers: Sequence[tuple[str, str]], body: bytes = b"") -> bytes:
    """A message as FreeSWITCH writes it: the headers in the given order (``Content-Length``
    among them where FreeSWITCH puts it: first for events, last for api/response), a blank line,
    the body."""
    block = "".join(f"{name}: {value}\n" for name, value in headers)
    return block.encode("utf-8") + b"\n" + body


def reply(text: str) -> bytes:
    """``command/reply`` with ``Reply-Text: text`` and no body."""
    return encode_message([("Content-Type", "command/reply"), ("Reply-Text", text)])


def api_response(text: str) -> bytes:
    body = text.encode("utf-8")
    return encode_message(
        [("Content-Type", "api/response"), ("Content-Length", str(len(body)))], body
    )
