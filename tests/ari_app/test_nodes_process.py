"""Two call nodes as real processes (``python -m cli serve``), each on its own PBX simulator,
sharing one PostgreSQL store (issue 13): calls on both; one node killed with SIGKILL; the other
closes the dead node's call (``node_lost``) and takes the jobs that run once over; the dead node,
started again, finds its caller still in its PBX and resumes the call by the lifecycle rules; an
admin on the same store lists every call with its node and PBX."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ari_app.demo import DEMO_NUMBER
from ari_app.demo_caller import heard_speech_after
from ari_app.simulator.calls import SimulatedCall
from ari_app.simulator.server import PbxSimulator
from callwright.accounts.roles import Role
from callwright.dialog.demo_flow import DEMO_FLOW
from callwright.store.calls import Call, CallRepository
from callwright.store.db import Database
from callwright.store.seed import seed_demo
from callwright.store.users import UserRepo
from tests.admin.conftest import FAST, PASSWORD, Admin
from tests.ari_app.service_process import APP, ServiceProcess, wait_for
from tests.pg_server import PgServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

SIM_PASSWORD = "nodes-secret"
START_S = 90.0  # a cold start loads the Korean model; two start on a busy 2-core machine
NODE_LOST_S = 4.0


@pytest.fixture
async def store_url(postgres_server: PgServer | None) -> AsyncIterator[str]:
    if postgres_server is None:
        pytest.skip("PostgreSQL is not installed (make test installs Debian's postgresql)")
    url = await postgres_server.create_database()
    yield url
    await postgres_server.drop_database(url)


@pytest.fixture
async def processes() -> AsyncIterator[list[ServiceProcess]]:
    made: list[ServiceProcess] = []
    yield made
    for service in made:
        await service.kill()


def node_config(tmp: Path, node: str, pbx: str, sim: PbxSimulator, url: str, rtp: int) -> Path:
    data = tmp / node
    data.mkdir(exist_ok=True)
    path = tmp / f"{node}.toml"
    path.write_text(f"""
[server]
node_id = "{node}"
node_lost_s = {NODE_LOST_S}
data_dir = "{data}"
master_key_file = "{tmp / 'master.key'}"

[ari]
username = "{sim.username}"
app = "{APP}"
reconnect_max_s = 1.0

[[pbx]]
name = "{pbx}"
url = "{sim.ari_url}"
password = "{SIM_PASSWORD}"
[pbx.media]
rtp_port_min = {rtp}
rtp_port_max = {rtp + 198}

[store]
url = "{url}"

[recordings]
dir = "{tmp / 'recordings'}"

[calls]
no_input_hangup_s = 0
""", encoding="utf-8")
    return path


async def start(processes: list[ServiceProcess], config: Path, log: Path,
                sim: PbxSimulator) -> ServiceProcess:
    service = ServiceProcess(config, log)
    processes.append(service)
    await service.start()
    try:
        await wait_for(lambda: sim.hub.is_active(APP), START_S, f"{config.stem} to connect",
                       poll_s=0.1)
    except AssertionError:
        await service.kill()
        raise AssertionError(service.output()[-3000:]) from None
    return service


async def call_of(calls: CallRepository, node: str, status: str, within_s: float) -> Call:
    deadline = time.monotonic() + within_s
    while True:
        found = [c for c in await calls.list_recent_all_orgs(20)
                 if c.node_id == node and c.status == status]
        if found:
            return found[0]
        assert time.monotonic() < deadline, (node, status, await calls.list_recent_all_orgs(20))
        await asyncio.sleep(0.1)


async def greeted(call: SimulatedCall, since: float) -> None:
    await heard_speech_after(call.caller, since, 30.0)


def took(service: ServiceProcess, job: str) -> bool:
    return f"job {job}: this node holds its lock and runs it" in service.output()


async def test_two_nodes_one_killed_on_postgresql(
    tmp_path: Path, store_url: str, processes: list[ServiceProcess]
) -> None:
    db = await Database.open(store_url)
    try:
        org, _, _ = await seed_demo(db, number=DEMO_NUMBER, language="ko", greeting="",
                                    flow=dict(DEMO_FLOW), record_calls=True)
        await db.execute("UPDATE orgs SET encrypt_recordings = ?", (0,))
        calls = CallRepository(db)
        async with PbxSimulator(username="callwright", password=SIM_PASSWORD) as sim_a, \
                PbxSimulator(username="callwright", password=SIM_PASSWORD) as sim_b:
            config_a = node_config(tmp_path, "node-a", "pbx-a", sim_a, store_url, 46000)
            config_b = node_config(tmp_path, "node-b", "pbx-b", sim_b, store_url, 46400)
            node_a = await start(processes, config_a, tmp_path / "node-a.log", sim_a)
            node_b = await start(processes, config_b, tmp_path / "node-b.log", sim_b)
            await wait_for(lambda: took(node_a, "retention"), 10, "node-a to take retention")
            assert not took(node_b, "retention")

            placed = time.monotonic()
            caller_a = await sim_a.place_call(dialed=DEMO_NUMBER, caller_number="5550001",
                                              app=APP)
            caller_b = await sim_b.place_call(dialed=DEMO_NUMBER, caller_number="5550002",
                                              app=APP)
            await greeted(caller_a, placed)
            await greeted(caller_b, placed)
            on_a = await call_of(calls, "node-a", "in_progress", 10)
            on_b = await call_of(calls, "node-b", "in_progress", 10)
            assert (on_a.pbx, on_b.pbx) == ("pbx-a", "pbx-b")

            await node_a.kill()
            # node-b closes node-a's call once node-a has been silent for NODE_LOST_S, and
            # takes the retention job over (node-a's advisory lock went with its session).
            lost = await call_of(calls, "node-a", "failed", NODE_LOST_S + 15)
            assert (lost.id, lost.end_reason) == (on_a.id, "node_lost")
            await wait_for(lambda: took(node_b, "retention"), 15, "node-b to take retention",
                           poll_s=0.1)
            assert took(node_b, "lost-nodes") and took(node_b, "webhook-deliveries")
            assert (await calls.get(on_b.id)).status == "in_progress"

            # node-a comes back: its caller is still in pbx-a's Stasis app, so the call is
            # recovered by its assistant's on_recovery (resume): the same row, reopened.
            back = time.monotonic()
            node_a = await start(processes, config_a, tmp_path / "node-a-again.log", sim_a)
            await heard_speech_after(caller_a.caller, back, 30.0)  # the recovery line
            resumed = await call_of(calls, "node-a", "in_progress", 15)
            assert resumed.id == on_a.id and resumed.pbx == "pbx-a"
            kinds = [e.kind for e in await calls.events(on_a.id)]
            assert "node_lost" in kinds and "recovered" in kinds

            # An admin on the same store lists both nodes' calls, each with its node and PBX.
            owner = await UserRepo(db).create("owner@nodes.example", await FAST.hash(PASSWORD))
            await UserRepo(db).add_membership(owner, org.id, Role.OWNER.value)
            admin = Admin(db, tmp_path)
            await admin.start()
            try:
                signed_in = await admin.login("owner@nodes.example")
                data = await (await signed_in.api("GET", "/dashboard")).json()
                live = {(c["uid"], c["node_id"], c["pbx"]) for c in data["in_progress"]}
                assert live == {(on_a.uid, "node-a", "pbx-a"), (on_b.uid, "node-b", "pbx-b")}
                listed = await (await signed_in.api("GET", "/calls")).json()
                assert {c["uid"] for c in listed["calls"]} == {on_a.uid, on_b.uid}
            finally:
                await admin.close()
            await asyncio.wait_for(caller_a.caller.hangup(), 10)
            await asyncio.wait_for(caller_b.caller.hangup(), 10)
            for node, service in (("node-a", node_a), ("node-b", node_b)):
                await call_of(calls, node, "completed", 15)
                service.signal(15)  # SIGTERM: drain, stop
                assert await service.wait(60) == 0, service.output()[-2000:]
    finally:
        await db.close()
