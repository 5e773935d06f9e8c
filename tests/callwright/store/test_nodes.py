"""Calls with their node and PBX, a node's own start-up sweep, the call_nodes heartbeat rows and
job leases (issue 13, migrations 0028-0029)."""

from __future__ import annotations

from callwright.store.calls import CallOrigin, CallRepository
from callwright.store.clock import shift_iso
from callwright.store.job_leases import JobLeaseRepository
from callwright.store.nodes import NodeRepository
from callwright.store.queued_calls import QueuedCallRepository
from callwright.store.recovery import close_abandoned_calls, close_node_calls
from callwright.store.write_queue import WriteQueue
from tests.callwright.store.conftest import MakeDb

START = "2026-12-07T14:00:00.000Z"


async def test_calls_record_their_node_pbx_and_recording_node(make_db: MakeDb) -> None:
    db = await make_db()
    repo = CallRepository(db, origin=CallOrigin("node-a", "pbx-1"))
    call = await repo.create_call(None, None, None, "100", "+1555", "", "ch-1")
    assert (call.node_id, call.pbx, call.recording_node) == ("node-a", "pbx-1", None)
    await repo.set_recording(call.id, "/shared/rec/x.wav", None)
    stored = await repo.get(call.id)
    assert (stored.node_id, stored.pbx, stored.recording_node) == ("node-a", "pbx-1", "node-a")
    plain = await CallRepository(db).create_call(None, None, None, "100", "", "", "ch-2")
    assert (plain.node_id, plain.pbx) == ("", "")


async def test_a_channel_is_found_on_its_own_pbx_only(make_db: MakeDb) -> None:
    db = await make_db()
    one = CallRepository(db, origin=CallOrigin("node-a", "pbx-1"))
    two = CallRepository(db, origin=CallOrigin("node-b", "pbx-2"))
    on_one = await one.create_call(None, None, None, "100", "", "", "1700000000.1")
    on_two = await two.create_call(None, None, None, "100", "", "", "1700000000.1")
    found_one = await one.find_by_channel("1700000000.1")
    found_two = await two.find_by_channel("1700000000.1")
    assert found_one is not None and found_one.id == on_one.id
    assert found_two is not None and found_two.id == on_two.id
    old = await CallRepository(db).create_call(None, None, None, "100", "", "", "ch-old")
    found_old = await one.find_by_channel("ch-old")  # before issue 13: no PBX on the row
    assert found_old is not None and found_old.id == old.id
    queued = QueuedCallRepository(db, WriteQueue(), inner=two)
    found_queued = await queued.find_by_channel("1700000000.1")
    assert found_queued is not None and found_queued.id == on_two.id


async def test_reopening_makes_the_call_the_reopening_nodes(make_db: MakeDb) -> None:
    db = await make_db()
    a = CallRepository(db, origin=CallOrigin("node-a", "pbx-1"))
    call = await a.create_call(None, None, None, "100", "", "", "ch")
    assert await close_node_calls(db, "node-a") == [call.id]
    b = CallRepository(db, origin=CallOrigin("node-b", "pbx-1"))
    assert await b.reopen_call(call.id)
    again = await b.get(call.id)
    assert (again.status, again.node_id, again.pbx) == ("in_progress", "node-b", "pbx-1")


async def test_a_node_starting_closes_its_own_calls_not_the_others(make_db: MakeDb) -> None:
    db = await make_db()
    a = CallRepository(db, origin=CallOrigin("node-a", "pbx-1"))
    b = CallRepository(db, origin=CallOrigin("node-b", "pbx-2"))
    mine = await a.create_call(None, None, None, "100", "", "", "ch-a")
    theirs = await b.create_call(None, None, None, "100", "", "", "ch-b")
    legacy = await CallRepository(db).create_call(None, None, None, "100", "", "", "ch-l")
    assert await close_abandoned_calls(db, node_id="node-a") == 2
    assert (await a.get(mine.id)).end_reason == "server_restart"
    assert (await a.get(legacy.id)).status == "failed"
    assert (await b.get(theirs.id)).status == "in_progress"


async def test_lost_nodes_are_those_not_seen_with_calls_in_progress(make_db: MakeDb) -> None:
    db = await make_db()
    clock = {"now": START}
    nodes = NodeRepository(db, now=lambda: clock["now"])
    await nodes.register("node-a", ["pbx-1"])
    await nodes.register("node-b", ["pbx-2", "pbx-3"])
    await nodes.register("node-c", ["pbx-4"])
    for node, pbx in (("node-a", "pbx-1"), ("node-b", "pbx-2"), ("ghost", "pbx-9")):
        await CallRepository(db, origin=CallOrigin(node, pbx)).create_call(
            None, None, None, "100", "", "", f"ch-{node}")
    clock["now"] = shift_iso(START, ms=60_000)
    assert await nodes.beat("node-b")
    assert not await nodes.beat("nobody")
    cutoff = shift_iso(clock["now"], ms=-30_000)
    # node-a is silent with a call, node-c silent with none; 'ghost' never wrote a heartbeat
    # (an adapter without one), so nothing says it is gone: its call is left alone.
    assert await nodes.lost(cutoff) == ["node-a"]
    listed = {n.node_id: n for n in await nodes.list_nodes()}
    assert listed["node-b"].pbxes == ("pbx-2", "pbx-3")
    assert listed["node-b"].seen_at == clock["now"]
    assert (listed["node-a"].calls_in_progress, listed["node-c"].calls_in_progress) == (1, 0)
    await nodes.stopped("node-c")
    assert (await nodes.list_nodes())[2].stopped_at == clock["now"]
    await nodes.register("node-c", ["pbx-4"])  # started again
    assert (await nodes.list_nodes())[2].stopped_at is None


async def test_a_lease_has_one_holder_until_released_or_expired(make_db: MakeDb) -> None:
    db = await make_db()
    clock = {"now": START}
    leases = JobLeaseRepository(db, now=lambda: clock["now"])
    assert await leases.take("retention", "node-a", 15)
    assert not await leases.take("retention", "node-b", 15)
    assert await leases.take("retention", "node-a", 15)  # renewed
    assert await leases.take("webhooks", "node-b", 15)  # another job
    assert await leases.holder("retention") == "node-a"
    clock["now"] = shift_iso(START, ms=14_000)
    assert not await leases.take("retention", "node-b", 15)
    clock["now"] = shift_iso(START, ms=15_000)  # node-a stopped renewing: expired
    assert await leases.holder("retention") is None
    assert await leases.take("retention", "node-b", 15)
    assert not await leases.release("retention", "node-a")
    assert await leases.release("retention", "node-b")
    assert await leases.take("retention", "node-a", 15)
