"""ARI resource models (Channel, Bridge, Playback, ...) and their strict JSON readers.

Pure: JSON values in, frozen dataclasses out. A value of the wrong type, or a missing field the
app depends on, raises :class:`ProtocolError` naming the field path (``channel.caller.name``).
Fields Asterisk marks required but the app does not need default to an empty value, so a fake or
older server that leaves them out is still understood; fields Asterisk adds later are ignored.
Timestamps stay strings (``2026-11-22T05:44:16.180+0000``) as Asterisk sends them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from callwright.errors import ProtocolError


def _kind(value: object) -> str:
    """The JSON name of a value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


class JsonObject:
    """Typed, path-aware access to one decoded JSON object.

    ``where`` is the path used in error messages (``"StasisStart.channel"``).
    """

    __slots__ = ("raw", "where")

    def __init__(self, value: object, where: str) -> None:
        if not isinstance(value, dict):
            raise ProtocolError(f"{where}: expected an object, got {_kind(value)}")
        self.raw: Mapping[str, Any] = value
        self.where = where

    def _bad(self, key: str, expected: str, value: object) -> ProtocolError:
        return ProtocolError(f"{self.where}.{key}: expected {expected}, got {_kind(value)}")

    def _missing(self, key: str) -> ProtocolError:
        return ProtocolError(f"{self.where}: missing required field {key!r}")

    def has(self, key: str) -> bool:
        return self.raw.get(key) is not None

    def req_str(self, key: str) -> str:
        if key not in self.raw:
            raise self._missing(key)
        value = self.raw[key]
        if not isinstance(value, str):
            raise self._bad(key, "a string", value)
        return value

    def opt_str(self, key: str) -> str | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self._bad(key, "a string", value)
        return value

    def str_or(self, key: str, default: str = "") -> str:
        value = self.opt_str(key)
        return default if value is None else value

    def req_int(self, key: str) -> int:
        if key not in self.raw:
            raise self._missing(key)
        value = self.opt_int(key)
        if value is None:
            raise self._bad(key, "an integer", None)
        return value

    def opt_int(self, key: str) -> int | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._bad(key, "an integer", value)
        return value

    def opt_bool(self, key: str) -> bool | None:
        value = self.raw.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self._bad(key, "a boolean", value)
        return value

    def req_obj(self, key: str) -> JsonObject:
        if key not in self.raw:
            raise self._missing(key)
        return JsonObject(self.raw[key], f"{self.where}.{key}")

    def opt_obj(self, key: str) -> JsonObject | None:
        if self.raw.get(key) is None:
            return None
        return JsonObject(self.raw[key], f"{self.where}.{key}")

    def str_list(self, key: str, *, required: bool = False) -> tuple[str, ...]:
        if key not in self.raw:
            if required:
                raise self._missing(key)
            return ()
        value = self.raw[key]
        if value is None and not required:
            return ()
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self._bad(key, "an array of strings", value)
        return tuple(value)

    def str_map(self, key: str) -> dict[str, str] | None:
        """An object of string values (channelvars); absent or null gives None."""
        obj = self.opt_obj(key)
        if obj is None:
            return None
        out: dict[str, str] = {}
        for name, value in obj.raw.items():
            if value is None:
                value = ""
            if not isinstance(value, str):
                raise obj._bad(name, "a string", value)
            out[name] = value
        return out


@dataclass(frozen=True, slots=True)
class CallerId:
    name: str
    number: str

    @classmethod
    def from_json(cls, value: object, where: str = "caller") -> CallerId:
        obj = JsonObject(value, where)
        return cls(name=obj.str_or("name"), number=obj.str_or("number"))


@dataclass(frozen=True, slots=True)
class Dialplan:
    """Where a channel is in the dialplan (ARI's ``DialplanCEP``)."""

    context: str
    exten: str
    priority: int
    app_name: str = ""
    app_data: str = ""

    @classmethod
    def from_json(cls, value: object, where: str = "dialplan") -> Dialplan:
        obj = JsonObject(value, where)
        return cls(
            context=obj.req_str("context"),
            exten=obj.req_str("exten"),
            priority=obj.req_int("priority"),
            app_name=obj.str_or("app_name"),
            app_data=obj.str_or("app_data"),
        )


_NO_CALLER = CallerId(name="", number="")


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    name: str
    state: str                      # "Down", "Ring", "Up", ...
    caller: CallerId = _NO_CALLER
    connected: CallerId = _NO_CALLER
    dialplan: Dialplan | None = None
    creationtime: str = ""
    language: str = ""
    accountcode: str = ""
    protocol_id: str = ""
    channelvars: Mapping[str, str] | None = field(default=None, compare=False)

    @classmethod
    def from_json(cls, value: object, where: str = "channel") -> Channel:
        obj = JsonObject(value, where)
        caller = obj.opt_obj("caller")
        connected = obj.opt_obj("connected")
        dialplan = obj.opt_obj("dialplan")
        return cls(
            id=obj.req_str("id"),
            name=obj.req_str("name"),
            state=obj.req_str("state"),
            caller=_NO_CALLER if caller is None else CallerId.from_json(caller.raw, caller.where),
            connected=(
                _NO_CALLER if connected is None
                else CallerId.from_json(connected.raw, connected.where)
            ),
            dialplan=None if dialplan is None else Dialplan.from_json(dialplan.raw, dialplan.where),
            creationtime=obj.str_or("creationtime"),
            language=obj.str_or("language"),
            accountcode=obj.str_or("accountcode"),
            protocol_id=obj.str_or("protocol_id"),
            channelvars=obj.str_map("channelvars"),
        )

    def var(self, name: str) -> str | None:
        """A variable from ``channelvars`` (set by externalMedia, or ari.conf channelvars)."""
        return None if self.channelvars is None else self.channelvars.get(name)


@dataclass(frozen=True, slots=True)
class Bridge:
    id: str
    bridge_type: str = ""           # "mixing", "holding"
    technology: str = ""
    bridge_class: str = ""
    creator: str = ""
    name: str = ""
    channels: tuple[str, ...] = ()
    creationtime: str = ""
    video_mode: str | None = None

    @classmethod
    def from_json(cls, value: object, where: str = "bridge") -> Bridge:
        obj = JsonObject(value, where)
        return cls(
            id=obj.req_str("id"),
            bridge_type=obj.str_or("bridge_type"),
            technology=obj.str_or("technology"),
            bridge_class=obj.str_or("bridge_class"),
            creator=obj.str_or("creator"),
            name=obj.str_or("name"),
            channels=obj.str_list("channels"),
            creationtime=obj.str_or("creationtime"),
            video_mode=obj.opt_str("video_mode"),
        )


@dataclass(frozen=True, slots=True)
class Playback:
    id: str
    media_uri: str
    target_uri: str
    state: str                      # "queued", "playing", "done", "failed" (a stop gives "done")
    language: str | None = None
    next_media_uri: str | None = None

    @classmethod
    def from_json(cls, value: object, where: str = "playback") -> Playback:
        obj = JsonObject(value, where)
        return cls(
            id=obj.req_str("id"),
            media_uri=obj.str_or("media_uri"),
            target_uri=obj.str_or("target_uri"),
            state=obj.req_str("state"),
            language=obj.opt_str("language"),
            next_media_uri=obj.opt_str("next_media_uri"),
        )


@dataclass(frozen=True, slots=True)
class LiveRecording:
    name: str
    format: str
    target_uri: str
    state: str                      # "queued", "recording", "done", "failed", ...
    duration: int | None = None
    talking_duration: int | None = None
    silence_duration: int | None = None
    cause: str | None = None

    @classmethod
    def from_json(cls, value: object, where: str = "recording") -> LiveRecording:
        obj = JsonObject(value, where)
        return cls(
            name=obj.req_str("name"),
            format=obj.str_or("format"),
            target_uri=obj.str_or("target_uri"),
            state=obj.req_str("state"),
            duration=obj.opt_int("duration"),
            talking_duration=obj.opt_int("talking_duration"),
            silence_duration=obj.opt_int("silence_duration"),
            cause=obj.opt_str("cause"),
        )


@dataclass(frozen=True, slots=True)
class Application:
    name: str
    channel_ids: tuple[str, ...] = ()
    bridge_ids: tuple[str, ...] = ()
    endpoint_ids: tuple[str, ...] = ()
    device_names: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, value: object, where: str = "application") -> Application:
        obj = JsonObject(value, where)
        return cls(
            name=obj.req_str("name"),
            channel_ids=obj.str_list("channel_ids"),
            bridge_ids=obj.str_list("bridge_ids"),
            endpoint_ids=obj.str_list("endpoint_ids"),
            device_names=obj.str_list("device_names"),
        )


@dataclass(frozen=True, slots=True)
class AsteriskInfo:
    """The parts of ``GET /asterisk/info`` the app uses (every section is optional in ARI)."""

    version: str | None = None
    entity_id: str | None = None
    default_language: str | None = None
    startup_time: str | None = None
    last_reload_time: str | None = None

    @classmethod
    def from_json(cls, value: object, where: str = "info") -> AsteriskInfo:
        obj = JsonObject(value, where)
        system = obj.opt_obj("system")
        config = obj.opt_obj("config")
        status = obj.opt_obj("status")
        return cls(
            version=None if system is None else system.opt_str("version"),
            entity_id=None if system is None else system.opt_str("entity_id"),
            default_language=None if config is None else config.opt_str("default_language"),
            startup_time=None if status is None else status.opt_str("startup_time"),
            last_reload_time=None if status is None else status.opt_str("last_reload_time"),
        )


@dataclass(frozen=True, slots=True)
class Module:
    """One entry of ``GET /asterisk/modules`` (``name`` as ``module show`` prints it:
    ``chan_rtp.so``; the core's built-in parts have no ``.so``)."""

    name: str
    status: str = ""

    @classmethod
    def from_json(cls, value: object, where: str = "module") -> Module:
        obj = JsonObject(value, where)
        return cls(name=obj.req_str("name"), status=obj.str_or("status"))


@dataclass(frozen=True, slots=True)
class AsteriskPing:
    """``GET /asterisk/ping``: ``timestamp`` is Asterisk's clock when it got the request."""

    asterisk_id: str
    timestamp: str

    @classmethod
    def from_json(cls, value: object, where: str = "ping") -> AsteriskPing:
        obj = JsonObject(value, where)
        return cls(asterisk_id=obj.str_or("asterisk_id"), timestamp=obj.req_str("timestamp"))
