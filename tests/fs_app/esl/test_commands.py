"""Commands as bytes, checked against what the lab's client sent to the real FreeSWITCH."""

from __future__ import annotations

import pytest

from fs_app.esl import commands
from fs_app.esl.message import EslProtocolError
from tests.fs_app.traces import lines


def sent(name: str) -> set[str]:
    return {line["raw"] for line in lines(name) if line["dir"] == "send" and "raw" in line}


def test_commands_are_byte_for_byte_what_freeswitch_accepted() -> None:
    inbound = sent("esl-inbound-auth-errors.jsonl") | sent("esl-inbound-sendmsg-answer.jsonl")
    uuid = "c0e96b98-98b9-40a7-b738-e9ff35f5d82f"
    for data in (
        commands.auth("WrongPassword"),
        commands.api("uuid_answer 00000000-0000-4000-8000-000000000000"),
        commands.bgapi("nosuchcommand", "422fe9c2-d570-47c8-b3cb-8bbdd74a7d7d"),
        commands.events(["ALL"]),
        commands.linger(),
        commands.exit_(),
        commands.execute("playback", "/srv/fs-lab/media/tone1s_8k.wav", uuid=uuid),
        commands.hangup("USER_BUSY", uuid=uuid),
    ):
        assert data.decode() in inbound, data
    outbound = sent("esl-outbound.jsonl")
    assert commands.connect().decode() in outbound
    # the lab's client ended outbound sendmsg with one more newline; FreeSWITCH skipped it
    assert commands.execute("answer").decode() + "\n" in outbound


def test_a_line_break_cannot_smuggle_a_second_command() -> None:
    with pytest.raises(EslProtocolError, match="line break"):
        commands.api("uuid_kill x\n\napi hupall")
