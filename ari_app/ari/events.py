"""ARI events: typed, frozen dataclasses and a pure parser.

``parse_event(text)`` takes one websocket TEXT message and returns an :data:`AriEvent`. It raises
:class:`ProtocolError` (never anything else) for input that is not a JSON object with a string
``type``, or for an event of a known type that lacks a field the app needs or carries a field of
the wrong type. Unknown types become :class:`UnknownEvent` with the decoded object. Extra fields
are ignored: Asterisk adds fields over versions.

Every event carries ``application``, ``timestamp`` and ``asterisk_id``; they default to ``""`` /
``None`` when a server leaves them out, since nothing in the app depends on them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from callwright.errors import ProtocolError

from .models import Bridge, Channel, JsonObject, LiveRecording, Playback


@dataclass(frozen=True, slots=True, kw_only=True)
class _Event:
    application: str = ""
    timestamp: str = ""
    asterisk_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StasisStart(_Event):
    type: ClassVar[str] = "StasisStart"
    args: tuple[str, ...]
    channel: Channel
    replace_channel: Channel | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StasisEnd(_Event):
    type: ClassVar[str] = "StasisEnd"
    channel: Channel


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelHangupRequest(_Event):
    """``cause`` 16 = the caller hung up; our DELETE gives 32 with ``soft`` true."""

    type: ClassVar[str] = "ChannelHangupRequest"
    channel: Channel
    cause: int | None = None
    soft: bool = False
    tech_cause: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelDestroyed(_Event):
    type: ClassVar[str] = "ChannelDestroyed"
    channel: Channel
    cause: int
    cause_txt: str
    tech_cause: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelStateChange(_Event):
    type: ClassVar[str] = "ChannelStateChange"
    channel: Channel


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelDtmfReceived(_Event):
    type: ClassVar[str] = "ChannelDtmfReceived"
    channel: Channel
    digit: str
    duration_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelEnteredBridge(_Event):
    type: ClassVar[str] = "ChannelEnteredBridge"
    bridge: Bridge
    channel: Channel | None = None     # optional in the spec


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelLeftBridge(_Event):
    type: ClassVar[str] = "ChannelLeftBridge"
    bridge: Bridge
    channel: Channel


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelVarset(_Event):
    type: ClassVar[str] = "ChannelVarset"
    variable: str
    value: str
    channel: Channel | None = None     # None for a global variable


@dataclass(frozen=True, slots=True, kw_only=True)
class Dial(_Event):
    """``dialstatus`` is ``""`` when dialing starts, then ``ANSWER``, ``BUSY``, ..."""

    type: ClassVar[str] = "Dial"
    dialstatus: str
    peer: Channel
    caller: Channel | None = None
    forwarded: Channel | None = None
    forward: str | None = None
    dialstring: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeDestroyed(_Event):
    type: ClassVar[str] = "BridgeDestroyed"
    bridge: Bridge


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplicationReplaced(_Event):
    """Another websocket registered our app name; this connection gets no more events."""

    type: ClassVar[str] = "ApplicationReplaced"


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackStarted(_Event):
    type: ClassVar[str] = "PlaybackStarted"
    playback: Playback


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackFinished(_Event):
    """A stopped playback reports ``state`` "done"; a missing file "failed"."""

    type: ClassVar[str] = "PlaybackFinished"
    playback: Playback


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingStarted(_Event):
    type: ClassVar[str] = "RecordingStarted"
    recording: LiveRecording


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingFinished(_Event):
    type: ClassVar[str] = "RecordingFinished"
    recording: LiveRecording


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelConnectedLine(_Event):
    type: ClassVar[str] = "ChannelConnectedLine"
    channel: Channel


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelCallerId(_Event):
    type: ClassVar[str] = "ChannelCallerId"
    channel: Channel
    caller_presentation: int
    caller_presentation_txt: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelDialplan(_Event):
    type: ClassVar[str] = "ChannelDialplan"
    channel: Channel
    dialplan_app: str
    dialplan_app_data: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownEvent(_Event):
    """An event of a type the app does not model (ChannelUserevent, BridgeCreated, ...)."""

    type: str
    raw: Mapping[str, Any]


AriEvent = (
    StasisStart | StasisEnd | ChannelHangupRequest | ChannelDestroyed | ChannelStateChange
    | ChannelDtmfReceived | ChannelEnteredBridge | ChannelLeftBridge | ChannelVarset | Dial
    | BridgeDestroyed | ApplicationReplaced | PlaybackStarted | PlaybackFinished
    | RecordingStarted | RecordingFinished | ChannelConnectedLine | ChannelCallerId
    | ChannelDialplan | UnknownEvent
)


def _channel(obj: JsonObject, key: str = "channel") -> Channel:
    sub = obj.req_obj(key)
    return Channel.from_json(sub.raw, sub.where)


def _opt_channel(obj: JsonObject, key: str) -> Channel | None:
    sub = obj.opt_obj(key)
    return None if sub is None else Channel.from_json(sub.raw, sub.where)


def _bridge(obj: JsonObject) -> Bridge:
    sub = obj.req_obj("bridge")
    return Bridge.from_json(sub.raw, sub.where)


def _playback(obj: JsonObject) -> Playback:
    sub = obj.req_obj("playback")
    return Playback.from_json(sub.raw, sub.where)


def _recording(obj: JsonObject) -> LiveRecording:
    sub = obj.req_obj("recording")
    return LiveRecording.from_json(sub.raw, sub.where)


def _base(obj: JsonObject) -> dict[str, Any]:
    return {
        "application": obj.str_or("application"),
        "timestamp": obj.str_or("timestamp"),
        "asterisk_id": obj.opt_str("asterisk_id"),
    }


def _stasis_start(o: JsonObject) -> AriEvent:
    return StasisStart(
        **_base(o), args=o.str_list("args", required=True), channel=_channel(o),
        replace_channel=_opt_channel(o, "replace_channel"),
    )


def _hangup_request(o: JsonObject) -> AriEvent:
    return ChannelHangupRequest(
        **_base(o), channel=_channel(o), cause=o.opt_int("cause"),
        soft=bool(o.opt_bool("soft")), tech_cause=o.opt_int("tech_cause"),
    )


def _destroyed(o: JsonObject) -> AriEvent:
    return ChannelDestroyed(
        **_base(o), channel=_channel(o), cause=o.req_int("cause"),
        cause_txt=o.req_str("cause_txt"), tech_cause=o.opt_int("tech_cause"),
    )


def _dtmf(o: JsonObject) -> AriEvent:
    return ChannelDtmfReceived(
        **_base(o), channel=_channel(o), digit=o.req_str("digit"),
        duration_ms=o.req_int("duration_ms"),
    )


def _varset(o: JsonObject) -> AriEvent:
    return ChannelVarset(
        **_base(o), variable=o.req_str("variable"), value=o.req_str("value"),
        channel=_opt_channel(o, "channel"),
    )


def _dial(o: JsonObject) -> AriEvent:
    return Dial(
        **_base(o), dialstatus=o.req_str("dialstatus"), peer=_channel(o, "peer"),
        caller=_opt_channel(o, "caller"), forwarded=_opt_channel(o, "forwarded"),
        forward=o.opt_str("forward"), dialstring=o.opt_str("dialstring"),
    )


def _caller_id(o: JsonObject) -> AriEvent:
    return ChannelCallerId(
        **_base(o), channel=_channel(o), caller_presentation=o.req_int("caller_presentation"),
        caller_presentation_txt=o.req_str("caller_presentation_txt"),
    )


def _dialplan(o: JsonObject) -> AriEvent:
    return ChannelDialplan(
        **_base(o), channel=_channel(o), dialplan_app=o.req_str("dialplan_app"),
        dialplan_app_data=o.req_str("dialplan_app_data"),
    )


_PARSERS: dict[str, Callable[[JsonObject], AriEvent]] = {
    "StasisStart": _stasis_start,
    "StasisEnd": lambda o: StasisEnd(**_base(o), channel=_channel(o)),
    "ChannelHangupRequest": _hangup_request,
    "ChannelDestroyed": _destroyed,
    "ChannelStateChange": lambda o: ChannelStateChange(**_base(o), channel=_channel(o)),
    "ChannelDtmfReceived": _dtmf,
    "ChannelEnteredBridge": lambda o: ChannelEnteredBridge(
        **_base(o), bridge=_bridge(o), channel=_opt_channel(o, "channel")
    ),
    "ChannelLeftBridge": lambda o: ChannelLeftBridge(
        **_base(o), bridge=_bridge(o), channel=_channel(o)
    ),
    "ChannelVarset": _varset,
    "Dial": _dial,
    "BridgeDestroyed": lambda o: BridgeDestroyed(**_base(o), bridge=_bridge(o)),
    "ApplicationReplaced": lambda o: ApplicationReplaced(**_base(o)),
    "PlaybackStarted": lambda o: PlaybackStarted(**_base(o), playback=_playback(o)),
    "PlaybackFinished": lambda o: PlaybackFinished(**_base(o), playback=_playback(o)),
    "RecordingStarted": lambda o: RecordingStarted(**_base(o), recording=_recording(o)),
    "RecordingFinished": lambda o: RecordingFinished(**_base(o), recording=_recording(o)),
    "ChannelConnectedLine": lambda o: ChannelConnectedLine(**_base(o), channel=_channel(o)),
    "ChannelCallerId": _caller_id,
    "ChannelDialplan": _dialplan,
}

#: The event types parsed into their own class (everything else is an UnknownEvent).
KNOWN_EVENT_TYPES: frozenset[str] = frozenset(_PARSERS)


def _decode(text: str | bytes) -> object:
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(text)
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"ARI event is not valid UTF-8: {exc.reason}") from exc
    except ValueError as exc:  # JSONDecodeError, and ints over the digit limit
        raise ProtocolError(f"ARI event is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise ProtocolError("ARI event is nested too deeply") from exc


def parse_event(text: str | bytes) -> AriEvent:
    """Parse one ARI websocket message. Raises :class:`ProtocolError` for malformed input."""
    value = _decode(text)
    if not isinstance(value, dict):
        raise ProtocolError("ARI event is not a JSON object")
    event_type = value.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise ProtocolError("ARI event has no string 'type'")
    obj = JsonObject(value, event_type)
    parser = _PARSERS.get(event_type)
    if parser is None:
        return UnknownEvent(**_base(obj), type=event_type, raw=value)
    return parser(obj)


def event_channel(event: AriEvent) -> Channel | None:
    """The channel an event is about (``peer`` for Dial), or None (bridge, playback, ...)."""
    if isinstance(event, Dial):
        return event.peer
    channel = getattr(event, "channel", None)
    return channel if isinstance(channel, Channel) else None
