"""ARI event and resource JSON, with the field order and shapes Asterisk 22.10.1 sends.

Builders return dicts without ``asterisk_id``/``application``: the event hub appends those two
(in that order) for each app it delivers to. Key order matters to nobody's parser, but it is kept
as recorded so that a byte-level diff against a real Asterisk stays readable.
"""

from __future__ import annotations

import time
from typing import Any

from ari_app.simulator.state import CAUSE_TEXT, Bridge, Channel

Event = dict[str, Any]


def format_timestamp(epoch: float) -> str:
    """``2026-11-22T05:44:50.439+0000`` (UTC, milliseconds)."""
    whole = int(epoch)
    ms = int(round((epoch - whole) * 1000))
    if ms == 1000:
        whole, ms = whole + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{ms:03d}+0000"


def channel_json(ch: Channel, *, with_channelvars: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": ch.id,
        "name": ch.name,
        "state": ch.state,
        "protocol_id": "",
        "caller": ch.caller.to_json(),
        "connected": ch.connected.to_json(),
        "accountcode": "",
        "dialplan": ch.dialplan.to_json(),
        "creationtime": format_timestamp(ch.creationtime),
        "language": ch.language,
    }
    if with_channelvars and ch.channelvars is not None:
        out["channelvars"] = dict(ch.channelvars)
    return out


def bridge_json(b: Bridge, *, technology: str | None = None) -> dict[str, Any]:
    return {
        "id": b.id,
        "technology": technology or b.technology,
        "bridge_type": b.bridge_type,
        "bridge_class": b.bridge_class,
        "creator": b.creator,
        "name": b.name,
        "channels": list(b.channels),
        "creationtime": format_timestamp(b.creationtime),
        "video_mode": b.video_mode,
    }


class EventFactory:
    """Builds events stamped with the current wall-clock time."""

    def __init__(self, clock: Any = time.time) -> None:
        self._clock = clock

    def _ts(self) -> str:
        return format_timestamp(self._clock())

    def _channel_event(self, kind: str, ch: Channel, **fields: Any) -> Event:
        ev: Event = {"type": kind, "timestamp": self._ts()}
        ev.update(fields)
        ev["channel"] = channel_json(ch)
        return ev

    def stasis_start(self, ch: Channel, args: list[str]) -> Event:
        return self._channel_event("StasisStart", ch, args=list(args))

    def stasis_end(self, ch: Channel) -> Event:
        return self._channel_event("StasisEnd", ch)

    def state_change(self, ch: Channel) -> Event:
        return self._channel_event("ChannelStateChange", ch)

    def connected_line(self, ch: Channel) -> Event:
        return self._channel_event("ChannelConnectedLine", ch)

    def caller_id(self, ch: Channel) -> Event:
        return self._channel_event(
            "ChannelCallerId",
            ch,
            caller_presentation=0,
            caller_presentation_txt="Presentation Allowed, Not Screened",
        )

    def dialplan(self, ch: Channel) -> Event:
        return self._channel_event(
            "ChannelDialplan",
            ch,
            dialplan_app=ch.dialplan.app_name,
            dialplan_app_data=ch.dialplan.app_data,
        )

    def dtmf_received(self, ch: Channel, digit: str, duration_ms: int) -> Event:
        return self._channel_event("ChannelDtmfReceived", ch, digit=digit, duration_ms=duration_ms)

    def destroyed(self, ch: Channel, cause: int) -> Event:
        return self._channel_event(
            "ChannelDestroyed", ch, cause=cause, cause_txt=CAUSE_TEXT.get(cause, "Unknown")
        )

    def varset(self, ch: Channel, variable: str, value: str) -> Event:
        ev: Event = {"variable": variable, "value": value, "type": "ChannelVarset"}
        ev["timestamp"] = self._ts()
        ev["channel"] = channel_json(ch)
        return ev

    def hangup_request(
        self, ch: Channel, cause: int, soft: bool, tech_cause: int | None = None
    ) -> Event:
        ev: Event = {"cause": cause}
        if tech_cause is not None:
            ev["tech_cause"] = tech_cause
        if soft:
            ev["soft"] = True
        ev["type"] = "ChannelHangupRequest"
        ev["timestamp"] = self._ts()
        ev["channel"] = channel_json(ch)
        return ev

    def dial(self, peer: Channel, dialstatus: str, dialstring: str) -> Event:
        return {
            "type": "Dial",
            "timestamp": self._ts(),
            "dialstatus": dialstatus,
            "forward": "",
            "dialstring": dialstring,
            "peer": channel_json(peer),
        }

    def entered_bridge(self, b: Bridge, ch: Channel) -> Event:
        return {
            "type": "ChannelEnteredBridge",
            "timestamp": self._ts(),
            "bridge": bridge_json(b),
            "channel": channel_json(ch),
        }

    def left_bridge(self, b: Bridge, ch: Channel, technology: str) -> Event:
        return {
            "type": "ChannelLeftBridge",
            "timestamp": self._ts(),
            "bridge": bridge_json(b, technology=technology),
            "channel": channel_json(ch),
        }

    def bridge_destroyed(self, b: Bridge) -> Event:
        return {"type": "BridgeDestroyed", "timestamp": self._ts(), "bridge": bridge_json(b)}

    def application_replaced(self, app: str, asterisk_id: str) -> Event:
        """The one event whose ``application`` comes before ``asterisk_id``."""
        return {
            "type": "ApplicationReplaced",
            "timestamp": self._ts(),
            "application": app,
            "asterisk_id": asterisk_id,
        }
