"""The AGI protocol, sans-IO: bytes in, values and events out; commands in, bytes out.

What a real Asterisk 22 sends (tests/asterisk22/asterisk-facts/agi.md):

- On connect (FastAGI) or on start (a local AGI/EAGI script's stdin), an environment block:
  ``agi_<name>: <value>\\n`` lines ended by an empty line. ``agi_accountcode: `` has a trailing
  space (an empty value); arguments come as ``agi_arg_1``, ``agi_arg_2`` …
- For each command line we send, one reply line: ``200 result=<r> [(<data>)] [key=value …]``,
  or ``510 Invalid or unknown command``, ``511 Command Not Permitted on a dead channel …``, or a
  multi-line usage error (``520-…`` … ``520 End of proper usage.``).
- When the channel hangs up, one unsolicited ``HANGUP`` line. The connection stays open.

Command arguments are split by Asterisk on spaces and tabs; double quotes group and a backslash
escapes the next character, so an argument with spaces, quotes or backslashes is quoted and
escaped (``SET VARIABLE FOO "bar baz"``), and an empty one is sent as ``""``. A line break in an
argument would start a second command, so it is refused.

:class:`AgiConnection` ties it together: feed it what arrived (:meth:`AgiConnection.receive`),
get events back; ask it for the bytes of a command (:meth:`AgiConnection.send`). Anything a peer
sends that does not fit raises :class:`~callwright.errors.ProtocolError`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from agi.environment import MAX_ENV_LINES, AgiEnvironment, _env_line, parse_environment
from callwright.errors import CallwrightError, ProtocolError

#: Longest line accepted from Asterisk (its longest replies are a few KiB).
MAX_LINE_BYTES = 16 * 1024
#: Most lines in a multi-line (520) usage reply.
MAX_USAGE_LINES = 256

_COMMAND_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?: [A-Z][A-Z0-9]*)*$")
_STATUS = re.compile(r"^(?P<code>[1-9][0-9]{2})(?P<sep>[ -])(?P<text>.*)$")
_EXTRA = re.compile(r"^(?:\s+[A-Za-z_][A-Za-z0-9_]*=\S*)*\s*$")
_FORBIDDEN_IN_ARGS = ("\n", "\r", "\x00")


# -- errors a command can get back ----------------------------------------------------------------


class AgiCommandError(CallwrightError):
    """Asterisk refused a command (5xx). ``code``, ``message`` and, for 520, ``usage`` lines."""

    def __init__(self, code: int, message: str, command: str = "",
                 usage: tuple[str, ...] = ()) -> None:
        self.code = code
        self.message = message
        self.command = command
        self.usage = usage
        where = f"{command}: " if command else ""
        super().__init__(f"{where}{code} {message}")


class InvalidCommand(AgiCommandError):
    """510: Asterisk does not know the command."""


class DeadChannel(AgiCommandError):
    """511: the command is not permitted on a hung-up channel."""


class UsageError(AgiCommandError):
    """520: wrong arguments; ``usage`` holds Asterisk's help text."""


def command_error(error: ErrorReply, command: str = "") -> AgiCommandError:
    """The exception for an error reply (by code)."""
    kinds: dict[int, type[AgiCommandError]] = {510: InvalidCommand, 511: DeadChannel,
                                               520: UsageError}
    kind = kinds.get(error.code, AgiCommandError)
    return kind(error.code, error.message, command, error.usage)


# -- commands -------------------------------------------------------------------------------------


def quote_arg(arg: str) -> str:
    """``arg`` as Asterisk's argument splitter reads it back unchanged."""
    if any(ch in arg for ch in _FORBIDDEN_IN_ARGS):
        raise ValueError(f"an AGI argument cannot hold a line break or NUL: {arg[:40]!r}")
    if arg and not any(ch.isspace() or ch in '"\\' for ch in arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class Command:
    """One AGI command: ``name`` (``"STREAM FILE"``, case-insensitive) and its arguments."""

    name: str
    args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        name = re.sub(" +", " ", self.name.strip(" ")).upper()
        if not _COMMAND_NAME.match(name):
            raise ValueError(f"not an AGI command name: {self.name!r}")
        object.__setattr__(self, "name", name)
        for arg in self.args:
            if not isinstance(arg, str):
                raise TypeError(f"AGI arguments are strings, got {type(arg).__name__}")
            quote_arg(arg)

    @property
    def line(self) -> str:
        """The command line without its newline."""
        return " ".join([self.name, *(quote_arg(arg) for arg in self.args)])

    def encode(self) -> bytes:
        return (self.line + "\n").encode("utf-8")


def split_command_line(line: str) -> list[str]:
    """Split a command line as Asterisk does (spaces/tabs separate, quotes group, backslash
    escapes). The inverse of :attr:`Command.line` (for fake peers and tests)."""
    words: list[str] = []
    current: list[str] = []
    in_word = quoted = escaped = False
    for ch in line:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = in_word = True
        elif ch == '"':
            quoted = not quoted
            in_word = True
        elif ch in " \t" and not quoted:
            if in_word:
                words.append("".join(current))
                current, in_word = [], False
        else:
            current.append(ch)
            in_word = True
    if in_word:
        words.append("".join(current))
    return words


# -- replies and events ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reply:
    """A ``200`` reply. ``result`` is as sent (usually an integer; GET DATA sends the digits),
    ``data`` the text in parentheses, ``extra`` the ``key=value`` pairs (``endpos``)."""

    result: str
    data: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def value(self) -> int:
        """``result`` as an integer; ProtocolError if it is not one."""
        try:
            return int(self.result)
        except ValueError:
            raise ProtocolError(f"AGI result {self.result!r} is not an integer") from None

    @property
    def endpos(self) -> int | None:
        text = self.extra.get("endpos")
        return int(text) if text is not None and text.lstrip("-").isdigit() else None


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """A 5xx reply: ``code``, the message, and for 520 the usage text lines."""

    code: int
    message: str
    usage: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HangupNotice:
    """The unsolicited ``HANGUP`` line: the channel hung up."""


AgiEvent = AgiEnvironment | Reply | ErrorReply | HangupNotice


def parse_success(text: str) -> Reply:
    """The part after ``200 `` of a success reply. Raises ProtocolError."""
    if not text.startswith("result="):
        raise ProtocolError(f"AGI 200 reply without result=: {text[:80]!r}")
    body = text[len("result="):]
    result, _, rest = body.partition(" ")
    data: str | None = None
    rest = rest.lstrip(" ")
    if rest.startswith("("):
        close = rest.rfind(")")
        if close < 0 or not _EXTRA.match(rest[close + 1:]):
            raise ProtocolError(f"AGI reply with unbalanced data: {text[:80]!r}")
        data, rest = rest[1:close], rest[close + 1:]
    elif rest and not _EXTRA.match(" " + rest):
        raise ProtocolError(f"AGI reply with unexpected text: {text[:80]!r}")
    extra = {key: value for key, _, value in (pair.partition("=") for pair in rest.split())}
    return Reply(result, data, MappingProxyType(extra))


class _State(enum.Enum):
    ENVIRONMENT = "environment"
    READY = "ready"
    AWAITING_REPLY = "awaiting_reply"


class AgiConnection:
    """The protocol state of one AGI connection (FastAGI socket or EAGI stdin/stdout).

    ``receive(data)`` returns events in order: the :class:`AgiEnvironment` first, then
    :class:`Reply`/:class:`ErrorReply` (one per sent command) and :class:`HangupNotice`.
    ``send(command)`` returns the bytes to write; one command at a time.
    """

    def __init__(self) -> None:
        self._state = _State.ENVIRONMENT
        self._buffer = bytearray()
        self._env_lines: list[str] = []
        self._usage: list[str] | None = None
        self._usage_message = ""
        self.environment: AgiEnvironment | None = None
        self.hung_up = False
        self.pending: Command | None = None

    @property
    def awaiting_reply(self) -> bool:
        return self._state is _State.AWAITING_REPLY

    def send(self, command: Command) -> bytes:
        """The bytes of ``command``. RuntimeError before the environment or while a reply is
        outstanding (AGI is strictly one command, one reply)."""
        if self._state is _State.ENVIRONMENT:
            raise RuntimeError("an AGI command cannot be sent before the environment arrived")
        if self._state is _State.AWAITING_REPLY:
            raise RuntimeError(f"the reply to {self.pending} is still outstanding")
        data = command.encode()
        self._state = _State.AWAITING_REPLY
        self.pending = command
        return data

    def receive(self, data: bytes) -> list[AgiEvent]:
        """Events for the bytes that arrived. Raises ProtocolError for anything malformed."""
        self._buffer += data
        events: list[AgiEvent] = []
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > MAX_LINE_BYTES:
                    raise ProtocolError(f"AGI line longer than {MAX_LINE_BYTES} bytes")
                return events
            if end > MAX_LINE_BYTES:
                raise ProtocolError(f"AGI line longer than {MAX_LINE_BYTES} bytes")
            raw = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            line = raw.decode("utf-8", errors="replace").removesuffix("\r")
            event = self._line(line)
            if event is not None:
                events.append(event)

    def receive_eof(self) -> None:
        """The peer closed. ProtocolError if it stopped in the middle of something."""
        if self._state is _State.ENVIRONMENT:
            raise ProtocolError("the AGI peer closed before the environment was complete")
        if self._buffer:
            raise ProtocolError("the AGI peer closed in the middle of a line")

    def _line(self, line: str) -> AgiEvent | None:
        if self._state is _State.ENVIRONMENT:
            return self._environment_line(line)
        if self._usage is not None:
            return self._usage_line(line)
        if line == "HANGUP":
            self.hung_up = True
            return HangupNotice()
        if self._state is not _State.AWAITING_REPLY:
            raise ProtocolError(f"unsolicited AGI line: {line[:80]!r}")
        match = _STATUS.match(line)
        if match is None:
            raise ProtocolError(f"not an AGI reply: {line[:80]!r}")
        code, text = int(match["code"]), match["text"]
        if match["sep"] == "-":
            if code != 520:
                raise ProtocolError(f"multi-line AGI reply with code {code}")
            self._usage, self._usage_message = [], text
            return None
        if code == 200:
            reply: Reply | ErrorReply = parse_success(text)
        elif 500 <= code <= 599:
            reply = ErrorReply(code, text)
        else:
            raise ProtocolError(f"unexpected AGI status {code}: {line[:80]!r}")
        return self._replied(reply)

    def _environment_line(self, line: str) -> AgiEnvironment | None:
        if line:
            if len(self._env_lines) >= MAX_ENV_LINES:
                raise ProtocolError(f"AGI environment longer than {MAX_ENV_LINES} lines")
            _env_line(line)  # fail early, on the line itself
            self._env_lines.append(line)
            return None
        self.environment = parse_environment(self._env_lines)
        self._env_lines = []
        self._state = _State.READY
        return self.environment

    def _usage_line(self, line: str) -> Reply | ErrorReply | None:
        assert self._usage is not None
        if line.startswith("520 "):
            usage = tuple(self._usage)
            self._usage = None
            return self._replied(ErrorReply(520, self._usage_message, usage))
        if len(self._usage) >= MAX_USAGE_LINES:
            raise ProtocolError(f"AGI usage reply longer than {MAX_USAGE_LINES} lines")
        self._usage.append(line)
        return None

    def _replied(self, reply: Reply | ErrorReply) -> Reply | ErrorReply:
        if self._state is not _State.AWAITING_REPLY:
            raise ProtocolError("unsolicited AGI reply")
        self._state = _State.READY
        self.pending = None
        return reply
