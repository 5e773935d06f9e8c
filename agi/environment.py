"""The AGI environment block: the ``agi_<name>: <value>`` lines Asterisk sends first, on connect
(FastAGI) or on a local AGI/EAGI script's stdin, ended by an empty line.

:func:`parse_environment` turns the lines into an :class:`AgiEnvironment`; anything that does not
fit raises :class:`~callwright.errors.ProtocolError`. :class:`~agi.protocol.AgiConnection` feeds
it the lines as they arrive.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from callwright.errors import ProtocolError

#: Most lines in an environment block (Asterisk sends about 25 plus the arguments).
MAX_ENV_LINES = 512

_ENV_KEY = re.compile(r"^agi_[a-z0-9_]+$")


@dataclass(frozen=True, slots=True)
class AgiEnvironment:
    """The environment block, keys as sent (``agi_channel``). ``args`` are ``agi_arg_N`` in
    order."""

    values: Mapping[str, str]
    args: tuple[str, ...] = ()

    def get(self, name: str, default: str = "") -> str:
        """A value by name, with or without the ``agi_`` prefix."""
        key = name if name.startswith("agi_") else f"agi_{name}"
        return self.values.get(key, default)

    @property
    def request(self) -> str:
        return self.get("request")

    @property
    def network(self) -> bool:
        """True for FastAGI (``agi_network: yes``)."""
        return self.get("network") == "yes"

    @property
    def script(self) -> str:
        """The script asked for: the FastAGI URL path without slashes and query
        (``agi://host:4573/route?x`` → ``route``), or a local script's file name."""
        if self.network:
            path = self.get("network_script")
        else:
            path = self.request.rsplit("/", 1)[-1]
        return path.split("?", 1)[0].strip("/")

    @property
    def channel(self) -> str:
        return self.get("channel")

    @property
    def uniqueid(self) -> str:
        return self.get("uniqueid")

    @property
    def language(self) -> str:
        return self.get("language")

    @property
    def caller_number(self) -> str:
        """``agi_callerid``, or "" when Asterisk says ``unknown``."""
        value = self.get("callerid")
        return "" if value == "unknown" else value

    @property
    def caller_name(self) -> str:
        value = self.get("calleridname")
        return "" if value == "unknown" else value

    @property
    def context(self) -> str:
        return self.get("context")

    @property
    def extension(self) -> str:
        return self.get("extension")

    @property
    def priority(self) -> str:
        return self.get("priority")

    @property
    def enhanced(self) -> bool:
        """True for EAGI (``agi_enhanced: 1.0``): the caller's audio is on fd 3."""
        return self.get("enhanced") not in ("", "0", "0.0")

    @property
    def dialed(self) -> str:
        """The number the caller dialed: the first argument if given, else the extension."""
        return self.args[0] if self.args and self.args[0] else self.extension


def _env_line(line: str) -> tuple[str, str]:
    key, sep, value = line.partition(":")
    if not sep or not _ENV_KEY.match(key):
        raise ProtocolError(f"not an AGI environment line: {line[:80]!r}")
    return key, value[1:] if value.startswith(" ") else value


def _arg_index(key: str) -> int | None:
    suffix = key[len("agi_arg_"):] if key.startswith("agi_arg_") else ""
    return int(suffix) if suffix.isdigit() and 0 < len(suffix) <= 4 else None


def parse_environment(lines: Iterable[str]) -> AgiEnvironment:
    """The environment from its lines (without the closing empty line). Raises ProtocolError."""
    values: dict[str, str] = {}
    for line in lines:
        key, value = _env_line(line)
        if key in values:
            raise ProtocolError(f"AGI environment repeats {key}")
        values[key] = value
        if len(values) > MAX_ENV_LINES:
            raise ProtocolError(f"AGI environment longer than {MAX_ENV_LINES} lines")
    if "agi_request" not in values:
        raise ProtocolError("AGI environment without agi_request")
    numbered = sorted((i, v) for k, v in values.items() if (i := _arg_index(k)) is not None)
    if [i for i, _ in numbered] != list(range(1, len(numbered) + 1)):
        raise ProtocolError("AGI environment arguments are not numbered 1..N")
    return AgiEnvironment(MappingProxyType(values), tuple(v for _, v in numbered))
