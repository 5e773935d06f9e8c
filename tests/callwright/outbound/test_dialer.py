"""QueueDialer: claims what there is room for, waits while not ready, never redials left-overs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from callwright.outbound.dial_result import DialResult
from callwright.outbound.dialer import QueueDialer
from callwright.outbound.request import OutboundRequest
from callwright.store.assistants import AssistantRepository
from callwright.store.db import Database
from callwright.store.orgs import OrgRepository
from callwright.store.outbound_calls import OutboundCall, OutboundCallRepository


async def queued(db: Database, count: int) -> OutboundCallRepository:
    org = await OrgRepository(db).create("Acme", "acme")
    assistant = await AssistantRepository(db).create(org.id, "One", "en", "Hi")
    repo = OutboundCallRepository(db)
    for n in range(count):
        await repo.enqueue(org.id, OutboundRequest(assistant.id, f"+1555010{n:04d}",
                                                   f"loopback/+1555010{n:04d}/default", "100"))
    return repo


async def settled(dialer: QueueDialer) -> None:
    """Until the calls being placed are over."""
    for _ in range(200):
        if not dialer.placing:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"still placing {dialer.placing}")


async def test_claims_up_to_max_concurrent_and_more_once_calls_end(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "store.db")
    try:
        repo = await queued(db, 5)
        release = asyncio.Event()
        placed: list[OutboundCall] = []

        async def place(row: OutboundCall) -> None:
            placed.append(row)
            await release.wait()
            await repo.finish(row.id, DialResult("busy", 17, "User busy", 10))

        dialer = QueueDialer(repo, place, node="n1", max_concurrent=2)
        assert await dialer.poll_once() == 2
        assert await dialer.poll_once() == 0  # no room
        await asyncio.sleep(0)
        assert len(placed) == 2 and len(dialer.placing) == 2
        release.set()
        await settled(dialer)
        assert await dialer.poll_once() == 2
        await settled(dialer)
        assert await dialer.poll_once() == 1
        await dialer.stop()
        assert len({row.id for row in placed}) == 5
        assert all(row.node == "n1" for row in placed)
    finally:
        await db.close()


async def test_nothing_is_claimed_while_not_ready(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "store.db")
    try:
        repo = await queued(db, 1)
        ready = False

        async def place(row: OutboundCall) -> None:
            await repo.finish(row.id, DialResult("answered", None, "", 5))

        dialer = QueueDialer(repo, place, node="n1", ready=lambda: ready)
        assert await dialer.poll_once() == 0
        ready = True
        assert await dialer.poll_once() == 1
        await dialer.stop()
    finally:
        await db.close()


async def test_rows_left_dialing_by_a_previous_run_are_ended_not_redialled(
    tmp_path: Path,
) -> None:
    db = await Database.open(tmp_path / "store.db")
    try:
        repo = await queued(db, 1)
        [row] = await repo.claim("n1", 1)
        placed: list[OutboundCall] = []

        async def place(row: OutboundCall) -> None:
            placed.append(row)

        dialer = QueueDialer(repo, place, node="n1", poll_s=0.01)
        await dialer.start()
        await asyncio.sleep(0.05)
        await dialer.stop()
        assert placed == []
        left = await repo.get(row.id)
        assert left.status == "ended" and left.outcome == "failed"
    finally:
        await db.close()


async def test_placings_still_going_can_be_cancelled(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "store.db")
    try:
        repo = await queued(db, 1)
        cancelled = asyncio.Event()

        async def place(row: OutboundCall) -> None:
            try:
                await asyncio.Event().wait()  # a call that never ends by itself
            except asyncio.CancelledError:
                cancelled.set()
                raise

        dialer = QueueDialer(repo, place, node="n1")
        assert await dialer.poll_once() == 1
        await dialer.wait(0.05)
        assert dialer.placing  # still going
        await dialer.cancel_rest()
        assert cancelled.is_set() and not dialer.placing
    finally:
        await db.close()
