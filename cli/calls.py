"""``callwright call place``: ask the call service for an outbound call.

    callwright call place --assistant 3 --to +15550100199 --var first_name=Ana \\
        --var "appointment=Tuesday 3 pm" --wait
    callwright call place --assistant 3 --to 201 --endpoint "Local/{number}@callwright-outbound"

The call is queued in the store (:class:`callwright.outbound.placing.OutboundPlacer`) and placed
by a running call service (``callwright serve``). It goes out from ``--from`` (one of the
assistant's org's numbers with direction outbound or both), else the org's outbound number
assigned to the assistant, else its first outbound number; the endpoint is that number's
outbound endpoint template unless ``--endpoint`` gives one. ``--wait`` returns once the call has
ended and prints its uid and outcome (exit status 0 if answered, 3 otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from callwright.config import load_config
from callwright.errors import NotFound
from callwright.outbound.placing import OutboundPlacer, RestrictionsDoNotCall
from callwright.outbound.request import RequestError, parse_variables
from callwright.privacy.restrictions import CallerRestrictionRepository
from callwright.privacy.secrets import MasterKey
from callwright.store.assistants import AssistantRepository
from callwright.store.calls import CallRepository
from callwright.store.db import Database, open_store
from callwright.store.numbers import NumberRepository
from callwright.store.outbound_calls import OutboundCall, OutboundCallRepository

#: How often ``--wait`` looks at the row, and for how long at most (seconds).
WAIT_POLL_S = 0.25
WAIT_LIMIT_S = 4 * 3600
NOT_ANSWERED = 3


def add_call_parser(sub: Any) -> None:
    call = sub.add_parser("call", help="outbound calls")
    call_sub = call.add_subparsers(dest="call_command", required=True)
    p = call_sub.add_parser("place", help="place a call to a number with an assistant")
    p.add_argument("--assistant", required=True, type=int, metavar="ID", help="assistant id")
    p.add_argument("--to", required=True, metavar="NUMBER", help="E.164 number or extension")
    p.add_argument("--from", dest="from_number", metavar="NUMBER",
                   help="the org's number the call goes out from (its caller ID)")
    p.add_argument("--endpoint", metavar="TEMPLATE",
                   help="e.g. 'PJSIP/{number}@trunk' (default: the from number's)")
    p.add_argument("--var", action="append", default=[], metavar="KEY=VALUE",
                   help="a variable for the greeting and flow ({KEY}); repeatable")
    p.add_argument("--wait", action="store_true", help="return when the call has ended")
    p.set_defaults(func=cmd_call_place)


def _fail(message: str, code: int = 1) -> int:
    print(f"callwright call: {message}", file=sys.stderr)
    return code


def cmd_call_place(args: argparse.Namespace) -> int:
    config = getattr(args, "config", None)
    settings = load_config(Path(config) if config else None)
    try:
        variables = parse_variables(args.var)
    except RequestError as exc:
        return _fail(str(exc), 2)

    async def main() -> int:
        db = await open_store(settings.store)
        try:
            assistants = AssistantRepository(db)
            org_id = await db.fetch_value(
                "SELECT org_id FROM assistants WHERE id = ?", (args.assistant,))
            if org_id is None:
                return _fail(f"no assistant {args.assistant}", 2)
            master_key = await asyncio.to_thread(
                MasterKey.load_or_create, settings.server.master_key_file)
            placer = OutboundPlacer(
                assistants, NumberRepository(db), OutboundCallRepository(db),
                RestrictionsDoNotCall(CallerRestrictionRepository(db, master_key)),
            )
            try:
                row = await placer.queue(
                    int(org_id), args.assistant, args.to, from_number=args.from_number,
                    endpoint=args.endpoint, variables=variables)
            except (RequestError, NotFound) as exc:
                return _fail(str(exc), 2)
            print(f"queued {row.uid}: {row.to_number} via {row.endpoint}", flush=True)
            if not args.wait:
                return 0
            return await _wait(db, row)
        finally:
            await db.close()

    return asyncio.run(main())


async def _wait(db: Database, row: OutboundCall) -> int:
    repo = OutboundCallRepository(db)
    deadline = time.monotonic() + WAIT_LIMIT_S
    while row.status != "ended":
        if time.monotonic() > deadline:
            return _fail(f"{row.uid} still {row.status} after {WAIT_LIMIT_S} s")
        await asyncio.sleep(WAIT_POLL_S)
        row = await repo.get(row.id)
    uid = row.uid
    if row.call_id is not None:
        uid = (await CallRepository(db).get(row.call_id)).uid
    cause = f" (cause {row.cause} {row.cause_text})" if row.cause is not None else ""
    ring = f", rang {row.ring_ms / 1000:.1f} s" if row.ring_ms is not None else ""
    print(f"call {uid}: {row.outcome}{cause}{ring}")
    return 0 if row.outcome in ("answered", "machine") else NOT_ANSWERED
