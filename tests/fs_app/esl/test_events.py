"""Plain and JSON events and disconnect notices of the recorded traces, decoded and re-encoded."""

from __future__ import annotations

from typing import Any

import pytest

from fs_app.esl.events import (
    encode_json_event,
    encode_plain_event,
    is_event,
    parse_disconnect_notice,
    parse_event,
)
from fs_app.esl.message import EslMessage, EslProtocolError
from fs_app.esl.parser import EslParser
from tests.fs_app.traces import ESL_FILES, lines, received


def recorded_events(name: str) -> list[tuple[dict[str, Any], EslMessage]]:
    out = []
    for line in received(name):
        if line["dir"] == "event":
            out.append((line, EslParser().feed(line["raw"].encode("utf-8"))[0]))
    return out


@pytest.mark.parametrize("name", ESL_FILES)
def test_every_recorded_event_decodes_as_recorded(name: str) -> None:
    for line, message in recorded_events(name):
        assert is_event(message)
        event = parse_event(message)
        expected = {
            key: "ARRAY::" + "|:".join(value) if isinstance(value, list) else value
            for key, value in line["event"].items()
        }
        body = expected.pop("_body", "")
        expected.pop("Content-Length", None)
        assert dict(event.headers) == expected
        assert event.body == body
        assert event.name == line["event_name"]
        assert event.uuid == line["uuid"] or (not event.uuid and not line["uuid"])
        if "subclass" in line:
            assert event.subclass == line["subclass"]


@pytest.mark.parametrize("name", [n for n in ESL_FILES if "-json" not in n])
def test_plain_events_encode_back_to_the_recorded_bytes(name: str) -> None:
    for line, message in recorded_events(name):
        event = parse_event(message)
        assert encode_plain_event(event.ordered, event.body) == line["raw"].encode("utf-8")


@pytest.mark.parametrize("name", [n for n in ESL_FILES if "-json" in n])
def test_json_events_encode_back_to_the_recorded_bytes(name: str) -> None:
    """Every JSON event without duplicate keys (a decoded object cannot hold those)."""
    checked = 0
    for line, message in recorded_events(name):
        event = parse_event(message)
        again = encode_json_event(event.ordered, event.body)
        if len(again) == len(line["raw"].encode("utf-8")):
            assert again == line["raw"].encode("utf-8")
            checked += 1
    assert checked > 100 if "esl-" in name else checked > 5


def test_a_custom_audio_fork_event_carries_its_json_payload() -> None:
    customs = [parse_event(m) for _, m in recorded_events("audio-fork-t1.jsonl")
               if parse_event(m).name == "CUSTOM"]
    names = [e.subclass for e in customs]
    assert "mod_audio_fork::connect" in names and "mod_audio_fork::transcription" in names
    transcription = next(e for e in customs if e.subclass == "mod_audio_fork::transcription")
    assert transcription.body.startswith("{")


def test_dtmf_events_name_their_digit() -> None:
    digits = [parse_event(m).get("DTMF-Digit") for _, m in
              recorded_events("esl-inbound-plain-call.jsonl") if parse_event(m).name == "DTMF"]
    assert digits[:3] == ["1", "2", "#"]


def test_disconnect_notices_as_observed() -> None:
    notices = [parse_disconnect_notice(EslParser().feed(line["raw"].encode())[0])
               for line in lines("esl-outbound.jsonl")
               if line.get("ctype") == "text/disconnect-notice"]
    linger = [n for n in notices if n.lingering]
    assert {n.linger_s for n in linger} == {-1, 3}
    assert all(n.uuid for n in linger)
    final = [n for n in notices if not n.lingering]
    assert final and all(n.text.startswith("Disconnected, goodbye.") for n in final)


@pytest.mark.parametrize(("ctype", "body", "why"), [
    ("text/event-json", b"{not json", "body is not JSON"),
    ("text/event-json", b'["a"]', "not an object of strings"),
    ("text/event-json", b'{"a": 1}', "'a' is not a string"),
    ("text/event-plain", b"Event-Name: X\nContent-Length: 10\n\nshort", "payload of 10 bytes"),
    ("text/event-plain", b"no colon here\n\n", "not 'Name: value'"),
    ("command/reply", b"", "not an event"),
])
def test_an_event_that_does_not_decode_is_a_clear_error(ctype: str, body: bytes, why: str) -> None:
    message = EslMessage((("Content-Type", ctype),), body)
    with pytest.raises(EslProtocolError, match=why):
        parse_event(message)
