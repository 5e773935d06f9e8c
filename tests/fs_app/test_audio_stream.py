"""mod_audio_stream's protocol against what the module was seen to send and do."""

from __future__ import annotations

import pytest

from fs_app import audio_stream
from fs_app.esl.events import parse_event
from fs_app.esl.parser import EslParser
from tests.fs_app.traces import lines

STREAM_FILES = ["audio-stream-s1.jsonl", "audio-stream-s2.jsonl", "audio-stream-s3.jsonl"]


def sent_commands() -> set[str]:
    return {line["raw"] for name in STREAM_FILES for line in lines(name)
            if line["dir"] == "send" and "raw" in line}


def custom_events() -> list[tuple[str, str]]:
    out = []
    for name in STREAM_FILES:
        for line in lines(name):
            if line["dir"] == "event" and line["event_name"] == "CUSTOM":
                event = parse_event(EslParser().feed(line["raw"].encode())[0])
                out.append((event.subclass or "", event.body))
    return out


def test_commands_as_the_lab_gave_them() -> None:
    sent = sent_commands()
    s1 = "6266a7db-c4f8-4e14-b54c-6d76d49cc66c"
    start = audio_stream.start_args(s1, "ws://127.0.0.1:8090/s1", rate=8000,
                                    metadata='{"callId": "s1", "note": "has spaces"}')
    assert f"api {start}\n\n" in sent
    assert f"api {audio_stream.stop_args(s1)}\n\n" in sent
    s2 = "bf1ac7ba-5803-41bd-a039-81dec561d802"
    assert f"api {audio_stream.start_args(s2, 'ws://127.0.0.1:8090/s2', rate=16000)}\n\n" in sent
    stereo = audio_stream.start_args(s2, "ws://127.0.0.1:8090/s2s", rate=8000, mix="stereo")
    assert f"api {stereo}\n\n" in sent


def test_text_the_module_would_cut_is_refused() -> None:
    """send_text {"dtmf": "5"} arrived as {"dtmf": (s1): such text is refused, not sent cut."""
    recorded = [line["data"] for line in lines("audio-stream-s1.jsonl")
                if line["dir"] == "recv" and line.get("type") == "text"]
    assert audio_stream.cut_text('{"dtmf": "5"}') in recorded
    assert audio_stream.cut_text('{"bye": true}') in recorded
    with pytest.raises(audio_stream.AudioStreamError):
        audio_stream.send_text_args("u", '{"dtmf": "5"}')
    with pytest.raises(audio_stream.AudioStreamError):
        audio_stream.stop_args("u", '{"bye": true}')
    assert audio_stream.send_text_args("u", '{"dtmf":"5"}') == \
        'uuid_audio_stream u send_text {"dtmf":"5"}'


@pytest.mark.parametrize(("kwargs", "why"), [
    ({"rate": 8000, "mix": "quad"}, "mix type"), ({"rate": 44100}, "rate"),
    ({"rate": 8000, "metadata": "a\nb"}, "one non-empty line"),
    ({"rate": 8000, "metadata": " "}, "one non-empty line"),
])
def test_start_arguments_that_cannot_be_given(kwargs: dict[str, object], why: str) -> None:
    with pytest.raises(audio_stream.AudioStreamError, match=why):
        audio_stream.start_args("u", "ws://h/x", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(audio_stream.AudioStreamError, match="space"):
        audio_stream.start_args("u", "ws://h/x y", rate=8000)


def test_every_recorded_event_is_read() -> None:
    events = custom_events()
    kinds = {subclass: audio_stream.parse_event(subclass, body) for subclass, body in events}
    assert set(kinds) == set(audio_stream.SUBCLASSES)
    read = [audio_stream.parse_event(subclass, body) for subclass, body in events]
    assert audio_stream.StreamEvent("disconnect", code=1000, reason="") in read
    assert audio_stream.StreamEvent(
        "error", code=6, reason="Connection refused (system error 111)") in read
    assert audio_stream.StreamEvent("error", code=6, reason="WebSocket upgrade failed") in read
    assert audio_stream.StreamEvent("json", text="not json at all") in read
    assert audio_stream.StreamEvent(
        "play", file="/tmp/6266a7db-c4f8-4e14-b54c-6d76d49cc66c_1.tmp.r16", rate=16000) in read


def test_event_bodies_byte_for_byte() -> None:
    bodies = {body for _, body in custom_events()}
    assert audio_stream.connect_body() in bodies
    assert audio_stream.disconnect_body(1000) in bodies
    assert audio_stream.error_body("Connection refused (system error 111)") in bodies
    assert audio_stream.error_body("WebSocket upgrade failed") in bodies


@pytest.mark.parametrize(("subclass", "body"), [
    ("mod_audio_fork::connect", "{}"), ("mod_audio_stream::nope", "{}"),
    ("mod_audio_stream::play", "not json"), ("mod_audio_stream::play", "[]"),
    ("mod_audio_stream::play", '{"file": 3}'), ("mod_audio_stream::error", '{"message": {}}'),
])
def test_bodies_that_are_not_the_protocol_are_a_clear_error(subclass: str, body: str) -> None:
    with pytest.raises(audio_stream.AudioStreamError):
        audio_stream.parse_event(subclass, body)
