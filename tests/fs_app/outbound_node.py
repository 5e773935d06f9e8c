"""A FreeSWITCH call node for outbound-call tests: the FreeSWITCH call service with its inbound
ESL logged in to the FreeSWITCH simulator, the demo assistant and an outbound number whose
endpoint is ``loopback/{number}/default`` (real Vosk, espeak-ng, a SQLite file in tmp_path)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from ari_app.demo import DEMO_NUMBER
from callwright.config import load_config
from callwright.dialog.demo_flow import DEMO_FLOW
from callwright.outbound.placing import OutboundPlacer
from callwright.speech.vosk_stt import VoskModelCache
from callwright.store.assistants import AssistantRepository
from callwright.store.calls import Call, CallRepository
from callwright.store.db import open_store
from callwright.store.numbers import NumberRepository
from callwright.store.outbound_calls import OutboundCall, OutboundCallRepository
from callwright.store.seed import seed_demo
from fs_app.service import FreeswitchService, with_ports
from fs_app.simulator.server import FreeswitchSimulator, socket_dialplan

FROM = "+15550111"
CALLEE = "+15550100199"
TURN_S = 25.0


class Node:
    """A FreeSWITCH node (the call service with its inbound ESL) and the simulated switch."""

    def __init__(self, service: FreeswitchService, sim: FreeswitchSimulator, org_id: int,
                 assistant_id: int) -> None:
        self.service, self.sim = service, sim
        self.org_id, self.assistant_id = org_id, assistant_id
        assert service.db is not None
        self.db = service.db
        self.calls = CallRepository(service.db)
        self.outbound = OutboundCallRepository(service.db)

    async def place(self, to: str = CALLEE, **variables: str) -> OutboundCall:
        placer = OutboundPlacer(AssistantRepository(self.db), NumberRepository(self.db),
                                self.outbound)
        return await placer.queue(self.org_id, self.assistant_id, to, variables=variables)

    async def ended(self, row: OutboundCall, within_s: float = TURN_S) -> OutboundCall:
        deadline = time.monotonic() + within_s
        while True:
            row = await self.outbound.get(row.id)
            if row.status == "ended":
                return row
            assert time.monotonic() < deadline, f"outbound call not ended: {row}"
            await asyncio.sleep(0.05)

    async def call_of(self, row: OutboundCall) -> Call:
        assert row.call_id is not None
        return await self.calls.get(row.call_id)


MakeNode = Callable[..., Awaitable[Node]]


@pytest.fixture(name="make_node")
async def make_node_fixture(tmp_path: Path, vosk_models: VoskModelCache) -> AsyncIterator[MakeNode]:
    """``await make_node(amd="off")``: the demo assistant, an outbound number whose endpoint is
    ``loopback/{number}/default``, the simulator's dialplan handing the outbound extension (and
    the demo number) to the service's socket."""
    made: list[Node] = []

    async def make(*, amd: str = "off", ring_timeout_s: int = 2, record_calls: bool = False,
                   env: dict[str, str] | None = None) -> Node:
        sim = FreeswitchSimulator(dialplan={})
        await sim.start()
        settings = load_config(None, env={
            "CALLWRIGHT_SERVER_DATA_DIR": str(tmp_path),
            "CALLWRIGHT_STORE_PATH": str(tmp_path / "callwright.db"),
            "CALLWRIGHT_RECORDINGS_DIR": str(tmp_path / "recordings"),
            "CALLWRIGHT_SERVER_MASTER_KEY_FILE": str(tmp_path / "master.key"),
            "CALLWRIGHT_FREESWITCH_ESL_HOST": "127.0.0.1",
            "CALLWRIGHT_FREESWITCH_ESL_PORT": str(sim.esl_port),
            "CALLWRIGHT_OUTBOUND_AMD": amd,
            "CALLWRIGHT_OUTBOUND_RING_TIMEOUT_S": str(ring_timeout_s),
            **(env or {}),
        })
        settings = with_ports(settings, 0, 0)
        db = await open_store(settings.store)
        try:
            org, assistant, _ = await seed_demo(db, number=DEMO_NUMBER, language="ko",
                                                greeting="", flow=dict(DEMO_FLOW),
                                                record_calls=record_calls)
            await db.execute("UPDATE orgs SET encrypt_recordings = 0")  # the test reads the WAV
            await NumberRepository(db).create(org.id, FROM, direction="outbound", label="Acme",
                                              assistant_id=assistant.id,
                                              outbound_endpoint="loopback/{number}/default")
        finally:
            await db.close()
        service = FreeswitchService(settings, vosk_models=vosk_models, warm_streams=1)
        await service.start()
        sim.dialplan = socket_dialplan("127.0.0.1", service.socket_port,
                                       extensions=(DEMO_NUMBER, "callwright_outbound"))
        assert service.esl is not None
        await service.esl.wait_connected(5)
        node = Node(service, sim, org.id, assistant.id)
        made.append(node)
        return node

    yield make
    for node in made:
        await node.sim.stop()
        await node.service.stop()


async def wait_for(check: Callable[[], Awaitable[Any]], within_s: float = TURN_S) -> Any:
    deadline = time.monotonic() + within_s
    while True:
        found = await check()
        if found:
            return found
        assert time.monotonic() < deadline, "not in time"
        await asyncio.sleep(0.1)
