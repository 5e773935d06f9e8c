"""``callwright privacy ...``: retention, a caller's export and erasure, encrypted recordings.

    callwright privacy retention run [--dry-run]
    callwright privacy hold set|lift (--call UID | --number NUMBER) --org acme [--reason TEXT]
    callwright privacy restrict NUMBER --org acme --what record,transcribe,store,object
    callwright privacy unrestrict NUMBER --org acme
    callwright privacy export --org acme --caller +15551234567 --out ./exports
    callwright privacy erase --org acme --caller +15551234567 --yes
    callwright privacy decrypt-recording var/recordings/2027/03/01/x.wav.cwenc --out x.wav
    callwright privacy rotate-key [--org acme] [--reencrypt | --resume]
    callwright privacy rotate-key --master

Each handler loads the settings, opens the store (applying pending migrations) and, where it
needs it, the instance master key. Actions are written to the audit log with actor ``cli``
(the retention run with actor ``system``, as when the call service runs it).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from callwright.config import Settings, load_config
from callwright.errors import CallwrightError, NotFound
from callwright.privacy.caller_data import erase_caller, export_caller
from callwright.privacy.key_rotation import (
    BATCH,
    reencrypt_org,
    rotate_master_key,
    rotate_org_key,
)
from callwright.privacy.keyring import Keyring
from callwright.privacy.recording_crypto import RecordingCryptoError, decrypt_to
from callwright.privacy.retention_job import RetentionJob
from callwright.privacy.secrets import MasterKey
from callwright.store.audit import AuditRepo
from callwright.store.db import Database, open_store
from callwright.store.orgs import OrgRepository
from cli.privacy_holds import add_hold_parser, cmd_retention_dry_run
from cli.privacy_restrictions import add_restriction_parsers


def add_privacy_parser(subparsers: Any) -> None:
    """Register ``privacy ...`` on the main CLI's sub-parsers."""
    privacy = subparsers.add_parser(
        "privacy", help="retention, caller export and erasure, encrypted recordings"
    )
    sub = privacy.add_subparsers(dest="privacy_command", required=True)

    retention = sub.add_parser("retention", help="retention policies")
    retention_sub = retention.add_subparsers(dest="retention_command", required=True)
    run = retention_sub.add_parser("run", help="delete what the retention policies expire, now")
    run.add_argument("--dry-run", action="store_true",
                     help="only report what the run would delete, per org")
    run.set_defaults(func=cmd_retention_run)
    add_hold_parser(sub)
    add_restriction_parsers(sub)

    export = sub.add_parser("export", help="write a ZIP of a caller's data in one org")
    _caller_arguments(export)
    export.add_argument("--out", required=True, metavar="DIR", help="folder for the ZIP")
    export.set_defaults(func=cmd_export)

    erase = sub.add_parser("erase", help="erase a caller's data in one org (not undoable)")
    _caller_arguments(erase)
    erase.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")
    erase.set_defaults(func=cmd_erase)

    decrypt = sub.add_parser("decrypt-recording", help="decrypt a .cwenc recording to a WAV")
    decrypt.add_argument("path", metavar="PATH")
    decrypt.add_argument("--out", required=True, metavar="FILE")
    decrypt.set_defaults(func=cmd_decrypt_recording)

    rotate = sub.add_parser(
        "rotate-key",
        help="new data keys for new data (every org, or one); optionally re-encrypt old data",
        description="Make a new data key for each org (or --org SLUG): new credentials and "
        "recordings use it, old ones stay readable with the retired key. --reencrypt then "
        "rewrites old credentials and recordings with the new key, a file at a time, alongside "
        "a running service; --resume does only that (after an interrupted --reencrypt). "
        "--master replaces the master key file and re-wraps every data key (stop the service "
        "and the admin first).",
    )
    rotate.add_argument("--org", metavar="SLUG", help="only this org")
    rotate.add_argument("--reencrypt", action="store_true",
                        help="then re-encrypt old credentials and recordings with the new key")
    rotate.add_argument("--resume", action="store_true",
                        help="no new key: re-encrypt what older keys still seal")
    rotate.add_argument("--master", action="store_true",
                        help="rotate the master key itself (service and admin stopped)")
    rotate.add_argument("--batch", type=int, default=BATCH, metavar="N",
                        help=f"rows or files per batch (default {BATCH})")
    rotate.add_argument("--pause", type=float, default=0.05, metavar="SECONDS",
                        help="pause between batches, leaving the disk to calls (default 0.05)")
    rotate.set_defaults(func=cmd_rotate_key)


def _caller_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--org", required=True, metavar="SLUG", help="the org's slug")
    parser.add_argument("--caller", required=True, metavar="NUMBER", help="the caller's number")


def _settings(args: argparse.Namespace) -> Settings:
    return load_config(Path(args.config) if getattr(args, "config", None) else None)


def _fail(message: str, code: int = 1) -> int:
    print(f"callwright privacy: {message}", file=sys.stderr)
    return code


async def _org_id(db: Database, slug: str) -> int | None:
    try:
        return (await OrgRepository(db).get_by_slug(slug)).id
    except NotFound:
        return None


# -- handlers -------------------------------------------------------------------------------------


def cmd_retention_run(args: argparse.Namespace) -> int:
    if getattr(args, "dry_run", False):
        return cmd_retention_dry_run(args)
    settings = _settings(args)

    async def main() -> list[str]:
        db = await open_store(settings.store)
        try:
            slugs = {org.id: org.slug for org in await OrgRepository(db).list()}
            report = await RetentionJob(db).run_once()
        finally:
            await db.close()
        lines = []
        for counts in report.orgs:
            name = slugs.get(counts.org_id, "?") if counts.org_id is not None else "(no org)"
            lines.append(
                f"{name}: {counts.calls_deleted} call(s), {counts.transcripts_deleted}"
                f" transcript(s), {counts.recordings_deleted} recording(s) deleted;"
                f" {counts.held} on legal hold; {counts.files_failed} file(s) could not be"
                " deleted"
            )
        return lines

    for line in asyncio.run(main()):
        print(line)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    settings = _settings(args)
    key = MasterKey.load_or_create(settings.server.master_key_file)

    async def main() -> Path | None:
        db = await open_store(settings.store)
        try:
            org_id = await _org_id(db, args.org)
            if org_id is None:
                return None
            return await export_caller(db, org_id, args.caller, Path(args.out), key)
        finally:
            await db.close()

    path = asyncio.run(main())
    if path is None:
        return _fail(f"no org with slug {args.org!r}")
    print(f"exported to {path}")
    return 0


def cmd_erase(args: argparse.Namespace) -> int:
    if not args.yes:
        return _fail(
            "erasure deletes the caller's recordings, transcripts, events and notes in this org"
            " and cannot be undone; add --yes to go ahead", 2,
        )
    settings = _settings(args)
    key = MasterKey.load_or_create(settings.server.master_key_file)

    async def main() -> list[str] | None:
        db = await open_store(settings.store)
        try:
            org_id = await _org_id(db, args.org)
            if org_id is None:
                return None
            report = await erase_caller(db, org_id, args.caller, key)
        finally:
            await db.close()
        lines = [
            f"erased: {report.calls_anonymised} call(s) anonymised, {report.recordings_deleted}"
            f" recording(s), {report.turns_deleted} turn(s), {report.events_deleted} event(s),"
            f" {report.notes_deleted} note(s) deleted; processing restricted from now on",
        ]
        if report.held_calls:
            lines.append(f"kept (legal hold): {', '.join(report.held_calls)}")
        if not report.wal_truncated:
            lines.append("warning: the database's WAL could not be truncated; run the command"
                         " again when the service is idle")
        return lines

    lines = asyncio.run(main())
    if lines is None:
        return _fail(f"no org with slug {args.org!r}")
    for line in lines:
        print(line)
    return 0


def cmd_decrypt_recording(args: argparse.Namespace) -> int:
    settings = _settings(args)
    out = Path(args.out)
    if out.exists():
        return _fail(f"{out} exists; choose another --out")
    key = MasterKey.load_or_create(settings.server.master_key_file)

    async def main() -> None:
        db = await open_store(settings.store)
        try:
            keys = await Keyring(db, key).resolver()
        finally:
            await db.close()
        await asyncio.to_thread(decrypt_to, Path(args.path), out, keys)

    try:
        asyncio.run(main())
    except (OSError, RecordingCryptoError) as exc:
        return _fail(f"cannot decrypt {args.path}: {exc}")
    print(f"decrypted to {out}")
    return 0


def cmd_rotate_key(args: argparse.Namespace) -> int:
    if args.master and (args.org or args.reencrypt or args.resume):
        return _fail("--master rotates the master key alone; run it without --org, --reencrypt"
                     " and --resume", 2)
    if args.reencrypt and args.resume:
        return _fail("--reencrypt and --resume: choose one", 2)
    if args.batch < 1 or args.pause < 0:
        return _fail("--batch must be at least 1 and --pause not negative", 2)
    settings = _settings(args)
    key_file = Path(settings.server.master_key_file)
    key = MasterKey.load_or_create(key_file)

    async def main() -> list[str] | None:
        db = await open_store(settings.store)
        try:
            audit = AuditRepo(db)
            if args.master:
                new = await rotate_master_key(db, key, key_file)
                await audit.append(org_id=None, user_id=None, actor="cli",
                                   action="master_key.rotate", target="instance",
                                   detail={"old": key.key_id, "new": new.key_id})
                return [f"master key {key.key_id} replaced by {new.key_id} in {key_file};"
                        " every data key re-wrapped"]
            orgs = await OrgRepository(db).list()
            if args.org:
                orgs = [org for org in orgs if org.slug == args.org]
                if not orgs:
                    return None
            keyring = Keyring(db, key)
            lines = []
            for org in orgs:
                if not args.resume:
                    old, new_id = await rotate_org_key(keyring, org.id)
                    await audit.append(org_id=org.id, user_id=None, actor="cli",
                                       action="key.rotate", target=f"org:{org.id}",
                                       detail={"retired": old, "current": new_id})
                    lines.append(f"{org.slug}: new data key {new_id}"
                                 + (f" (retired {old})" if old else ""))
                if args.reencrypt or args.resume:
                    report = await reencrypt_org(db, keyring, Path(settings.recordings.dir),
                                                 org.id, batch=args.batch, pause_s=args.pause)
                    await audit.append(org_id=org.id, user_id=None, actor="cli",
                                       action="key.reencrypt", target=f"org:{org.id}",
                                       detail={"credentials": report.credentials,
                                               "recordings": report.recordings,
                                               "failed": len(report.failed)})
                    lines.append(f"{org.slug}: re-encrypted {report.credentials} credential(s)"
                                 f" and {report.recordings} recording(s)")
                    lines.extend(f"{org.slug}: not re-encrypted: {why}" for why in report.failed)
            return lines
        finally:
            await db.close()

    try:
        lines = asyncio.run(main())
    except CallwrightError as exc:
        return _fail(str(exc))
    if lines is None:
        return _fail(f"no org with slug {args.org!r}")
    for line in lines:
        print(line)
    return 0
