"""``callwright privacy hold ...`` and ``callwright privacy retention run --dry-run``.

    callwright privacy hold set --call 3f2a9c --org acme --reason "dispute 42"
    callwright privacy hold set --number +15551234567 --org acme --reason "litigation"
    callwright privacy hold lift --number +15551234567 --org acme
    callwright privacy hold list --org acme
    callwright privacy retention run --dry-run

A hold keeps a call, or every call of a caller number in the org (those still to come too), from
the retention job until it is lifted (:mod:`callwright.store.legal_holds`). Setting and lifting
are written to the audit log with actor ``cli``. The dry run prints what the next retention run
would delete, per org, with the oldest start date of each kind, and changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from callwright.config import load_config
from callwright.errors import NotFound
from callwright.privacy.retention_job import OrgRetentionCounts, RetentionJob
from callwright.store.audit import AuditRepo
from callwright.store.db import Database, store_target
from callwright.store.legal_holds import LegalHold, LegalHoldRepository
from callwright.store.orgs import OrgRepository


def add_hold_parser(sub: Any) -> None:
    """Register ``hold set|lift|list`` on the ``privacy`` sub-parsers."""
    hold = sub.add_parser("hold", help="legal hold on a call or a caller number")
    hold_sub = hold.add_subparsers(dest="hold_command", required=True)
    for name, func, text in (("set", cmd_hold_set, "keep a call or a number's calls"),
                             ("lift", cmd_hold_lift, "let retention apply again")):
        parser = hold_sub.add_parser(name, help=text)
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--call", metavar="UID", help="the call's id (as in its page's URL)")
        target.add_argument("--number", metavar="NUMBER", help="a caller number")
        parser.add_argument("--org", required=True, metavar="SLUG", help="the org's slug")
        if name == "set":
            parser.add_argument("--reason", default="", metavar="TEXT", help="why (audited)")
        parser.set_defaults(func=func)
    listing = hold_sub.add_parser("list", help="the org's holds")
    listing.add_argument("--org", required=True, metavar="SLUG", help="the org's slug")
    listing.set_defaults(func=cmd_hold_list)


def _store_path(args: argparse.Namespace) -> Path | str:
    """The store the configuration names: its PostgreSQL URL, or its SQLite file."""
    config = getattr(args, "config", None)
    store = load_config(Path(config) if config else None).store
    return store_target(store.path, store.url)


def _fail(message: str, code: int = 1) -> int:
    print(f"callwright privacy: {message}", file=sys.stderr)
    return code


def describe(hold: LegalHold) -> str:
    reason = f" ({hold.reason})" if hold.reason else ""
    by = f" by {hold.set_by}" if hold.set_by else ""
    return f"{hold.target}: held since {hold.created_at}{by}{reason}"


async def _change(args: argparse.Namespace, lift: bool) -> str:
    """Set or lift the hold; the line to print. Raises NotFound, ValueError."""
    db = await Database.open(_store_path(args))
    try:
        org = await OrgRepository(db).get_by_slug(args.org)
        holds = LegalHoldRepository(db)
        hold: LegalHold | None
        if lift:
            hold = await (holds.lift_call(org.id, args.call) if args.call
                          else holds.lift_number(org.id, args.number))
            if hold is None:
                return f"no hold on {_target(args)}: nothing to lift"
            changed = True
        else:
            hold, changed = await (
                holds.hold_call(org.id, args.call, args.reason, "cli") if args.call
                else holds.hold_number(org.id, args.number, args.reason, "cli"))
            if not changed:
                return f"already held: {describe(hold)}"
        await AuditRepo(db).append(
            org_id=org.id, user_id=None, actor="cli",
            action="legal_hold.lift" if lift else "legal_hold.set", target=hold.target,
            detail={"reason": hold.reason},
        )
        return f"lifted: {describe(hold)}" if lift else f"held: {describe(hold)}"
    finally:
        await db.close()


def _target(args: argparse.Namespace) -> str:
    return f"call:{args.call}" if args.call else f"number:{args.number}"


def _run_change(args: argparse.Namespace, lift: bool) -> int:
    try:
        line = asyncio.run(_change(args, lift))
    except NotFound as exc:
        return _fail(f"{exc} (org {args.org!r})")
    except ValueError as exc:
        return _fail(str(exc), 2)
    print(line)
    return 0


def cmd_hold_set(args: argparse.Namespace) -> int:
    return _run_change(args, lift=False)


def cmd_hold_lift(args: argparse.Namespace) -> int:
    return _run_change(args, lift=True)


def cmd_hold_list(args: argparse.Namespace) -> int:
    async def main() -> list[LegalHold]:
        db = await Database.open(_store_path(args))
        try:
            org = await OrgRepository(db).get_by_slug(args.org)
            return await LegalHoldRepository(db).list_holds(org.id)
        finally:
            await db.close()

    try:
        holds = asyncio.run(main())
    except NotFound:
        return _fail(f"no org with slug {args.org!r}")
    for hold in holds:
        print(describe(hold))
    if not holds:
        print("no legal holds")
    return 0


def dry_run_line(name: str, counts: OrgRetentionCounts) -> str:
    oldest = ", ".join(
        f"oldest {kind} {date[:10]}"
        for kind, date in (("call", counts.oldest_call), ("transcript", counts.oldest_transcript),
                           ("recording", counts.oldest_recording))
        if date
    )
    return (f"{name}: would delete {counts.calls_deleted} call(s) ({counts.turns_deleted}"
            f" turn(s)), {counts.transcripts_deleted} transcript(s) of kept calls,"
            f" {counts.recordings_deleted} recording(s), {counts.notes_deleted} note(s),"
            f" {counts.deliveries_deleted} webhook deliveries; {counts.held} on legal hold"
            + (f"; {oldest}" if oldest else ""))


def cmd_retention_dry_run(args: argparse.Namespace) -> int:
    async def main() -> list[str]:
        db = await Database.open(_store_path(args))
        try:
            slugs = {org.id: org.slug for org in await OrgRepository(db).list()}
            report = await RetentionJob(db).run_once(dry_run=True)
        finally:
            await db.close()
        return [dry_run_line(slugs.get(c.org_id, "?") if c.org_id is not None else "(no org)", c)
                for c in report.orgs]

    print("dry run: nothing is deleted")
    for line in asyncio.run(main()):
        print(line)
    return 0
