"""The FreeSWITCH call service on a store shared with other call nodes (issue 13): at start-up it
closes only its own calls left in progress, never another node's live ones."""

from __future__ import annotations

from pathlib import Path

from callwright.store.calls import CallOrigin, CallRepository
from callwright.store.db import Database
from tests.fs_app.conftest import MakeFsHarness


async def test_start_up_closes_only_this_nodes_calls(
    tmp_path: Path, make_fs_harness: MakeFsHarness
) -> None:
    db = await Database.open(tmp_path / "callwright.db")
    try:
        other = await CallRepository(db, origin=CallOrigin("ari-node", "pbx-a")).create_call(
            None, None, None, "100", "+1555", "", "ch-live")
        mine = await CallRepository(db, origin=CallOrigin("fs-node", "fs")).create_call(
            None, None, None, "100", "+1556", "", "ch-left")
    finally:
        await db.close()
    h = await make_fs_harness(env={"CALLWRIGHT_SERVER_NODE_ID": "fs-node"})
    assert (await h.calls.get(other.id)).status == "in_progress"  # another node's live call
    left = await h.calls.get(mine.id)
    assert (left.status, left.end_reason) == ("failed", "server_restart")
