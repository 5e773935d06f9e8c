"""``callwright privacy restrict|unrestrict|restrictions``: a caller's restrictions of processing.

    callwright privacy restrict +15551234567 --org acme --what record,transcribe --reason "asked"
    callwright privacy restrict +15551234567 --org acme --what object
    callwright privacy unrestrict +15551234567 --org acme
    callwright privacy restrict --call 3f2a9c --org acme --what transcribe,record --reason "art. 18"
    callwright privacy unrestrict --call 3f2a9c --org acme
    callwright privacy restrictions --org acme

Kinds: ``record`` (not recorded), ``transcribe`` (turns stored as "[not transcribed]"), ``store``
(only a minimal call row with the number hashed), ``object`` (told the call is not processed and
handed to the dialplan's fallback). Honoured from the caller's next call; audited with actor
``cli`` (:mod:`callwright.privacy.restriction_actions`).

With ``--call UID`` instead of a number, the restriction is on one stored call
(:mod:`callwright.privacy.call_restrictions`): ``transcribe`` (its transcript hidden from search
and views, withheld from webhooks) and/or ``record`` (its recording not playable), audited as
``call_restriction.set`` / ``call_restriction.lift``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from callwright.accounts.audit import Actor, AuditWriter
from callwright.config import load_config
from callwright.errors import NotFound
from callwright.privacy.call_restrictions import (
    CALL_KINDS,
    CallRestriction,
    CallRestrictionActions,
    CallRestrictionRepository,
    parse_call_kinds,
)
from callwright.privacy.restriction_actions import RestrictionActions
from callwright.privacy.restrictions import (
    KINDS,
    CallerRestriction,
    CallerRestrictionRepository,
    parse_kinds,
)
from callwright.privacy.secrets import MasterKey
from callwright.store.audit import AuditRepo
from callwright.store.db import Database, open_store
from callwright.store.orgs import OrgRepository


def add_restriction_parsers(sub: Any) -> None:
    """Register ``restrict``, ``unrestrict`` and ``restrictions`` on the ``privacy`` parsers."""
    restrict = sub.add_parser("restrict",
                              help="restrict what is done with a caller's calls, or one call")
    restrict.add_argument("number", metavar="NUMBER", nargs="?", help="the caller's number")
    restrict.add_argument("--call", metavar="UID",
                          help="one stored call instead (what: transcribe, record)")
    restrict.add_argument("--org", required=True, metavar="SLUG", help="the org's slug")
    restrict.add_argument("--what", required=True, metavar="KINDS",
                          help=f"comma-separated: {','.join(KINDS)}")
    restrict.add_argument("--reason", default="", metavar="TEXT", help="why (kept and audited)")
    restrict.set_defaults(func=cmd_restrict)
    lift = sub.add_parser("unrestrict", help="lift a caller's (or one call's) restrictions")
    lift.add_argument("number", metavar="NUMBER", nargs="?", help="the caller's number")
    lift.add_argument("--call", metavar="UID", help="one stored call instead")
    lift.add_argument("--org", required=True, metavar="SLUG", help="the org's slug")
    lift.set_defaults(func=cmd_unrestrict)
    listing = sub.add_parser("restrictions", help="the org's restricted callers")
    listing.add_argument("--org", required=True, metavar="SLUG", help="the org's slug")
    listing.set_defaults(func=cmd_restrictions)


def _fail(message: str, code: int = 1) -> int:
    print(f"callwright privacy: {message}", file=sys.stderr)
    return code


def describe(found: CallerRestriction) -> str:
    kinds = ",".join(kind for kind in KINDS if kind in found.kinds) or "nothing"
    reason = f" ({found.reason})" if found.reason else ""
    return f"{found.caller_number}: {kinds} since {found.created_at}{reason}"


async def _open(args: argparse.Namespace) -> tuple[Database, RestrictionActions,
                                                   CallerRestrictionRepository, int]:
    settings = load_config(Path(args.config) if getattr(args, "config", None) else None)
    db = await open_store(settings.store)
    try:
        org = await OrgRepository(db).get_by_slug(args.org)
    except NotFound:
        await db.close()
        raise
    repo = CallerRestrictionRepository(db, MasterKey.load_or_create(
        settings.server.master_key_file))
    return db, RestrictionActions(repo, AuditWriter(AuditRepo(db))), repo, org.id


def _one_target(args: argparse.Namespace) -> str | None:
    """An error message unless exactly one of NUMBER and --call is given."""
    if (args.number is None) == (getattr(args, "call", None) is None):
        return "give either a caller NUMBER or --call UID"
    return None


def describe_call(found: CallRestriction) -> str:
    kinds = ",".join(kind for kind in CALL_KINDS if kind in found.kinds)
    reason = f" ({found.reason})" if found.reason else ""
    return f"call {found.call_uid}: {kinds} since {found.created_at}{reason}"


async def _open_calls(args: argparse.Namespace) -> tuple[Database, CallRestrictionActions,
                                                         CallRestrictionRepository, int]:
    settings = load_config(Path(args.config) if getattr(args, "config", None) else None)
    db = await open_store(settings.store)
    try:
        org = await OrgRepository(db).get_by_slug(args.org)
    except NotFound:
        await db.close()
        raise
    repo = CallRestrictionRepository(db)
    return db, CallRestrictionActions(repo, AuditWriter(AuditRepo(db))), repo, org.id


def cmd_restrict(args: argparse.Namespace) -> int:
    if (problem := _one_target(args)) is not None:
        return _fail(problem, 2)
    if args.call is not None:
        return _restrict_call(args)
    try:
        kinds = parse_kinds(args.what)
    except ValueError as exc:
        return _fail(str(exc), 2)

    async def main() -> str:
        db, actions, _, org_id = await _open(args)
        try:
            found = await actions.restrict(org_id, args.number, kinds, args.reason, Actor.cli())
        finally:
            await db.close()
        return f"restricted: {describe(found)}"

    return _run(args, main)


def _restrict_call(args: argparse.Namespace) -> int:
    try:
        kinds = parse_call_kinds(args.what)
    except ValueError as exc:
        return _fail(str(exc), 2)

    async def main() -> str:
        db, actions, _, org_id = await _open_calls(args)
        try:
            found = await actions.restrict(org_id, args.call, kinds, args.reason, Actor.cli())
        finally:
            await db.close()
        return f"restricted: {describe_call(found)}"

    return _run(args, main)


def cmd_unrestrict(args: argparse.Namespace) -> int:
    if (problem := _one_target(args)) is not None:
        return _fail(problem, 2)
    if args.call is not None:
        async def lift_call() -> str:
            db, actions, _, org_id = await _open_calls(args)
            try:
                found = await actions.lift(org_id, args.call, Actor.cli())
            finally:
                await db.close()
            return (f"lifted: {describe_call(found)}" if found is not None
                    else f"no restriction on call {args.call}")

        return _run(args, lift_call)

    async def main() -> str:
        db, actions, _, org_id = await _open(args)
        try:
            lifted = await actions.unrestrict(org_id, args.number, Actor.cli())
        finally:
            await db.close()
        return f"lifted: {args.number}" if lifted else f"no restriction on {args.number}"

    return _run(args, main)


def cmd_restrictions(args: argparse.Namespace) -> int:
    async def main() -> str:
        db, _, repo, org_id = await _open(args)
        try:
            rows = await repo.list(org_id)
            calls = await CallRestrictionRepository(db).list(org_id)
        finally:
            await db.close()
        lines = [describe(row) for row in rows] or ["no restricted callers"]
        return "\n".join([*lines, *(describe_call(row) for row in calls)])

    return _run(args, main)


def _run(args: argparse.Namespace, main: Any) -> int:
    try:
        line = asyncio.run(main())
    except NotFound as exc:
        return _fail(f"{exc} (org {args.org!r})")
    except ValueError as exc:
        return _fail(str(exc), 2)
    print(line)
    return 0
