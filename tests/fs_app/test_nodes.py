"""The FreeSWITCH call service on a store shared with other call nodes (issue 13): at start-up it
closes only its own calls left in progress, never another node's live ones; it opens the store
[store] names (PostgreSQL too), writes its node's heartbeat and runs the jobs every call node runs
(retention, webhook deliveries, lost nodes), each on one node at a time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from ari_app.simulator.caller import SimulatedCaller
from callwright.privacy.secrets import MasterKey
from callwright.speech.vosk_stt import VoskModelCache
from callwright.store.calls import CallOrigin, CallRepository
from callwright.store.credentials import CredentialRepository
from callwright.store.db import Database, PostgresDatabase, open_database
from callwright.store.job_leases import JobLeaseRepository
from callwright.store.nodes import NodeRepository
from callwright.store.webhook_endpoints import EVENT_TYPES, EndpointRepository
from fs_app.service import FreeswitchService, with_ports
from tests.ari_app.test_post_call_webhooks import received
from tests.callwright.webhooks import conftest as receivers
from tests.callwright.webhooks.conftest import MakeReceiver
from tests.fs_app.conftest import FsHarness, MakeFsHarness
from tests.pg_server import PgServer

make_receiver = receivers.make_receiver  # the local receiver's fixture


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


JOBS = ["lost-nodes", "retention", "webhook-deliveries"]


async def until(check: Callable[[], Awaitable[bool]], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def test_a_freeswitch_node_runs_the_jobs_an_asterisk_node_runs(
    tmp_path: Path, make_fs_harness: MakeFsHarness, make_receiver: MakeReceiver
) -> None:
    """The heartbeat, and retention, webhook deliveries and the lost-nodes sweep, started by the
    engine's start_node_jobs as on Asterisk: an old call is purged, a silent node's call closed,
    the node's own call's events delivered."""
    db = await Database.open(tmp_path / "callwright.db")
    try:
        old = await CallRepository(db, lambda: "2001-01-01T00:00:00.000Z").create_call(
            None, None, None, "100", "+1555", "", "ch-old")
        await CallRepository(db, lambda: "2001-01-01T00:05:00.000Z").close_call(
            old.id, "completed", "caller_hangup")
        await NodeRepository(db).register("gone-node", ["pbx-a"])  # it beat once, long ago
        left = await CallRepository(db, origin=CallOrigin("gone-node", "pbx-a")).create_call(
            None, None, None, "100", "+1556", "", "ch-gone")
    finally:
        await db.close()
    h = await make_fs_harness(env={"CALLWRIGHT_SERVER_NODE_ID": "fs-node",
                                   "CALLWRIGHT_SERVER_NODE_LOST_S": "3"})
    assert h.service.node_jobs is not None and h.service.db is not None
    assert sorted(h.service.node_jobs.jobs) == JOBS
    await until(lambda: _running(h, JOBS), 5, "the jobs to start")
    await until(lambda: _gone(h, old.id), 10, "the retention purge")
    await until(lambda: _closed(h, left.id), 10, "the lost node's call closed")
    lost = await h.calls.get(left.id)
    assert (lost.status, lost.end_reason) == ("failed", "node_lost")
    nodes = {n.node_id: n for n in await NodeRepository(h.service.db).list_nodes()}
    assert nodes["fs-node"].pbxes == ("freeswitch",) and nodes["fs-node"].stopped_at is None
    holders = JobLeaseRepository(h.service.db)
    assert [await holders.holder(job) for job in JOBS] == ["fs-node"] * 3

    # this node's own calls: their call.started and call.ended delivered by its worker
    receiver = await make_receiver(200)
    await subscribe(h, receiver.url)
    caller = SimulatedCaller()
    h.dial(caller=caller)
    await caller.wait_for_speech(25)
    await caller.hangup()
    row = await h.closed_call()
    await received(receiver, {"call.started", "call.ended"})
    [ended] = [r.json["data"] for r in receiver.received if r.json["type"] == "call.ended"]
    assert ended["call"]["uid"] == row.uid, ended
    assert (ended["call"]["status"], ended["call"]["end_reason"]) == (row.status, row.end_reason)


async def subscribe(h: FsHarness, url: str) -> None:
    """An endpoint of the demo number's org for every event."""
    db = h.service.db
    assert db is not None
    key = MasterKey.load_or_create(h.settings.server.master_key_file)
    org_id = int(await db.fetch_value("SELECT id FROM orgs LIMIT 1"))
    await CredentialRepository(db, key).put(org_id, "webhook_url", "crm-url", url)
    await EndpointRepository(db, key).create(
        org_id, "crm", target="webhook", credential_name="crm-url", events=EVENT_TYPES)


async def _running(h: FsHarness, jobs: list[str]) -> bool:
    assert h.service.node_jobs is not None
    return sorted(h.service.node_jobs.running()) == jobs


async def _gone(h: FsHarness, call_id: int) -> bool:
    assert h.service.db is not None
    return int(await h.service.db.fetch_value("SELECT COUNT(*) FROM calls WHERE id = ?",
                                              (call_id,))) == 0


async def _closed(h: FsHarness, call_id: int) -> bool:
    return (await h.calls.get(call_id)).status != "in_progress"


async def test_two_freeswitch_nodes_on_one_store_run_each_job_once(
    tmp_path: Path, make_fs_harness: MakeFsHarness, vosk_models: VoskModelCache
) -> None:
    h = await make_fs_harness(env={"CALLWRIGHT_SERVER_NODE_ID": "fs-a",
                                   "CALLWRIGHT_SERVER_NODE_LOST_S": "3"})
    second = with_ports(replace(h.settings, server=replace(h.settings.server, node_id="fs-b")),
                        0, 0)
    node_b = FreeswitchService(second, vosk_models=vosk_models, warm_streams=1)
    await node_b.start()
    try:
        node_a = h.service
        assert node_a.node_jobs is not None and node_b.node_jobs is not None
        await until(lambda: _running(h, JOBS), 5, "node fs-a to take the jobs")
        await asyncio.sleep(1.0)  # two of node fs-b's checks (every 0.5 s): it takes none
        assert node_b.node_jobs.running() == []  # each job runs on one node (job_lock)
        assert node_b.db is not None
        nodes = {n.node_id for n in await NodeRepository(node_b.db).list_nodes()}
        assert {"fs-a", "fs-b"} <= nodes
        await node_a.node_jobs.stop_jobs()  # released: fs-b takes them over
        deadline = time.monotonic() + 5
        while sorted(node_b.node_jobs.running()) != JOBS:
            assert time.monotonic() < deadline, node_b.node_jobs.running()
            await asyncio.sleep(0.05)
        holders = JobLeaseRepository(node_b.db)
        assert [await holders.holder(job) for job in JOBS] == ["fs-b"] * 3
        assert node_a.node_jobs.running() == []
    finally:
        await node_b.stop()
