"""mod_audio_stream's fallback media: replies cut into WAV files played one at a time, and a whole
call through the FreeSWITCH simulator in that mode."""

from __future__ import annotations

import asyncio
import time
import wave
from pathlib import Path

import pytest

from ari_app.demo import DEMO_CALLER, DEMO_PHRASES
from ari_app.demo_caller import heard_speech_after, synthesize_phrases
from ari_app.simulator.caller import SimulatedCaller
from callwright.dialog.demo_flow import DEMO_FLOW
from fs_app.stream_media import FLUSH_QUIET_FRAMES, MAX_CHUNK_S, ReplyFiles
from tests.fs_app.conftest import MakeFsHarness
from tests.fs_app.simulator.conftest import tone
from tests.fs_app.test_call_end_to_end import GREETING, TURN_S, last_speech_heard, talk

FRAME = 320
QUIET = bytes(FRAME)


def frames(pcm: bytes) -> list[bytes]:
    return [pcm[i:i + FRAME] for i in range(0, len(pcm), FRAME)]


def make(tmp_path: Path) -> tuple[ReplyFiles, list[Path], list[str]]:
    played: list[Path] = []
    breaks: list[str] = []
    files = ReplyFiles(8000, tmp_path, play=played.append,
                       stop_playing=lambda: breaks.append("break"))
    return files, played, breaks


def test_an_utterance_becomes_one_file_once_quiet_and_silence_is_not_written(
    tmp_path: Path,
) -> None:
    files, played, _ = make(tmp_path)
    for _ in range(50):
        files.add(QUIET)  # the pacer's silence before any reply
    speech = tone(440, 1.0)
    for frame in frames(speech):
        files.add(frame)
    assert played == []  # not yet: the utterance may go on
    for _ in range(FLUSH_QUIET_FRAMES):
        files.add(QUIET)
    assert len(played) == 1
    with wave.open(str(played[0]), "rb") as w:
        assert w.getframerate() == 8000
        assert w.readframes(w.getnframes()) == speech + QUIET * FLUSH_QUIET_FRAMES
    for _ in range(100):
        files.add(QUIET)
    assert len(played) == 1
    files.played(str(played[0]))
    assert not played[0].exists() and files.playing is None


def test_a_long_reply_is_cut_and_the_next_piece_waits_for_the_last(tmp_path: Path) -> None:
    files, played, _ = make(tmp_path)
    for frame in frames(tone(440, MAX_CHUNK_S + 1.0)):
        files.add(frame)
    assert len(played) == 1  # the first MAX_CHUNK_S, the rest waits
    for _ in range(FLUSH_QUIET_FRAMES):
        files.add(QUIET)
    assert len(played) == 1
    files.played("/not/ours.wav")
    assert len(played) == 1
    files.played(str(played[0]))
    assert len(played) == 2
    with wave.open(str(played[1]), "rb") as w:
        assert w.getnframes() == 8000 + FRAME // 2 * FLUSH_QUIET_FRAMES


def test_barge_in_drops_what_waits_and_breaks_what_plays(tmp_path: Path) -> None:
    files, played, breaks = make(tmp_path)
    for frame in frames(tone(440, MAX_CHUNK_S + 1.0)):
        files.add(frame)
    files.clear()
    assert breaks == ["break"]
    files.played(str(played[0]))
    for _ in range(FLUSH_QUIET_FRAMES * 2):
        files.add(QUIET)
    assert len(played) == 1  # the dropped rest is never played
    files.clear()
    assert breaks == ["break"]  # nothing playing: nothing to break


@pytest.mark.slow
async def test_a_call_through_mod_audio_stream_is_greeted_and_understood(
    make_fs_harness: MakeFsHarness, tmp_path: Path,
) -> None:
    replies = tmp_path / "replies"
    replies.mkdir()
    h = await make_fs_harness(env={"CALLWRIGHT_FREESWITCH_MEDIA": "audio_stream",
                                   "CALLWRIGHT_FREESWITCH_STREAM_FILES_DIR": str(replies)})
    caller = SimulatedCaller()
    call = h.dial(caller_number=DEMO_CALLER, caller=caller)
    gaps = await talk(h, caller, DEMO_PHRASES)
    await asyncio.wait_for(call.ended.wait(), TURN_S)

    row = await h.closed_call()
    assert row.status == "completed", row.end_reason
    assert row.end_reason == "demo_booked"
    turns = await h.calls.turns(row.id)
    assert turns[0].text == DEMO_FLOW["nodes"]["greet"]["prompt"]
    assert [t.text for t in turns if t.speaker == "caller"] == list(DEMO_PHRASES)
    assert all(0 < gap < 5 for gap in gaps), gaps  # files: slower than the fork, still a turn
    events = {e.kind: e.detail for e in await h.calls.events(row.id)}
    media = events["freeswitch_media"]
    assert media["frames_in"] > 100 and media["reply_files"] >= 3, media
    assert h.sim.streams == {} and h.sim.forks == {}  # the fork was never used
    assert await asyncio.to_thread(lambda: list(replies.iterdir())) == []  # files removed


def stream_harness_env(replies: Path) -> dict[str, str]:
    return {"CALLWRIGHT_FREESWITCH_MEDIA": "audio_stream",
            "CALLWRIGHT_FREESWITCH_STREAM_FILES_DIR": str(replies)}


@pytest.mark.slow
@pytest.mark.parametrize("rate", [8000, 16000])  # the module streams both (audio-stream-s1/s2)
async def test_talking_over_a_reply_breaks_its_file_and_the_turn_goes_on(
    make_fs_harness: MakeFsHarness, tmp_path: Path, rate: int,
) -> None:
    h = await make_fs_harness(rate=rate, env=stream_harness_env(tmp_path))
    caller = SimulatedCaller()
    call = h.dial(caller=caller)
    (hello,) = await synthesize_phrases(await h.caller_voice(), ["안녕하세요"], "ko")
    await caller.wait_for_speech(TURN_S)
    await asyncio.sleep(1.0)  # a second into a ~5 s greeting, its first file playing
    said_at = time.monotonic()
    speaking = asyncio.ensure_future(caller.say(hello))
    await asyncio.sleep(1.2)
    stopped = last_speech_heard(caller, time.monotonic())
    # the file playing is broken (uuid_break), what waits is dropped: no 2 s file played out
    assert stopped - said_at < 0.8, f"greeting went on {stopped - said_at:.2f} s"
    await speaking
    await heard_speech_after(caller, time.monotonic(), 10)  # the flow moved on
    await caller.wait_until_quiet(900, timeout=15)
    await caller.hangup()
    row = await h.closed_call()
    turns = await h.calls.turns(row.id)
    assert turns[0].speaker == "assistant" and turns[0].interrupted
    assert 0 < len(turns[0].text) < len(GREETING)
    assert turns[1].speaker == "caller" and turns[1].text == "안녕하세요"
    assert turns[2].text == DEMO_FLOW["nodes"]["offer"]["prompt"]
    media = next(e.detail for e in await h.calls.events(row.id) if e.kind == "freeswitch_media")
    assert media["kill_audio"] >= 1 and media["reply_breaks"] >= 1, media
    await asyncio.wait_for(call.ended.wait(), 5)


@pytest.mark.slow
async def test_a_dropped_stream_is_started_again_and_the_call_goes_on(
    make_fs_harness: MakeFsHarness, tmp_path: Path,
) -> None:
    h = await make_fs_harness(env=stream_harness_env(tmp_path))
    caller = SimulatedCaller()
    call = h.dial(caller_number=DEMO_CALLER, caller=caller)
    await caller.wait_for_speech(TURN_S)
    uuid = call.b.channel.uuid
    first = h.sim.streams[uuid]
    await first.drop()  # the socket goes away in the middle of the greeting
    await asyncio.sleep(0.5)
    assert h.sim.streams[uuid] is not first and not h.sim.streams[uuid].closed  # started again
    gaps = await talk(h, caller, DEMO_PHRASES)
    assert all(0 < gap < 5 for gap in gaps), gaps  # the caller is heard on the new stream
    await asyncio.wait_for(call.ended.wait(), TURN_S)
    row = await h.closed_call()
    assert row.status == "completed" and row.end_reason == "demo_booked"
    events = {e.kind: e.detail for e in await h.calls.events(row.id)}
    assert "stream_lost" in events
    assert events["freeswitch_media"]["stream_restarts"] == 1
