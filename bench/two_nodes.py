"""Benchmark (issue 13): 100 concurrent simulated calls over two call nodes sharing one
PostgreSQL store, against the same 100 calls on one node with its SQLite store.

    .venv/bin/python -m bench.two_nodes [--calls 100] [--seconds 40]

Two runs, one after the other, of the live-speech callers of :mod:`bench.live_capacity` (every
caller says "네" about every 5 s and the gap to the first reply audio is measured,
:func:`bench.live_capacity.caller_loop`):

* ``sqlite_one_node``: one ``callwright serve`` process (:mod:`bench.service_process`) on one PBX
  simulator with every call, its store a SQLite file;
* ``postgresql_two_nodes``: two processes (``node-a``, ``node-b``), each on its own PBX simulator
  with half the calls, sharing one PostgreSQL database (a throwaway cluster, tests/pg_server.py,
  started here with PostgreSQL's default durability: fsync and synchronous commit on, as SQLite
  commits durably too), one master key.

Figures: the turn latency (end of the caller's speech -> first reply audio) p50/p95/p99 of each
run, per node for the two nodes, the p95 ratio, each process's CPU share, the calls rows each node
wrote in the store, and the machine's load.
Writes ``bench/results/two_nodes.json``. Every process runs on this one machine: two nodes here
share the same cores, so the figures show what the shared store costs the call path, not the
capacity two machines would have.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ari_app.simulator.calls import SimulatedCall  # noqa: E402
from ari_app.simulator.server import PbxSimulator  # noqa: E402
from bench.call_latency import BENCH_FLOW  # noqa: E402
from bench.live_capacity import TAIL_MS, YES, caller_loop  # noqa: E402
from bench.report import save, summarize  # noqa: E402
from bench.service_process import ServiceProcess, cpu_seconds, service_env  # noqa: E402
from bench.turn_corpus import render  # noqa: E402
from callwright.store.db import Database  # noqa: E402
from callwright.store.seed import seed_demo  # noqa: E402
from tests.pg_server import SUPERUSER, PgServer, find_bin_dir  # noqa: E402

APP = "callwright"
PASSWORD = "two-nodes-secret"
NUMBER = "100"
START_LIMIT_S = 300.0  # cold starts load the Korean model; two at once on a busy machine
PERIOD_S = 5.0
#: Each node's RTP ports: NODE_RTP_BASE + 1000 * its index, 1000 ports.
NODE_RTP_BASE = 30000


class DurablePgServer(PgServer):
    """The tests' throwaway cluster, with PostgreSQL's default durability (the tests turn fsync
    and synchronous commit off for speed; a call store runs with them on)."""

    def start(self) -> None:
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
                  "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
                   " -c max_connections=300 -c shared_buffers=64MB")
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-o", options,
                  "-l", str(self.dir / "server.log"), "-w", "-t", "60", "start")


@dataclass(frozen=True)
class Node:
    name: str
    index: int


def node_settings(node: Node, sim_url: str, workdir: Path, store: Mapping[str, str]
                  ) -> dict[str, str]:
    """The ``CALLWRIGHT_*`` settings of one node: its PBX, node id, data directory and RTP
    ports of its own; the store (``STORE_URL`` or ``STORE_PATH``), master key and recordings
    shared."""
    low = NODE_RTP_BASE + 1000 * node.index
    return {
        "ARI_URL": sim_url, "ARI_USERNAME": "callwright", "ARI_PASSWORD": PASSWORD,
        "ARI_APP": APP, "SERVER_NODE_ID": node.name,
        "SERVER_DATA_DIR": str(workdir / node.name),
        "SERVER_MASTER_KEY_FILE": str(workdir / "master.key"), "SERVER_LOG_LEVEL": "warning",
        "MEDIA_RTP_PORT_MIN": str(low), "MEDIA_RTP_PORT_MAX": str(low + 998),
        "RECORDINGS_DIR": str(workdir / "recordings"), **store,
    }


def split_calls(calls: int, nodes: int) -> list[int]:
    """``calls`` spread over ``nodes`` as evenly as they go (the first ones take the rest)."""
    share, rest = divmod(calls, nodes)
    return [share + (1 if i < rest else 0) for i in range(nodes)]


def compare(single: Mapping[str, Any], pair: Mapping[str, Any]) -> dict[str, Any]:
    """The two runs' turn latency p95, and two nodes' over one node's (None without turns)."""
    one, two = single["gap_ms"].get("p95"), pair["gap_ms"].get("p95")
    ratio = round(two / one, 2) if one and two and single["turns"] and pair["turns"] else None
    return {"sqlite_one_node_p95_ms": one, "postgresql_two_nodes_p95_ms": two,
            "p95_ratio_two_nodes_over_one": ratio}


async def start_nodes(sims: Sequence[PbxSimulator], services: Sequence[ServiceProcess]) -> None:
    for service in services:
        await service.start()
    deadline = time.monotonic() + START_LIMIT_S
    while not all(sim.hub.is_active(APP) for sim in sims):
        for service in services:
            if time.monotonic() > deadline or not service.running:
                raise RuntimeError("a node did not connect:\n"
                                   + "\n".join(service.output_tail()))
        await asyncio.sleep(0.2)
    await asyncio.sleep(3)  # the jobs' first checks and the heartbeats settle


async def talk(sims: Sequence[PbxSimulator], services: Sequence[ServiceProcess],
               shares: Sequence[int], seconds: float) -> dict[str, Any]:
    """``shares[i]`` calls on ``sims[i]`` at once, talking for ``seconds``; the figures."""
    rendered = render(YES)
    pcm = rendered.pcm[: int((rendered.speech_end_ms + TAIL_MS) * 16)]
    placed: list[list[SimulatedCall]] = [[] for _ in sims]
    for i in range(max(shares)):
        for n, sim in enumerate(sims):
            if i < shares[n]:
                placed[n].append(await sim.place_call(
                    dialed=NUMBER, caller_number=f"+8291{n}{i:05d}", app=APP))
        await asyncio.sleep(0.05)
    await asyncio.sleep(3)  # every call greeted and listening
    gaps: list[list[float]] = [[] for _ in sims]
    cpu0 = [cpu_seconds(s.pid) or 0.0 for s in services]
    t0 = time.monotonic()
    until = t0 + seconds
    loops = [asyncio.ensure_future(caller_loop(c, pcm, rendered.speech_end_ms, until, gaps[n],
                                               PERIOD_S))
             for n, calls in enumerate(placed) for c in calls]
    load_peak = 0.0
    while time.monotonic() < until:
        await asyncio.sleep(1)
        load_peak = max(load_peak, os.getloadavg()[0])
    await asyncio.gather(*loops, return_exceptions=True)
    took = time.monotonic() - t0
    cpu = [(cpu_seconds(s.pid) or 0.0) - c for s, c in zip(services, cpu0, strict=True)]
    for calls in placed:
        for c in calls:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(c.caller.hangup(), 5)
    every = [g for node in gaps for g in node]
    return {
        "calls": sum(shares), "turns": len(every), "gap_ms": summarize(every),
        "per_node": [{"calls": shares[n], "turns": len(gaps[n]), "gap_ms": summarize(gaps[n]),
                      "service_cpu_pct": round(100 * cpu[n] / took, 1)}
                     for n in range(len(sims))],
        "loadavg_1min_peak": round(load_peak, 1),
    }


async def seed(db: Database) -> None:
    try:
        await seed_demo(db, number=NUMBER, language="ko", greeting="", flow=dict(BENCH_FLOW),
                        record_calls=False)
    finally:
        await db.close()


async def rows_by_node(target: Path | str) -> dict[str, int]:
    """The calls rows in the store, by the node that wrote them."""
    db = await Database.open(target)
    try:
        rows = await db.fetch_all("SELECT node_id, COUNT(*) AS n FROM calls GROUP BY node_id")
    finally:
        await db.close()
    return {str(row["node_id"]): int(row["n"]) for row in rows}


async def run_nodes(count: int, calls: int, seconds: float, workdir: Path,
                    store: Mapping[str, str], target: Path | str) -> dict[str, Any]:
    sims = [PbxSimulator(username="callwright", password=PASSWORD) for _ in range(count)]
    services: list[ServiceProcess] = []
    try:
        for sim in sims:
            await sim.start()
        for n, sim in enumerate(sims):
            node = Node(f"node-{'ab'[n]}", n)
            (workdir / node.name).mkdir(exist_ok=True)
            services.append(ServiceProcess(
                service_env(node_settings(node, sim.ari_url, workdir, store)),
                workdir / f"{node.name}.log"))
        await start_nodes(sims, services)
        figures = await talk(sims, services, split_calls(calls, count), seconds)
        figures["rows_by_node"] = await rows_by_node(target)
        return figures
    finally:
        for service in services:
            await service.kill()
        for sim in sims:
            await sim.stop()


async def run(calls: int, seconds: float, workdir: Path) -> dict[str, Any]:
    one_dir, two_dir = workdir / "sqlite", workdir / "postgresql"
    one_dir.mkdir()
    two_dir.mkdir()
    store_file = one_dir / "callwright.db"
    await seed(await Database.open(store_file))
    print(f"-- one node, SQLite, {calls} calls", flush=True)
    single = await run_nodes(1, calls, seconds, one_dir, {"STORE_PATH": str(store_file)},
                             store_file)
    print(f"   {single}", flush=True)
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed (make test installs Debian's postgresql)")
    server = DurablePgServer(bin_dir)
    await asyncio.to_thread(server.start)
    try:
        url = await server.create_database()
        await seed(await Database.open(url))
        print(f"-- two nodes, PostgreSQL, {calls} calls", flush=True)
        pair = await run_nodes(2, calls, seconds, two_dir, {"STORE_URL": url}, url)
        print(f"   {pair}", flush=True)
    finally:
        await asyncio.to_thread(server.stop)
    return {"sqlite_one_node": single, "postgresql_two_nodes": pair, **compare(single, pair)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.two_nodes")
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=40.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="callwright-two-nodes-") as tmp:
        figures = asyncio.run(run(args.calls, args.seconds, Path(tmp)))
    figures["conditions"] = (
        "every process on this one machine (2 cores, shared with other work: see the load): "
        "the service processes (python -m cli serve), the PBX simulators and callers in this "
        "one, PostgreSQL with fsync and synchronous commit on; Korean Vosk in grammar mode "
        "(yes/no), one '네' about every 5 s per call")
    figures["target"] = ("two nodes on PostgreSQL: turn latency p95 not worse than one node "
                         "on SQLite")
    save("two_nodes", figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
