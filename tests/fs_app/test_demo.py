"""``callwright freeswitch-demo``: the Korean demo call through the FreeSWITCH simulator."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from callwright.config import load_config
from callwright.speech.vosk_stt import VoskModelCache
from cli.main import build_parser
from fs_app.cli import cmd_freeswitch_demo, cmd_serve_freeswitch
from fs_app.demo import run_freeswitch_demo

pytestmark = pytest.mark.slow


async def test_the_demo_call_completes_through_freeswitch(
    tmp_path: Path, vosk_models: VoskModelCache
) -> None:
    settings = load_config(None, env={
        "CALLWRIGHT_SERVER_DATA_DIR": str(tmp_path),
        "CALLWRIGHT_STORE_PATH": str(tmp_path / "callwright.db"),
        "CALLWRIGHT_RECORDINGS_DIR": str(tmp_path / "recordings"),
        "CALLWRIGHT_SERVER_MASTER_KEY_FILE": str(tmp_path / "master.key"),
    })
    out = io.StringIO()
    assert await run_freeswitch_demo(settings, out=out, vosk_models=vosk_models) == 0
    text = out.getvalue()
    assert "completed (demo_booked)" in text
    assert "caller    │ 안녕하세요" in text and "caller    │ 네" in text
    assert "[interrupted]" not in text


def test_the_commands_are_on_the_callwright_command() -> None:
    parser = build_parser()
    assert parser.parse_args(["serve-freeswitch"]).func is cmd_serve_freeswitch
    assert parser.parse_args(["freeswitch-demo"]).func is cmd_freeswitch_demo


def test_demo_pbx_freeswitch_runs_the_freeswitch_demo(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``callwright demo --once --pbx freeswitch`` is the FreeSWITCH demo (``freeswitch-demo``
    is its alias); ``--pbx`` left out is still the Asterisk demo."""
    import fs_app.demo
    from cli.main import cmd_demo

    ran: list[str] = []

    async def fake_demo(settings: object) -> int:
        ran.append("freeswitch")
        return 7

    monkeypatch.setattr(fs_app.demo, "run_freeswitch_demo", fake_demo)
    monkeypatch.setenv("CALLWRIGHT_SERVER_DATA_DIR", str(tmp_path))
    args = build_parser().parse_args(["demo", "--once", "--pbx", "freeswitch"])
    assert args.func is cmd_demo and args.pbx == "freeswitch"
    assert cmd_demo(args) == 7 and ran == ["freeswitch"]
    assert cmd_freeswitch_demo(build_parser().parse_args(["freeswitch-demo"])) == 7
    assert build_parser().parse_args(["demo", "--once"]).pbx == "asterisk"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--pbx", "yate"])
