"""``callwright campaign ...``: campaigns from the command line.

    callwright campaign create --assistant 3 --name "Flu shots" --csv contacts.csv \\
        --per-minute 20 --max-concurrent 5 --attempts 3 --retry-minutes 30 \\
        --window 09:00-19:00 --days 1,2,3,4,5 [--timezone Europe/Paris] [--from +15550111]
    callwright campaign start|pause|resume|cancel ID
    callwright campaign status ID
    callwright campaign export ID [--out results.csv]
    callwright campaign dial --once

The CSV has a ``number`` column and any others as variables (``first_name`` fills
``{first_name}``); bad lines are listed by line number and the campaign is not created unless
``--skip-bad-lines``. A running call service (``callwright serve``) dials the running campaigns
(one node at a time); ``dial --once`` runs one pass of the dialler from here instead (it only
queues calls: a call service places them).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from callwright.campaigns.contacts_csv import parse_contacts
from callwright.campaigns.dialler import CampaignDialler
from callwright.campaigns.export import contacts_csv
from callwright.config import Settings, load_config
from callwright.errors import NotFound
from callwright.outbound.placing import OutboundPlacer, RestrictionsDoNotCall
from callwright.privacy.restrictions import CallerRestrictionRepository
from callwright.privacy.secrets import MasterKey
from callwright.store.assistants import AssistantRepository
from callwright.store.campaigns import ACTIONS, Campaign, CampaignRepository
from callwright.store.db import Database, open_store
from callwright.store.numbers import NumberRepository
from callwright.store.outbound_calls import OutboundCallRepository


def add_campaign_parser(sub: Any) -> None:
    campaign = sub.add_parser("campaign", help="outbound call campaigns")
    csub = campaign.add_subparsers(dest="campaign_command", required=True)
    p = csub.add_parser("create", help="create a campaign (draft) from a CSV of contacts")
    p.add_argument("--assistant", required=True, type=int, metavar="ID")
    p.add_argument("--name", required=True)
    p.add_argument("--csv", required=True, metavar="FILE", help="contacts: a 'number' column")
    p.add_argument("--from", dest="from_number", default="", metavar="NUMBER")
    p.add_argument("--endpoint", default="", metavar="TEMPLATE")
    p.add_argument("--max-concurrent", type=int, default=5)
    p.add_argument("--per-minute", type=int, default=10, help="calls started per minute")
    p.add_argument("--attempts", type=int, default=3, help="attempts per contact")
    p.add_argument("--retry-minutes", type=int, default=30, help="first retry after (doubles)")
    p.add_argument("--window", default="09:00-20:00", metavar="HH:MM-HH:MM",
                   help="local time of the callee")
    p.add_argument("--days", default="1,2,3,4,5", help="ISO weekdays (1 = Monday)")
    p.add_argument("--timezone", default="", help="IANA zone for every contact")
    p.add_argument("--skip-bad-lines", action="store_true",
                   help="create it with the good lines when some are bad")
    p.set_defaults(func=cmd_create)
    for action in ACTIONS:
        p = csub.add_parser(action, help=f"{action} a campaign")
        p.add_argument("id", type=int)
        p.set_defaults(func=cmd_change, action=action)
    p = csub.add_parser("status", help="progress and outcomes")
    p.add_argument("id", type=int)
    p.set_defaults(func=cmd_status)
    p = csub.add_parser("export", help="results per contact as CSV")
    p.add_argument("id", type=int)
    p.add_argument("--out", metavar="FILE", help="write here instead of standard output")
    p.set_defaults(func=cmd_export)
    p = csub.add_parser("dial", help="run the campaign dialler (one pass with --once)")
    p.add_argument("--once", action="store_true", required=True)
    p.set_defaults(func=cmd_dial)


def _settings(args: argparse.Namespace) -> Settings:
    config = getattr(args, "config", None)
    return load_config(Path(config) if config else None)


def _fail(message: str, code: int = 2) -> int:
    print(f"callwright campaign: {message}", file=sys.stderr)
    return code


def cmd_create(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        data = Path(args.csv).read_bytes()
    except OSError as exc:
        return _fail(f"cannot read {args.csv}: {exc.strerror}")
    parsed = parse_contacts(data)
    for error in parsed.errors:
        print(f"{args.csv}: {error}", file=sys.stderr)
    if parsed.errors and not args.skip_bad_lines:
        return _fail(f"{len(parsed.errors)} bad line(s): nothing created")
    start, sep, end = args.window.partition("-")
    if not sep:
        return _fail("--window: HH:MM-HH:MM")

    async def main() -> int:
        db = await open_store(settings.store)
        try:
            org_id = await db.fetch_value("SELECT org_id FROM assistants WHERE id = ?",
                                          (args.assistant,))
            if org_id is None:
                return _fail(f"no assistant {args.assistant}")
            try:
                made = await CampaignRepository(db).create(Campaign(
                    0, int(org_id), args.name, args.assistant, from_number=args.from_number,
                    endpoint=args.endpoint, max_concurrent=args.max_concurrent,
                    calls_per_minute=args.per_minute, max_attempts=args.attempts,
                    retry_minutes=args.retry_minutes, window_start=start, window_end=end,
                    window_days=args.days, timezone=args.timezone), parsed.contacts)
            except ValueError as exc:
                return _fail(str(exc))
            print(f"campaign {made.id} created (draft) with {len(parsed.contacts)} contact(s);"
                  f" start it with: callwright campaign start {made.id}")
            return 0
        finally:
            await db.close()

    return asyncio.run(main())


async def _with_campaign(args: argparse.Namespace) -> tuple[Database, Campaign] | int:
    db = await open_store(_settings(args).store)
    try:
        return db, await CampaignRepository(db).get(args.id)
    except NotFound as exc:
        await db.close()
        return _fail(str(exc))


def cmd_change(args: argparse.Namespace) -> int:
    async def main() -> int:
        found = await _with_campaign(args)
        if isinstance(found, int):
            return found
        db, campaign = found
        try:
            changed = await CampaignRepository(db).change(campaign.org_id, campaign.id,
                                                          args.action)
        except ValueError as exc:
            return _fail(str(exc))
        finally:
            await db.close()
        print(f"campaign {changed.id}: {changed.status}")
        return 0

    return asyncio.run(main())


def cmd_status(args: argparse.Namespace) -> int:
    async def main() -> int:
        found = await _with_campaign(args)
        if isinstance(found, int):
            return found
        db, c = found
        try:
            counts = await CampaignRepository(db).counts(c.id)
        finally:
            await db.close()
        total = sum(v for k, v in counts.items() if ":" not in k)
        print(f"campaign {c.id} {c.name!r}: {c.status}, {total} contact(s)")
        print("  " + ", ".join(f"{k} {v}" for k, v in counts.items() if ":" not in k))
        outcomes = {k[8:]: v for k, v in counts.items() if k.startswith("outcome:")}
        if outcomes:
            print("  last outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
        return 0

    return asyncio.run(main())


def cmd_export(args: argparse.Namespace) -> int:
    async def main() -> str | int:
        found = await _with_campaign(args)
        if isinstance(found, int):
            return found
        db, c = found
        try:
            return contacts_csv(await CampaignRepository(db).contacts(c.id))
        finally:
            await db.close()

    text = asyncio.run(main())
    if isinstance(text, int):
        return text
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def cmd_dial(args: argparse.Namespace) -> int:
    settings = _settings(args)

    async def main() -> int:
        db = await open_store(settings.store)
        try:
            master_key = await asyncio.to_thread(
                MasterKey.load_or_create, settings.server.master_key_file)
            outbound = OutboundCallRepository(db)
            placer = OutboundPlacer(AssistantRepository(db), NumberRepository(db), outbound,
                                    RestrictionsDoNotCall(CallerRestrictionRepository(
                                        db, master_key)))
            report = await CampaignDialler(CampaignRepository(db), outbound, placer).tick()
        finally:
            await db.close()
        print(f"queued {report.queued}, settled {report.settled}, skipped {report.skipped},"
              f" completed {len(report.completed)}")
        return 0

    return asyncio.run(main())
