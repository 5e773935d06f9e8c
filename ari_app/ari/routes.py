"""Every ARI route the client calls, with the query parameters it may send.

The spec-conformance test (tests/ari_app/test_spec_conformance.py) checks each entry against the
Swagger files of Asterisk 22 in tests/asterisk22/asterisk-ari/, so the client cannot drift from
Asterisk.
Add an entry here whenever the client gains a call.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RouteUse:
    method: str                 # "GET", "POST", "DELETE", "PUT"
    path: str                   # as in the spec, relative to /ari: "/channels/{channelId}/answer"
    params: tuple[str, ...] = ()  # query parameter names the client may send


CLIENT_ROUTES: tuple[RouteUse, ...] = (
    # events websocket (connection.AriEventStream)
    RouteUse("GET", "/events", ("app", "subscribeAll")),
    # asterisk / applications
    RouteUse("GET", "/asterisk/info"),
    RouteUse("GET", "/asterisk/ping"),
    RouteUse("GET", "/asterisk/modules"),
    RouteUse("GET", "/applications/{applicationName}"),
    # channels
    RouteUse("GET", "/channels"),
    RouteUse("POST", "/channels", (
        "endpoint", "app", "appArgs", "callerId", "timeout", "channelId", "otherChannelId",
        "context", "extension", "priority",
    )),
    RouteUse("POST", "/channels/create", (
        "endpoint", "app", "appArgs", "channelId", "otherChannelId", "originator", "formats",
    )),
    RouteUse("POST", "/channels/externalMedia", (
        "app", "external_host", "format", "encapsulation", "transport", "connection_type",
        "direction", "data", "channelId", "transport_data",
    )),
    RouteUse("GET", "/channels/{channelId}"),
    RouteUse("DELETE", "/channels/{channelId}", ("reason",)),
    RouteUse("POST", "/channels/{channelId}/answer"),
    RouteUse("POST", "/channels/{channelId}/continue", (
        "context", "extension", "priority", "label",
    )),
    RouteUse("POST", "/channels/{channelId}/redirect", ("endpoint",)),
    RouteUse("POST", "/channels/{channelId}/dtmf", (
        "dtmf", "before", "between", "duration", "after",
    )),
    RouteUse("GET", "/channels/{channelId}/variable", ("variable",)),
    RouteUse("POST", "/channels/{channelId}/variable", ("variable", "value")),
    RouteUse("POST", "/channels/{channelId}/dial", ("caller", "timeout")),
    RouteUse("POST", "/channels/{channelId}/silence"),
    RouteUse("POST", "/channels/{channelId}/snoop", (
        "app", "spy", "whisper", "appArgs", "snoopId",
    )),
    # bridges
    RouteUse("GET", "/bridges"),
    RouteUse("POST", "/bridges", ("type", "name", "bridgeId")),
    RouteUse("GET", "/bridges/{bridgeId}"),
    RouteUse("DELETE", "/bridges/{bridgeId}"),
    RouteUse("POST", "/bridges/{bridgeId}/addChannel", (
        "channel", "role", "absorbDTMF", "mute", "inhibitConnectedLineUpdates",
    )),
    RouteUse("POST", "/bridges/{bridgeId}/removeChannel", ("channel",)),
)
