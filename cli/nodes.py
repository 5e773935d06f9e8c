"""``callwright nodes``: the call nodes sharing this store (issue 13, docs/scale-out.md).

One line per node that ever used the store: its id, the PBXs it serves, when it started and was
last heard from, its state and its calls in progress. The state is ``live`` (heard from within
``[server] node_lost_s``), ``stopped`` (a clean stop), or ``lost`` (silent for longer: another node
closes its calls in progress as ``failed``/``node_lost``). Exit status 0; 3 when a node is lost
with calls still in progress (for a monitoring check).
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from callwright.config import load_config
from callwright.store.clock import shift_iso, utc_now_iso
from callwright.store.db import open_store
from callwright.store.nodes import Node, NodeRepository

LOST_WITH_CALLS = 3


def add_nodes_parser(sub: Any) -> None:
    p = sub.add_parser("nodes", help="the call nodes sharing this store, and their state")
    p.set_defaults(func=cmd_nodes)


def node_state(node: Node, lost_before: str) -> str:
    """``stopped``, ``lost`` (last heard from before ``lost_before``) or ``live``."""
    if node.stopped_at is not None:
        return "stopped"
    return "lost" if node.seen_at < lost_before else "live"


def cmd_nodes(args: argparse.Namespace) -> int:
    config = getattr(args, "config", None)
    settings = load_config(Path(config) if config else None)

    async def main() -> int:
        db = await open_store(settings.store)
        try:
            nodes = await NodeRepository(db).list_nodes()
        finally:
            await db.close()
        lost_before = shift_iso(utc_now_iso(), ms=-int(settings.server.node_lost_s * 1000))
        if not nodes:
            print("no call node has used this store yet")
            return 0
        code = 0
        print(f"{'node':<20} {'state':<8} {'calls':>5}  {'last seen (UTC)':<19}  pbx")
        for node in nodes:
            state = node_state(node, lost_before)
            if state == "lost" and node.calls_in_progress:
                code = LOST_WITH_CALLS
            print(f"{node.node_id:<20} {state:<8} {node.calls_in_progress:>5}  "
                  f"{node.seen_at[:19].replace('T', ' '):<19}  {', '.join(node.pbxes)}")
        return code

    return asyncio.run(main())
