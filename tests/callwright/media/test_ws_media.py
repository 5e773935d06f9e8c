"""Control messages of WebSocket media: the verbatim ones recorded from Asterisk 22.10.1, in both
forms, our commands, and garbage."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callwright.errors import MediaError, ProtocolError
from callwright.media import ws_media
from callwright.media.ws_media import (
    BufferingCompleted,
    DtmfEnd,
    MarkProcessed,
    MediaStart,
    MediaXoff,
    MediaXon,
    QueueDrained,
    Status,
    UnknownEvent,
)

PLAIN_START = (
    "MEDIA_START connection_id:8d4132f5-fc7c-4eb2-bb00-68361cd335c2 "
    "channel:WebSocket/INCOMING/0x7fcb8000a5b0 channel_id:1795327155.73 format:slin16 "
    "optimal_frame_size:640 ptime:20"
)
JSON_START = (
    '{"event":"MEDIA_START","connection_id":"e8e73535-cf57-4fe3-87f0-ccdad8a28a79",'
    '"channel":"WebSocket/INCOMING/0x55a211fa09e0","channel_id":"1795327167.77",'
    '"format":"slin16","optimal_frame_size":640,"ptime":20,"channel_variables":'
    '{"MEDIA_WEBSOCKET_CONNECTION_ID":"e8e73535-cf57-4fe3-87f0-ccdad8a28a79",'
    '"MEDIA_WEBSOCKET_OPTIMAL_FRAME_SIZE":"640"}}'
)


def test_media_start_plain() -> None:
    assert ws_media.parse_event(PLAIN_START) == MediaStart(
        connection_id="8d4132f5-fc7c-4eb2-bb00-68361cd335c2",
        channel="WebSocket/INCOMING/0x7fcb8000a5b0",
        channel_id="1795327155.73",
        format="slin16",
        optimal_frame_size=640,
        ptime=20,
    )


def test_media_start_json() -> None:
    event = ws_media.parse_event(JSON_START)
    assert isinstance(event, MediaStart)
    assert (event.format, event.optimal_frame_size, event.ptime) == ("slin16", 640, 20)
    assert event.channel_id == "1795327167.77"
    assert event.channel_variables["MEDIA_WEBSOCKET_OPTIMAL_FRAME_SIZE"] == "640"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DTMF_END digit:1 channel_id:1795327155.73", DtmfEnd("1", "1795327155.73")),
        ('{"event":"DTMF_END","channel_id":"1795327167.77","digit":"#"}',
         DtmfEnd("#", "1795327167.77")),
        ("MEDIA_XOFF", MediaXoff()),
        ("MEDIA_XON", MediaXon()),
        ('{"event":"MEDIA_XOFF","channel_id":"9.1"}', MediaXoff("9.1")),
        ("QUEUE_DRAINED", QueueDrained()),
        ('{"event":"QUEUE_DRAINED","channel_id":"9.1"}', QueueDrained("9.1")),
        ("MEDIA_MARK_PROCESSED mark-1", MarkProcessed("mark-1")),
        ('{"event":"MEDIA_MARK_PROCESSED","channel_id":"9.1","correlation_id":"mark-1"}',
         MarkProcessed("mark-1", "9.1")),
        ("MEDIA_BUFFERING_COMPLETED bulk-1", BufferingCompleted("bulk-1")),
        ('{"event":"MEDIA_BUFFERING_COMPLETED","channel_id":"9.1","correlation_id":"bulk-1"}',
         BufferingCompleted("bulk-1", "9.1")),
        (
            "STATUS channel_id:1795327155.73 queue_length:0 xon_level:800 xoff_level:900 "
            "queue_full:false bulk_media:false media_paused:false",
            Status("1795327155.73", 0, 800, 900, False, False, False),
        ),
        (
            '{"event":"STATUS","channel_id":"x","queue_length":1050,"xon_level":800,'
            '"xoff_level":900,"queue_full":true,"bulk_media":false,"media_paused":false}',
            Status("x", 1050, 800, 900, True, False, False),
        ),
        ("MEDIA_PAUSED channel_id:1 reason:x", UnknownEvent("MEDIA_PAUSED",
                                                            {"channel_id": "1", "reason": "x"})),
    ],
)
def test_events(text: str, expected: ws_media.WsMediaEvent) -> None:
    assert ws_media.parse_event(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "{",
        "[1, 2]",
        '{"digit":"1"}',
        '{"event": 5}',
        "media_start connection_id:x format:slin16",
        "MEDIA_START format:slin16 optimal_frame_size:640",          # no connection id
        "MEDIA_START connection_id:x format:slin16 optimal_frame_size:big",
        '{"event":"MEDIA_START","connection_id":"x","format":"slin16",'
        '"optimal_frame_size":6.4}',
        '{"event":"MEDIA_START","connection_id":"x","format":"slin16",'
        '"optimal_frame_size":640,"channel_variables":[]}',
        "DTMF_END channel_id:1",
        "DTMF_END digit:12",
        '{"event":"DTMF_END","digit":["1"]}',
        "STATUS queue_length:0",
        "STATUS channel_id:1 queue_length:0 xon_level:800 xoff_level:900 queue_full:maybe "
        "bulk_media:false media_paused:false",
        '{"event":"STATUS","queue_length":true,"xon_level":800,"xoff_level":900,'
        '"queue_full":false,"bulk_media":false,"media_paused":false}',
        "[" * 100_000,
    ],
)
def test_malformed_messages_are_protocol_errors(text: str) -> None:
    with pytest.raises(ProtocolError):
        ws_media.parse_event(text)


def test_commands_in_both_forms() -> None:
    assert ws_media.build_command("GET_STATUS") == "GET_STATUS"
    assert ws_media.build_command("MARK_MEDIA", correlation_id="mark-1") == "MARK_MEDIA mark-1"
    assert json.loads(ws_media.build_command("GET_STATUS", json_form=True)) == {
        "command": "GET_STATUS"
    }
    assert json.loads(
        ws_media.build_command("STOP_MEDIA_BUFFERING", json_form=True, correlation_id="bulk-1")
    ) == {"command": "STOP_MEDIA_BUFFERING", "correlation_id": "bulk-1"}
    for bad in (
        lambda: ws_media.build_command("NO_SUCH_COMMAND"),
        lambda: ws_media.build_command("GET_STATUS", correlation_id="x"),
        lambda: ws_media.build_command("MARK_MEDIA", correlation_id="two words"),
        lambda: ws_media.build_command("MARK_MEDIA", correlation_id=""),
    ):
        with pytest.raises(MediaError):
            bad()


def test_frame_sizes_and_url() -> None:
    assert ws_media.frame_bytes("slin16") == 640 and ws_media.frame_bytes("ulaw") == 160
    with pytest.raises(MediaError):
        ws_media.frame_bytes("opus")
    assert ws_media.media_url("http://127.0.0.1:8088", "8d41-32") == (
        "ws://127.0.0.1:8088/media/8d41-32"
    )
    assert ws_media.media_url("https://pbx:8089/", "a") == "wss://pbx:8089/media/a"
    for bad_id in ("", "a/b", "a b"):
        with pytest.raises(MediaError):
            ws_media.media_url("http://pbx:8088", bad_id)
    with pytest.raises(MediaError):
        ws_media.media_url("ftp://pbx", "a")


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=8,
)
FIELDS = st.sampled_from([
    "event", "connection_id", "channel", "channel_id", "format", "optimal_frame_size", "ptime",
    "channel_variables", "digit", "queue_length", "xon_level", "xoff_level", "queue_full",
    "bulk_media", "media_paused", "correlation_id",
])
EVENTS = st.sampled_from([
    "MEDIA_START", "DTMF_END", "MEDIA_XOFF", "MEDIA_XON", "STATUS", "QUEUE_DRAINED",
    "MEDIA_MARK_PROCESSED", "MEDIA_BUFFERING_COMPLETED", "OTHER",
])


def _parses_or_protocol_error(text: str) -> None:
    try:
        event = ws_media.parse_event(text)
    except ProtocolError:
        return
    assert event is not None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_random_text_gives_an_event_or_a_protocol_error(text: str) -> None:
    _parses_or_protocol_error(text)


@settings(max_examples=300, deadline=None)
@given(EVENTS, st.dictionaries(FIELDS, JSON_VALUES, max_size=8))
def test_random_json_gives_an_event_or_a_protocol_error(
    name: str, fields: dict[str, object]
) -> None:
    _parses_or_protocol_error(json.dumps({"event": name, **fields}))


@settings(max_examples=300, deadline=None)
@given(EVENTS, st.dictionaries(FIELDS, st.text(max_size=10).filter(lambda s: " " not in s)))
def test_random_plain_messages_give_an_event_or_a_protocol_error(
    name: str, fields: dict[str, str]
) -> None:
    _parses_or_protocol_error(" ".join([name, *(f"{k}:{v}" for k, v in fields.items())]))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([PLAIN_START, JSON_START]), st.integers(min_value=0, max_value=400))
def test_truncated_messages_give_an_event_or_a_protocol_error(text: str, cut: int) -> None:
    _parses_or_protocol_error(text[:cut])
