"""ARI event parsing: every event recorded from Asterisk 22.10.1 parses; garbage only ever raises
ProtocolError."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ari_app.ari import events as ev
from ari_app.ari.events import KNOWN_EVENT_TYPES, parse_event
from ari_app.ari.models import Channel
from callwright.errors import ProtocolError


def recorded_events(asterisk22_dir: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    facts = asterisk22_dir / "asterisk-facts"
    files = sorted(facts.glob("*.jsonl")) + sorted((facts / "media-ari").glob("*.jsonl"))
    assert files, f"no JSONL recordings under {facts}"
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                record = json.loads(line)
                if record.get("dir") == "event":
                    yield f"{path.name}:{number}", record["event"]


@pytest.fixture
def make_channel() -> Callable[..., dict[str, Any]]:
    def make(channel_id: str = "1795326290.22", **overrides: Any) -> dict[str, Any]:
        channel: dict[str, Any] = {
            "id": channel_id, "name": "Local/s@caller-00000008;1", "state": "Up",
            "protocol_id": "", "caller": {"name": "Alice", "number": "5551234"},
            "connected": {"name": "", "number": ""}, "accountcode": "",
            "dialplan": {"context": "from-test", "exten": "100", "priority": 2,
                         "app_name": "Stasis", "app_data": "voicebot,arg1,arg2"},
            "creationtime": "2026-11-22T05:44:50.440+0000", "language": "en",
        }
        channel.update(overrides)
        return channel
    return make


@pytest.fixture
def make_event(make_channel: Callable[..., dict[str, Any]]) -> Callable[..., str]:
    def make(type_: str, **fields: Any) -> str:
        event: dict[str, Any] = {"type": type_, "timestamp": "2026-11-22T05:44:50.441+0000",
                                 "application": "voicebot", "asterisk_id": "02:fc:00:00:00:01"}
        event.update(fields)
        return json.dumps(event)
    return make


def test_every_recorded_event_parses_to_its_class(asterisk22_dir: Path) -> None:
    seen: set[str] = set()
    count = 0
    for where, raw in recorded_events(asterisk22_dir):
        event = parse_event(json.dumps(raw))
        count += 1
        if raw["type"] in KNOWN_EVENT_TYPES:
            assert type(event).__name__ == raw["type"], where
            seen.add(raw["type"])
        else:
            assert isinstance(event, ev.UnknownEvent), where
        assert event.type == raw["type"]
        assert event.application == "voicebot"
        assert event.asterisk_id == "02:fc:00:00:00:01"
    assert count > 400
    # the recordings cover almost every modelled type (not ApplicationReplaced's siblings)
    assert {"StasisStart", "StasisEnd", "ChannelHangupRequest", "ChannelDestroyed", "Dial",
            "ChannelDtmfReceived", "ChannelVarset", "ApplicationReplaced"} <= seen


def test_recorded_fields_are_read(asterisk22_dir: Path) -> None:
    by_type: dict[str, list[ev.AriEvent]] = {}
    for _, raw in recorded_events(asterisk22_dir):
        event = parse_event(json.dumps(raw).encode())
        by_type.setdefault(event.type, []).append(event)
    start = by_type["StasisStart"][0]
    assert isinstance(start, ev.StasisStart)
    assert start.args == ("arg1", "arg2")
    assert start.channel.caller.number == "5551234"
    assert start.channel.dialplan is not None and start.channel.dialplan.app_name == "Stasis"
    hangups = [e for e in by_type["ChannelHangupRequest"] if isinstance(e, ev.ChannelHangupRequest)]
    assert any(h.cause == 32 and h.soft for h in hangups)
    assert any(h.cause == 16 and not h.soft for h in hangups)
    dtmf = by_type["ChannelDtmfReceived"][0]
    assert isinstance(dtmf, ev.ChannelDtmfReceived) and dtmf.duration_ms == 100
    destroyed = by_type["ChannelDestroyed"][0]
    assert isinstance(destroyed, ev.ChannelDestroyed)
    assert (destroyed.cause, destroyed.cause_txt) == (16, "Normal Clearing")
    dials = [d for d in by_type["Dial"] if isinstance(d, ev.Dial)]
    assert {d.dialstatus for d in dials} >= {"", "ANSWER"}
    finished = [p for p in by_type["PlaybackFinished"] if isinstance(p, ev.PlaybackFinished)]
    assert {p.playback.state for p in finished} >= {"done", "failed"}


def test_known_event_built_from_minimal_fields(make_event: Callable[..., str],
                                               make_channel: Callable[..., dict[str, Any]]) -> None:
    event = parse_event(make_event("ChannelVarset", variable="BRIDGEPEER", value="x"))
    assert isinstance(event, ev.ChannelVarset)
    assert event.channel is None and event.value == "x"
    event = parse_event(make_event("StasisStart", args=[], channel=make_channel(),
                                   replace_channel=make_channel("9.9"), added_in_asterisk_99=1))
    assert isinstance(event, ev.StasisStart)
    assert event.replace_channel is not None and event.replace_channel.id == "9.9"
    bare = parse_event('{"type":"StasisEnd","channel":{"id":"1","name":"n","state":"Up"}}')
    assert isinstance(bare, ev.StasisEnd)
    assert bare.channel.dialplan is None and bare.application == ""


def test_unknown_type_keeps_raw(make_event: Callable[..., str]) -> None:
    event = parse_event(make_event("ChannelUserevent", eventname="x", userevent={}))
    assert isinstance(event, ev.UnknownEvent)
    assert event.type == "ChannelUserevent"
    assert event.raw["eventname"] == "x"


@pytest.mark.parametrize(("text", "fragment"), [
    ("not json", "not valid JSON"),
    (b"\xff\xfe", "UTF-8"),
    ("[1, 2]", "not a JSON object"),
    ('"StasisStart"', "not a JSON object"),
    ('{"channel": {}}', "no string 'type'"),
    ('{"type": 5}', "no string 'type'"),
    ('{"type": ""}', "no string 'type'"),
    ('{"type": "StasisStart", "args": []}', "missing required field 'channel'"),
    ('{"type": "StasisEnd", "channel": []}', "StasisEnd.channel: expected an object"),
    ('{"type": "StasisEnd", "channel": {"id": "1", "name": "n"}}', "'state'"),
    ('{"type": "StasisEnd", "channel": {"id": 1, "name": "n", "state": "Up"}}',
     "StasisEnd.channel.id: expected a string, got number"),
    ('{"type": "ChannelDtmfReceived", "digit": "1", "duration_ms": true, '
     '"channel": {"id": "1", "name": "n", "state": "Up"}}', "duration_ms: expected an integer"),
    ('{"type": "ChannelDtmfReceived", "digit": "1", "duration_ms": 1.5, '
     '"channel": {"id": "1", "name": "n", "state": "Up"}}', "duration_ms: expected an integer"),
    ('{"type": "ChannelHangupRequest", "soft": "yes", '
     '"channel": {"id": "1", "name": "n", "state": "Up"}}', "soft: expected a boolean"),
    ('{"type": "ChannelDestroyed", "cause": 16, '
     '"channel": {"id": "1", "name": "n", "state": "Up"}}', "'cause_txt'"),
    ('{"type": "Dial", "dialstatus": "", "peer": {"id": "1", "name": "n", "state": "Up", '
     '"dialplan": {"context": "c", "exten": "s", "priority": "1"}}}',
     "Dial.peer.dialplan.priority: expected an integer"),
    ('{"type": "StasisStart", "args": ["a", 1], '
     '"channel": {"id": "1", "name": "n", "state": "Up"}}', "args: expected an array of strings"),
    ('{"type": "BridgeDestroyed", "bridge": {"id": "b", "channels": "x"}}', "channels"),
    ('{"type": "PlaybackStarted", "playback": {"id": "p"}}', "'state'"),
    ('{"type": "StasisStart", "timestamp": 3, "args": [], '
     '"channel": {"id": "1", "name": "n", "state": "Up"}}', "timestamp: expected a string"),
    ("[" * 100_000, "nested too deeply"),
])
def test_malformed_raises_protocol_error(text: str | bytes, fragment: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_event(text)
    assert fragment in str(info.value)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=20,
)
_field_names = st.sampled_from(["channel", "args", "bridge", "peer", "caller", "digit", "cause",
                                "soft", "duration_ms", "variable", "value", "dialstatus",
                                "playback", "recording", "id", "name", "state", "dialplan"])
_channelish = st.fixed_dictionaries(
    {}, optional={"id": _json, "name": _json, "state": _json, "caller": _json, "dialplan": _json,
                  "channelvars": _json})
_eventish = st.fixed_dictionaries(
    {"type": st.sampled_from(sorted(KNOWN_EVENT_TYPES)) | st.text(max_size=12)},
    optional={"channel": _channelish | _json, "args": _json, "bridge": _json, "peer": _channelish,
              "digit": _json, "duration_ms": _json, "cause": _json, "cause_txt": _json,
              "soft": _json, "variable": _json, "value": _json, "dialstatus": _json,
              "playback": _json, "recording": _json, "timestamp": _json},
).flatmap(lambda base: st.dictionaries(_field_names, _json, max_size=3).map(
    lambda extra: {**extra, **base}))


def _only_protocol_error(payload: str | bytes) -> None:
    try:
        event = parse_event(payload)
    except ProtocolError:
        return
    assert isinstance(event.type, str)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200))
def test_garbage_only_raises_protocol_error(payload: str | bytes) -> None:
    _only_protocol_error(payload)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_random_json_only_raises_protocol_error(value: object) -> None:
    _only_protocol_error(json.dumps(value))


@settings(max_examples=300, deadline=None)
@given(_eventish)
def test_event_shaped_json_only_raises_protocol_error(value: dict[str, Any]) -> None:
    _only_protocol_error(json.dumps(value))


def test_event_channel(make_event: Callable[..., str],
                       make_channel: Callable[..., dict[str, Any]]) -> None:
    dial = parse_event(make_event("Dial", dialstatus="", peer=make_channel("2.2"),
                                  caller=make_channel("1.1")))
    assert ev.event_channel(dial) == Channel.from_json(make_channel("2.2"))
    end = parse_event(make_event("StasisEnd", channel=make_channel("3.3")))
    assert getattr(ev.event_channel(end), "id", None) == "3.3"
    gone = parse_event(make_event("BridgeDestroyed", bridge={"id": "b"}))
    assert ev.event_channel(gone) is None
    global_var = parse_event(make_event("ChannelVarset", variable="V", value=""))
    assert ev.event_channel(global_var) is None
