"""``callwright user add|disable|enable`` and ``callwright org add``: how the first owner comes to
exist, and how whoever runs the machine shuts an account out of every org.

There are no default credentials: an instance has no user until someone with access to the machine
runs ``callwright org add "Acme" --slug acme`` and then
``callwright user add alice@example.com --org acme --role owner`` (the password is asked twice on
the terminal, or read from standard input with ``--password-stdin``).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from callwright.accounts.audit import Actor, AuditWriter
from callwright.accounts.directory import Directory, TeamError
from callwright.accounts.own_data import export_audited
from callwright.accounts.passwords import PasswordPolicyError, Passwords, check_policy
from callwright.accounts.roles import Role
from callwright.accounts.sessions import SessionManager
from callwright.config import load_config
from callwright.errors import CallwrightError, NotFound
from callwright.store.audit import AuditRepo
from callwright.store.db import Database, store_target
from callwright.store.orgs import OrgRepository, SlugTaken
from callwright.store.tokens import SessionRepo, TokenRepo
from callwright.store.users import UserRepo


def add_user_parser(subparsers: Any) -> None:
    """Register ``user add`` and ``org add`` on the main CLI's sub-parsers."""
    user = subparsers.add_parser("user", help="admin users")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="create a user (or add an existing one) in an org")
    add.add_argument("email")
    add.add_argument("--org", required=True, metavar="SLUG", help="the org's slug")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input (for scripts)",
    )
    add.set_defaults(func=cmd_user_add)
    for verb, help_text in (
        ("disable", "disable an account in every org: it cannot sign in, its sessions end and"
         " its API tokens are revoked"),
        ("enable", "enable a disabled account again (revoked tokens stay revoked)"),
    ):
        switch = user_sub.add_parser(verb, help=help_text)
        switch.add_argument("email")
        switch.set_defaults(func=cmd_user_switch, disabled=verb == "disable")
    export = user_sub.add_parser(
        "export", help="print an account's own data as JSON (account, memberships, sessions,"
        " API tokens, its audit entries, its notes); audited")
    export.add_argument("email")
    export.add_argument("--output", "-o", metavar="FILE",
                        help="write to FILE (created, not replaced) instead of standard output")
    export.set_defaults(func=cmd_user_export)

    org = subparsers.add_parser("org", help="organisations")
    org_sub = org.add_subparsers(dest="org_command", required=True)
    org_add = org_sub.add_parser("add", help="create an org")
    org_add.add_argument("name")
    org_add.add_argument("--slug", required=True, help="short id: lowercase letters, digits, -")
    org_add.set_defaults(func=cmd_org_add)


def _db_path(args: argparse.Namespace) -> Path | str:
    """The store the configuration names: its PostgreSQL URL, or its SQLite file."""
    config = getattr(args, "config", None)
    store = load_config(Path(config) if config else None).store
    return store_target(store.path, store.url)


def read_password(from_stdin: bool, stdin: TextIO, ask: Any = getpass.getpass) -> str:
    """The new user's password, from standard input or asked twice on the terminal."""
    if from_stdin:
        password = stdin.readline().rstrip("\r\n")
    else:
        password = ask("Password for the new user: ")
        if ask("Repeat it: ") != password:
            raise TeamError("the two passwords differ")
    check_policy(password)
    return password


async def add_user(
    db: Database,
    email: str,
    org_slug: str,
    role: Role,
    password: str | None,
    passwords: Passwords | None = None,
) -> tuple[int, bool]:
    """Add ``email`` to the org with ``role`` (creating the user); (user id, account created)."""
    org = await OrgRepository(db).get_by_slug(org_slug)
    directory = directory_for(db, passwords)
    added = await directory.add_member(Actor.cli(), None, org.id, email, role, password)
    return added.user_id, added.created_user


def cmd_user_add(args: argparse.Namespace, stdin: TextIO | None = None) -> int:
    stdin = stdin or sys.stdin

    async def run() -> int:
        db = await Database.open(_db_path(args))
        try:
            users = UserRepo(db)
            existing = await users.by_email(args.email)
            password = None
            if existing is None:
                password = read_password(args.password_stdin, stdin)
            user_id, created = await add_user(db, args.email, args.org, Role(args.role), password)
        finally:
            await db.close()
        what = "created user" if created else "added existing user"
        print(f"{what} {args.email} (id {user_id}) to org {args.org} as {args.role}")
        return 0

    try:
        return asyncio.run(run())
    except NotFound:
        print(
            f"callwright: no org with slug {args.org!r}; create it with `callwright org add`",
            file=sys.stderr,
        )
    except (TeamError, PasswordPolicyError) as exc:
        print(f"callwright: {exc}", file=sys.stderr)
    except CallwrightError as exc:
        print(f"callwright: {exc}", file=sys.stderr)
    return 1


def directory_for(db: Database, passwords: Passwords | None = None) -> Directory:
    """The team directory of the store, as the CLI uses it (acting as ``Actor.cli()``)."""
    return Directory(
        UserRepo(db),
        passwords or Passwords(),
        SessionManager(SessionRepo(db)),
        AuditWriter(AuditRepo(db)),
        TokenRepo(db),
    )


def cmd_user_switch(args: argparse.Namespace) -> int:
    """``user disable EMAIL`` / ``user enable EMAIL``."""

    async def run() -> int:
        db = await Database.open(_db_path(args))
        try:
            user = await UserRepo(db).by_email(args.email)
            if user is None:
                raise TeamError(f"no account {args.email!r}")
            changed = await directory_for(db).set_account_disabled(
                Actor.cli(), user.id, args.disabled
            )
        finally:
            await db.close()
        state = "disabled" if args.disabled else "enabled"
        print(f"{args.email}: {state}" if changed else f"{args.email} was already {state}")
        return 0

    try:
        return asyncio.run(run())
    except CallwrightError as exc:
        print(f"callwright: {exc}", file=sys.stderr)
    return 1


def cmd_user_export(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    """``user export EMAIL [--output FILE]``: the account's own data as JSON, audited."""
    out = stdout or sys.stdout

    async def run() -> dict[str, Any]:
        db = await Database.open(_db_path(args))
        try:
            user = await UserRepo(db).by_email(args.email)
            if user is None:
                raise TeamError(f"no account {args.email!r}")
            return await export_audited(db, AuditWriter(AuditRepo(db)), Actor.cli(), user.id,
                                        None)
        finally:
            await db.close()

    try:
        text = json.dumps(asyncio.run(run()), ensure_ascii=False, indent=1) + "\n"
        if args.output:
            with open(args.output, "x", encoding="utf-8") as file:
                file.write(text)
            print(f"wrote {args.email}'s data to {args.output}", file=sys.stderr)
        else:
            out.write(text)
        return 0
    except OSError as exc:
        print(f"callwright: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
    except CallwrightError as exc:
        print(f"callwright: {exc}", file=sys.stderr)
    return 1


def cmd_org_add(args: argparse.Namespace) -> int:
    async def run() -> int:
        db = await Database.open(_db_path(args))
        try:
            org = await OrgRepository(db).create(args.name, args.slug)
            await AuditWriter(AuditRepo(db)).record(
                Actor.cli(),
                "org.create",
                org_id=org.id,
                target=f"org:{org.id}",
                detail={"name": org.name, "slug": org.slug},
            )
        finally:
            await db.close()
        print(f"created org {org.name!r} with slug {org.slug} (id {org.id})")
        return 0

    try:
        return asyncio.run(run())
    except (SlugTaken, ValueError, CallwrightError) as exc:
        print(f"callwright: {exc}", file=sys.stderr)
    return 1
