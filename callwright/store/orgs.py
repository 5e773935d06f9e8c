"""Organisations: a brand or tenant. Every other row in the store belongs to one."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from callwright.errors import NotFound, StoreError
from callwright.store.clock import utc_now_iso
from callwright.store.db import Database
from callwright.store.engine import Row

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_COLUMNS = ("id, name, slug, require_totp, encrypt_recordings, created_at, consent_prompt,"
            " privacy_notice")
#: The longest consent prompt or privacy notice an org may set (both are spoken on calls).
MAX_NOTICE = 2000


class SlugTaken(StoreError):
    """Another org already uses this slug."""


@dataclass(frozen=True, slots=True)
class Org:
    id: int
    name: str
    slug: str
    require_totp: bool
    encrypt_recordings: bool
    created_at: str
    #: The notice a recorded call opens with when its assistant has none (migration 0020).
    consent_prompt: str = ""
    #: Said on the privacy-notice key ([recordings] notice_digit); "" for none.
    privacy_notice: str = ""


def org_from_row(row: Row) -> Org:
    return Org(
        id=int(row["id"]),
        name=str(row["name"]),
        slug=str(row["slug"]),
        require_totp=bool(row["require_totp"]),
        encrypt_recordings=bool(row["encrypt_recordings"]),
        created_at=str(row["created_at"]),
        consent_prompt=str(row["consent_prompt"]),
        privacy_notice=str(row["privacy_notice"]),
    )


def check_slug(slug: str) -> str:
    """Return ``slug`` if it is 1-64 lowercase letters, digits and inner hyphens, else raise."""
    if not _SLUG.match(slug):
        raise ValueError(
            f"invalid org slug {slug!r}: use 1-64 lowercase letters, digits and hyphens, "
            "starting and ending with a letter or digit"
        )
    return slug


class OrgRepository:
    def __init__(self, db: Database, now: Callable[[], str] = utc_now_iso) -> None:
        self._db = db
        self._now = now

    async def create(
        self, name: str, slug: str, *, require_totp: bool = False, encrypt_recordings: bool = True
    ) -> Org:
        """Create an org. Raises ValueError for a bad name or slug, SlugTaken for a used slug.

        A new org encrypts its recordings at rest unless told otherwise (orgs made before this
        default keep their setting)."""
        name = name.strip()
        if not name:
            raise ValueError("an org needs a name")
        check_slug(slug)
        try:
            org_id = await self._db.execute(
                "INSERT INTO orgs (name, slug, require_totp, encrypt_recordings, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (name, slug, int(require_totp), int(encrypt_recordings), self._now()),
            )
        except StoreError as exc:
            if isinstance(exc.__cause__, sqlite3.IntegrityError):
                raise SlugTaken(f"an org with slug {slug!r} already exists") from exc
            raise
        return await self.get(org_id)

    async def get(self, org_id: int) -> Org:
        row = await self._db.fetch_one(f"SELECT {_COLUMNS} FROM orgs WHERE id = ?", (org_id,))
        if row is None:
            raise NotFound(f"org {org_id} not found")
        return org_from_row(row)

    async def get_by_slug(self, slug: str) -> Org:
        row = await self._db.fetch_one(f"SELECT {_COLUMNS} FROM orgs WHERE slug = ?", (slug,))
        if row is None:
            raise NotFound(f"org {slug!r} not found")
        return org_from_row(row)

    async def list(self) -> list[Org]:
        rows = await self._db.fetch_all(f"SELECT {_COLUMNS} FROM orgs ORDER BY name, id")
        return [org_from_row(row) for row in rows]

    async def update(
        self,
        org_id: int,
        *,
        name: str | None = None,
        require_totp: bool | None = None,
        encrypt_recordings: bool | None = None,
        consent_prompt: str | None = None,
        privacy_notice: str | None = None,
    ) -> Org:
        """Change an org's name, flags or notices (the slug is permanent). Raises NotFound, and
        ValueError for a notice over :data:`MAX_NOTICE` characters."""
        sets: list[str] = []
        params: list[object] = []
        if name is not None:
            if not name.strip():
                raise ValueError("an org needs a name")
            sets.append("name = ?")
            params.append(name.strip())
        if require_totp is not None:
            sets.append("require_totp = ?")
            params.append(int(require_totp))
        if encrypt_recordings is not None:
            sets.append("encrypt_recordings = ?")
            params.append(int(encrypt_recordings))
        for column, text in (("consent_prompt", consent_prompt),
                             ("privacy_notice", privacy_notice)):
            if text is not None:
                if len(text.strip()) > MAX_NOTICE:
                    raise ValueError(f"the {column.replace('_', ' ')} has at most {MAX_NOTICE}"
                                     " characters")
                sets.append(f"{column} = ?")
                params.append(text.strip())
        if sets:
            changed = await self._db.execute_rowcount(
                f"UPDATE orgs SET {', '.join(sets)} WHERE id = ?", (*params, org_id)
            )
            if changed == 0:
                raise NotFound(f"org {org_id} not found")
        return await self.get(org_id)
