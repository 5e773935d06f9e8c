"""``callwright nodes``: the call nodes sharing the store and their state (issue 13)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from callwright.store.calls import CallOrigin, CallRepository
from callwright.store.clock import shift_iso, utc_now_iso
from callwright.store.db import Database
from callwright.store.nodes import NodeRepository
from cli.main import build_parser
from cli.nodes import LOST_WITH_CALLS, cmd_nodes


def config(tmp_path: Path) -> Path:
    path = tmp_path / "callwright.toml"
    path.write_text(f'[store]\npath = "{tmp_path / "cw.db"}"\n[server]\nnode_lost_s = 30\n',
                    encoding="utf-8")
    return path


async def seed(path: Path, *, lost_with_call: bool) -> None:
    db = await Database.open(path)
    try:
        long_ago = shift_iso(utc_now_iso(), ms=-120_000)
        await NodeRepository(db).register("node-live", ["pbx-a", "pbx-b"])
        await NodeRepository(db).register("node-done", ["pbx-c"])
        await NodeRepository(db).stopped("node-done")
        await NodeRepository(db, now=lambda: long_ago).register("node-gone", ["pbx-d"])
        if lost_with_call:
            await CallRepository(db, origin=CallOrigin("node-gone", "pbx-d")).create_call(
                None, None, None, "100", "", "", "ch-1")
    finally:
        await db.close()


def run(tmp_path: Path) -> int:
    args = build_parser().parse_args(["--config", str(config(tmp_path)), "nodes"])
    assert args.func is cmd_nodes
    return int(args.func(args))


def test_each_node_with_its_state_pbxes_and_calls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(seed(tmp_path / "cw.db", lost_with_call=False))
    assert run(tmp_path) == 0
    lines = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[1:]}
    assert lines["node-live"][1:3] == ["live", "0"] and lines["node-live"][-2:] == ["pbx-a,",
                                                                                   "pbx-b"]
    assert lines["node-done"][1] == "stopped"
    assert lines["node-gone"][1:3] == ["lost", "0"]


def test_a_lost_node_with_calls_exits_3(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(seed(tmp_path / "cw.db", lost_with_call=True))
    assert run(tmp_path) == LOST_WITH_CALLS
    assert "node-gone            lost         1" in capsys.readouterr().out


def test_an_empty_store_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path) == 0
    assert "no call node" in capsys.readouterr().out
