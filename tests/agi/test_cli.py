"""``callwright agi …`` registration and ``python -m agi serve`` as a real process."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

from agi.cli import add_agi_parser, build_parser, cmd_agi_eagi, cmd_agi_serve
from agi.routing import VAR_ALLOWED, VAR_ASSISTANT, VAR_REASON
from tests.agi.conftest import AgiFacts, FakeAsterisk, MakeStore, env_block

REPO = Path(__file__).resolve().parents[2]


def test_add_agi_parser_registers_serve_and_eagi() -> None:
    parser = argparse.ArgumentParser(prog="callwright")
    add_agi_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["agi", "serve", "--host", "0.0.0.0", "--port", "4574"])
    assert (args.func, args.host, args.port) == (cmd_agi_serve, "0.0.0.0", 4574)
    args = parser.parse_args(["agi", "serve"])
    assert (args.host, args.port) == ("127.0.0.1", 4573)
    args = parser.parse_args(["agi", "eagi", "+8225550100"])
    assert (args.func, args.agi_args, args.audio_fd) == (cmd_agi_eagi, ["+8225550100"], 3)


def test_python_m_agi_takes_a_config_file() -> None:
    args = build_parser().parse_args(["--config", "x.toml", "serve", "--port", "1"])
    assert (args.config, args.func, args.port) == ("x.toml", cmd_agi_serve, 1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_python_m_agi_serve_routes_a_call(agi_facts: AgiFacts,
                                                make_store: MakeStore) -> None:
    store = await make_store()
    assistant = await store.assistant()
    await store.number("+8225550100", assistant)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLWRIGHT_")}
    env.update(CALLWRIGHT_STORE_PATH=str(store.db.path), PYTHONPATH=str(REPO))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agi", "serve", "--port", str(port), cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        async with asyncio.timeout(30):
            banner = (await proc.stdout.readline()).decode()
        assert f"agi://127.0.0.1:{port}/route" in banner
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        peer = FakeAsterisk(reader, writer)
        await peer.send(env_block(agi_facts, script="route", args=("+8225550100",)))
        variables: dict[str, str] = {}

        def answer(words: list[str]) -> str:
            variables[words[2]] = words[3]
            return "200 result=1"

        await peer.serve(answer)
        writer.close()
        await writer.wait_closed()
        assert variables == {VAR_ASSISTANT: str(assistant.id), VAR_ALLOWED: "1",
                             VAR_REASON: "open"}
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await proc.stderr.read()
