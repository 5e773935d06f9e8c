"""The FreeSWITCH call service on a store shared with other call nodes (issue 13): at start-up it
closes only its own calls left in progress, never another node's live ones; it opens the store
[store] names (PostgreSQL too) and writes its node's heartbeat."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from callwright.store.calls import CallOrigin, CallRepository
from callwright.store.db import Database, PostgresDatabase, open_database
from callwright.store.nodes import NodeRepository
from tests.fs_app.conftest import MakeFsHarness
from tests.pg_server import PgServer


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


async def test_a_call_on_a_postgresql_store_with_the_nodes_heartbeat(
    make_fs_harness: MakeFsHarness, postgres_server: PgServer | None
) -> None:
    """[store] url: the service opens PostgreSQL (open_store), registers its node with its PBX,
    beats, takes a call there, and marks the node stopped when it stops."""
    if postgres_server is None:
        pytest.skip("PostgreSQL is not installed (make test installs Debian's postgresql)")
    url = await postgres_server.create_database()
    h = await make_fs_harness(env={"CALLWRIGHT_STORE_URL": url,
                                   "CALLWRIGHT_SERVER_NODE_ID": "fs-pg",
                                   "CALLWRIGHT_SERVER_NODE_LOST_S": "3"})
    assert isinstance(h.service.db, PostgresDatabase)
    nodes = NodeRepository(h.service.db)
    [node] = await nodes.list_nodes()
    assert (node.node_id, node.pbxes, node.stopped_at) == ("fs-pg", ("freeswitch",), None)
    first_seen = node.seen_at
    await asyncio.sleep(0.7)  # beats every 0.5 s
    [node] = await nodes.list_nodes()
    assert node.seen_at > first_seen
    h.dial("999")  # a number no assistant serves: told so, hung up
    row = await h.closed_call()
    assert (row.node_id, row.pbx) == ("fs-pg", "freeswitch")
    await h.service.stop()
    db = await open_database(Path(), url)
    try:
        [node] = await NodeRepository(db).list_nodes()
        assert node.stopped_at is not None
    finally:
        await db.close()
