"""mod_audio_fork's protocol against what the module was seen to send and do."""

from __future__ import annotations

import pytest

from fs_app import audio_fork
from fs_app.esl.events import parse_event
from fs_app.esl.parser import EslParser
from tests.fs_app.traces import lines

FORK_FILES = [f"audio-fork-t{n}.jsonl"
              for n in ("1", "2", "3", "4", "4w", "4b", "5", "6", "7", "8")]


def test_mark_reports_are_byte_for_byte_what_the_module_sends() -> None:
    recorded = {line["data"] for name in FORK_FILES for line in lines(name)
                if line["dir"] == "recv" and line.get("type") == "text"
                and '"mark"' in line["data"]}
    assert audio_fork.mark_report("m1", "playout") in recorded
    assert audio_fork.mark_report("m2", "cleared") in recorded
    assert audio_fork.parse_from_freeswitch(audio_fork.mark_report("m2", "cleared")) == \
        audio_fork.MarkReport("m2", "cleared")


def test_every_server_message_fires_the_custom_event_that_was_recorded() -> None:
    """Each TEXT frame the lab's server sent in t1, and the CUSTOM events before its next one
    (the trace cuts long frames short: those are left out)."""
    trace = list(lines("audio-fork-t1.jsonl"))
    sends = [i for i, line in enumerate(trace)
             if line["dir"] == "send" and line.get("type") == "text"]
    checked = 0
    for i, nxt in zip(sends, sends[1:] + [len(trace)], strict=True):
        if "...<" in trace[i]["data"]:
            continue
        parsed = audio_fork.parse_from_server(trace[i]["data"])
        customs = [event for later in trace[i + 1:nxt] if later["dir"] == "event"
                   and (event := parse_event(EslParser().feed(later["raw"].encode())[0])).name
                   == "CUSTOM"]
        if parsed is None or not parsed.event:
            assert customs == [], trace[i]["data"]
            continue
        assert customs, trace[i]["data"]
        assert customs[0].subclass == audio_fork.EVENT_PREFIX + parsed.event
        if parsed.type != "playAudio":
            assert customs[0].body == parsed.event_body
        checked += 1
    assert checked >= 6


def test_start_arguments_as_the_lab_gave_them() -> None:
    sent = {line["raw"] for line in lines("audio-fork-t4w.jsonl") if line["dir"] == "send"
            and "raw" in line}
    uuid = "595b1534-05ca-445e-927d-8aebbcefe283"
    args = audio_fork.start_args(uuid, "ws://127.0.0.1:8090/t4w", rate=8000, bugname="fork",
                                 metadata={"callId": "t4w"}, bidirectional_rate=8000)
    assert f"api {args}\n\n" in sent
    stop = audio_fork.stop_args(uuid, "fork", '{"final":1}')
    assert f"api {stop}\n\n" in sent


def test_arguments_with_spaces_are_refused_before_freeswitch_splits_them() -> None:
    with pytest.raises(audio_fork.AudioForkError, match="splits its arguments"):
        audio_fork.start_args("u", "ws://h/p", rate=8000, bugname="my fork")
    with pytest.raises(audio_fork.AudioForkError, match="rate"):
        audio_fork.start_args("u", "ws://h/p", rate=11025)
    # compact JSON: a space inside a value is still a space
    with pytest.raises(audio_fork.AudioForkError):
        audio_fork.start_args("u", "ws://h/p", rate=8000, metadata={"note": "has space"})
