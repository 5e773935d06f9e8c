"""What the simulated Asterisk knows: channels, bridges, and the ids it hands out.

Plain data, no I/O. Ids follow Asterisk's formats: a channel id is ``"<epoch seconds>.<counter>"``
(the counter counts every channel since start-up), Local channel names carry an 8-digit hex
sequence (``Local/s@caller-0000000a;1``), ExternalMedia names carry the remote address and a
pointer-like suffix (``UnicastRTP/127.0.0.1:40100-0x7f81a000b0d0``), bridge ids are UUID4.
"""

from __future__ import annotations

import enum
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

#: Channel states as ARI names them.
STATE_DOWN = "Down"
STATE_RING = "Ring"
STATE_UP = "Up"

#: ChannelDestroyed / hangup causes and the text Asterisk gives them.
CAUSE_TEXT = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    4: "Service or option not available",
    16: "Normal Clearing",
    17: "User busy",
    19: "User alerting, no answer",
    21: "Call Rejected",
    26: "Answered elsewhere",
    28: "Invalid number format (addr incomplete)",
    31: "Normal, unspecified",
    32: "Circuit/channel congestion",
    34: "Circuit/channel congestion",
    38: "Network out of order",
    58: "Bearer capability not available",
    127: "Interworking, unspecified",
}

#: DELETE /channels/{id}?reason=... and the cause it sets.
HANGUP_REASONS = {
    "normal": 16,
    "busy": 17,
    "congestion": 34,
    "no_answer": 19,
    "timeout": 19,
    "rejected": 21,
    "unallocated": 1,
    "normal_unspecified": 31,
    "number_incomplete": 28,
    "codec_mismatch": 58,
    "interworking": 127,
    "failure": 38,
    "answered_elsewhere": 26,
}


class ChannelKind(enum.Enum):
    """Why a channel exists; decides which events its end produces."""

    INBOUND = "inbound"            # the ;1 half of a call that entered Stasis from the dialplan
    LOCAL_PEER = "local-peer"      # the ;2 half of a Local pair (the caller's side)
    ORIGINATED = "originated"      # POST /channels or /channels/create (the ;1 half)
    EXTERNAL_MEDIA = "external-media"


class MediaPort(Protocol):
    """The far side of a channel: it is given what the bridge sends to the channel."""

    def deliver(self, pcm: bytes) -> None:
        """One frame of 8 kHz PCM16 LE audio for this channel's far end."""

    def close(self) -> None:
        """The channel is gone; release sockets. Safe to call twice."""


@dataclass(slots=True)
class CallerId:
    name: str = ""
    number: str = ""

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "number": self.number}


@dataclass(frozen=True, slots=True)
class DialplanLocation:
    context: str
    exten: str
    priority: int
    app_name: str = ""
    app_data: str = ""

    def running(self, app_name: str, app_data: str) -> DialplanLocation:
        return replace(self, app_name=app_name, app_data=app_data)

    def to_json(self) -> dict[str, object]:
        return {
            "context": self.context,
            "exten": self.exten,
            "priority": self.priority,
            "app_name": self.app_name,
            "app_data": self.app_data,
        }


@dataclass(eq=False, slots=True)
class Channel:
    id: str
    name: str
    kind: ChannelKind
    state: str
    caller: CallerId
    connected: CallerId
    dialplan: DialplanLocation
    creationtime: float
    language: str = "en"
    #: Shown once, in the response that created the channel (ExternalMedia).
    channelvars: dict[str, str] | None = None
    variables: dict[str, str] = field(default_factory=dict)
    #: The Stasis app the channel is in, or None.
    stasis_app: str | None = None
    #: Stasis() subscribed its app to the channel (nothing had before): StasisEnd unsubscribes
    #: it. An app subscribed by an originate stays subscribed and hears ChannelDestroyed.
    subscribed_by_stasis: bool = False
    #: The dialplan location before Stasis, restored when Stasis ends.
    pre_stasis_dialplan: DialplanLocation | None = None
    #: Apps that receive this channel's events.
    subscribers: set[str] = field(default_factory=set)
    bridge_id: str | None = None
    #: A hang-up or continue was accepted: ARI treats the channel as gone / out of Stasis now,
    #: although its events are still to come.
    hangup_pending: bool = False
    leaving_stasis: bool = False
    #: The other half of a Local pair.
    peer_id: str | None = None
    media: MediaPort | None = None
    inhibit_connected_line: bool = False
    #: addChannel?mute=true: the channel's audio does not enter the bridge.
    bridge_muted: bool = False
    #: addChannel?absorbDTMF=true: the channel's DTMF does not reach the other members.
    absorb_dtmf: bool = False
    #: The cause of the hang-up request that ended the channel, once there was one.
    hangup_cause: int | None = None
    #: A dial still waiting for an answer (its dialstring): a hang-up first reports NOANSWER.
    pending_dialstring: str | None = None
    #: Called once when the channel is gone (removed from the PBX).
    on_gone: list[Callable[[Channel], None]] = field(default_factory=list)
    #: Called once when the channel is answered (its state becomes Up by an answer).
    on_answer: list[Callable[[Channel], None]] = field(default_factory=list)
    #: Called when the app sends the channel back to the dialplan (/continue).
    on_continue: list[Callable[[Channel, DialplanLocation], None]] = field(default_factory=list)

    @property
    def in_stasis(self) -> bool:
        return self.stasis_app is not None and not self.leaving_stasis and not self.hangup_pending

    @property
    def created_by_app(self) -> bool:
        return self.kind in (ChannelKind.ORIGINATED, ChannelKind.EXTERNAL_MEDIA)


#: Bridge types ARI accepts in POST /bridges?type=a,b
BRIDGE_TYPE_FLAGS = frozenset(
    {"mixing", "holding", "dtmf_events", "proxy_media", "video_sfu", "video_single", "sdp_label"}
)


@dataclass(eq=False, slots=True)
class Bridge:
    id: str
    name: str
    bridge_type: str
    technology: str
    creationtime: float
    channels: list[str] = field(default_factory=list)
    #: app name -> how many of its channels entered and did not leave by ARI request.
    #: BridgeDestroyed goes to the apps with a positive count.
    subscribers: dict[str, int] = field(default_factory=dict)
    bridge_class: str = "stasis"
    creator: str = "Stasis"
    video_mode: str = "talker"

    def subscribed_apps(self) -> set[str]:
        return {app for app, n in self.subscribers.items() if n > 0}

    def smart_technology(self) -> str:
        """Asterisk's choice for a mixing bridge: simple_bridge for two, softmix for more."""
        if self.bridge_type == "holding":
            return "holding_bridge"
        return "softmix" if len(self.channels) > 2 else "simple_bridge"


class IdAllocator:
    """Hands out ids and names the way Asterisk does. ``clock`` gives wall-clock seconds."""

    def __init__(self, clock: Callable[[], float], rng: random.Random | None = None) -> None:
        self._clock = clock
        self._rng = rng or random.Random()
        self._channels = 0
        self._locals = 0

    def channel_id(self) -> str:
        n = self._channels
        self._channels += 1
        return f"{int(self._clock())}.{n}"

    def local_sequence(self) -> str:
        n = self._locals
        self._locals += 1
        return f"{n:08x}"

    def pointer(self) -> str:
        """A fake heap address, as Asterisk puts in UnicastRTP/WebSocket channel names."""
        return "0x7f" + "".join(self._rng.choice("0123456789abcdef") for _ in range(10))

    def bridge_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))


def parse_caller_id(text: str) -> CallerId:
    """``'Alice <5551234>'`` -> CallerId("Alice", "5551234"); ``'5551234'`` -> number only."""
    text = text.strip()
    if "<" in text and text.endswith(">"):
        name, _, number = text[:-1].partition("<")
        return CallerId(name.strip().strip('"'), number.strip())
    if text and all(c.isdigit() or c in "+*#" for c in text):
        return CallerId("", text)
    return CallerId(text, "")
