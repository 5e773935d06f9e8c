"""An org's post-call event endpoints (table ``webhooks``, migrations 0001 and 0014).

An endpoint is a name, a target type (``webhook``: signed JSON; ``slack``: a Slack incoming
webhook), the ``webhook_url`` credential that holds its URL (a URL often carries a token, so it is
sealed and write-only like every credential), the event types it subscribes to, and a signing
secret made here, sealed with the master key (bound to the org and endpoint name) and shown once,
when the endpoint is created or its secret is rolled.
"""

from __future__ import annotations

import builtins
import json
import secrets
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from callwright.errors import NotFound, StoreError
from callwright.privacy.secrets import DecryptionFailed, MasterKey
from callwright.store.clock import utc_now_iso
from callwright.store.db import Database
from callwright.store.engine import Row

#: The events an endpoint may subscribe to.
EVENT_TYPES = (
    "call.started", "call.ended", "message.taken", "recording.ready", "security.alert",
)
TARGETS = ("webhook", "slack")
SECRET_PREFIX = "whsec_"
_COLUMNS = (
    "w.id, w.org_id, w.name, w.target, w.enabled, w.events, w.created_at,"
    " c.name AS credential_name"
)
_FROM = "webhooks w JOIN credentials c ON c.id = w.url_credential_id"


class EndpointExists(StoreError):
    """The org already has an endpoint with this name."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An endpoint's public face (never its secret nor its URL)."""

    id: int
    org_id: int
    name: str
    target: str
    enabled: bool
    events: tuple[str, ...]
    credential_name: str
    created_at: str


def secret_aad(org_id: int, name: str) -> bytes:
    """The associated data that ties a sealed signing secret to its org and endpoint."""
    return f"callwright/webhook-secret/v1\x00{org_id}\x00{name}".encode()


def check_events(events: Sequence[str]) -> tuple[str, ...]:
    """The events in canonical order; ValueError for an unknown one or none at all."""
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise ValueError(f"unknown event {unknown[0]!r}: one of {', '.join(EVENT_TYPES)}")
    if not events:
        raise ValueError("an endpoint subscribes to at least one event")
    return tuple(e for e in EVENT_TYPES if e in events)


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100 or any(ord(ch) < 32 for ch in name):
        raise ValueError("an endpoint name is 1-100 printable characters")
    return name


def _from_row(row: Row) -> Endpoint:
    try:
        events = json.loads(row["events"])
    except ValueError:
        events = []
    return Endpoint(
        id=int(row["id"]), org_id=int(row["org_id"]), name=str(row["name"]),
        target=str(row["target"]), enabled=bool(row["enabled"]),
        events=tuple(e for e in events if isinstance(e, str)),
        credential_name=str(row["credential_name"]), created_at=str(row["created_at"]),
    )


class EndpointRepository:
    def __init__(
        self, db: Database, master_key: MasterKey, now: Callable[[], str] = utc_now_iso
    ) -> None:
        self._db = db
        self._key = master_key
        self._now = now

    async def create(
        self, org_id: int, name: str, *, target: str, credential_name: str,
        events: Sequence[str], enabled: bool = True,
    ) -> tuple[Endpoint, str]:
        """A new endpoint and its signing secret (the only time it is returned). Raises
        ValueError (bad field), NotFound (no such ``webhook_url`` credential), EndpointExists."""
        name = _check_name(name)
        if target not in TARGETS:
            raise ValueError(f"an endpoint target is one of {', '.join(TARGETS)}")
        subscribed = check_events(events)
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        try:
            async with self._db.transaction() as conn:
                async with conn.execute(
                    "SELECT id, kind FROM credentials WHERE org_id = ? AND name = ?",
                    (org_id, credential_name),
                ) as cur:
                    credential = await cur.fetchone()
                if credential is None or credential["kind"] != "webhook_url":
                    raise NotFound(f"no webhook_url credential named {credential_name!r}")
                await conn.execute(
                    "INSERT INTO webhooks (org_id, url_credential_id, events, signing_secret_enc,"
                    " created_at, name, target, enabled, secret_key_id)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (org_id, credential["id"], json.dumps(list(subscribed)),
                     self._key.encrypt(secret.encode(), secret_aad(org_id, name)), self._now(),
                     name, target, int(enabled), self._key.key_id),
                )
        except sqlite3.IntegrityError as exc:
            raise EndpointExists(f"an endpoint named {name!r} already exists") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"cannot store endpoint: {exc}") from exc
        return await self.get_by_name(org_id, name), secret

    async def update(
        self, org_id: int, endpoint_id: int, *, events: Sequence[str] | None = None,
        enabled: bool | None = None, credential_name: str | None = None,
    ) -> Endpoint:
        """Change the given fields (None: leave as is). Raises NotFound, ValueError."""
        current = await self.get(org_id, endpoint_id)
        subscribed = check_events(events) if events is not None else current.events
        credential_id: int | None = None
        if credential_name is not None:
            row = await self._db.fetch_one(
                "SELECT id FROM credentials WHERE org_id = ? AND name = ? AND kind = 'webhook_url'",
                (org_id, credential_name),
            )
            if row is None:
                raise NotFound(f"no webhook_url credential named {credential_name!r}")
            credential_id = int(row["id"])
        await self._db.execute(
            "UPDATE webhooks SET events = ?, enabled = COALESCE(?, enabled),"
            " url_credential_id = COALESCE(?, url_credential_id) WHERE org_id = ? AND id = ?",
            (json.dumps(list(subscribed)), None if enabled is None else int(enabled),
             credential_id, org_id, endpoint_id),
        )
        return await self.get(org_id, endpoint_id)

    async def roll_secret(self, org_id: int, endpoint_id: int) -> str:
        """A new signing secret for the endpoint (returned once); the old one stops at once."""
        current = await self.get(org_id, endpoint_id)
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        await self._db.execute(
            "UPDATE webhooks SET signing_secret_enc = ?, secret_key_id = ?"
            " WHERE org_id = ? AND id = ?",
            (self._key.encrypt(secret.encode(), secret_aad(org_id, current.name)),
             self._key.key_id, org_id, endpoint_id),
        )
        return secret

    async def delete(self, org_id: int, endpoint_id: int) -> bool:
        """Delete the endpoint and its delivery log."""
        changed = await self._db.execute_rowcount(
            "DELETE FROM webhooks WHERE org_id = ? AND id = ?", (org_id, endpoint_id)
        )
        return changed > 0

    async def get(self, org_id: int, endpoint_id: int) -> Endpoint:
        row = await self._db.fetch_one(
            f"SELECT {_COLUMNS} FROM {_FROM} WHERE w.org_id = ? AND w.id = ?",
            (org_id, endpoint_id),
        )
        if row is None:
            raise NotFound(f"endpoint {endpoint_id} not found")
        return _from_row(row)

    async def get_by_name(self, org_id: int, name: str) -> Endpoint:
        row = await self._db.fetch_one(
            f"SELECT {_COLUMNS} FROM {_FROM} WHERE w.org_id = ? AND w.name = ?", (org_id, name)
        )
        if row is None:
            raise NotFound(f"endpoint {name!r} not found")
        return _from_row(row)

    async def list(self, org_id: int) -> list[Endpoint]:
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM {_FROM} WHERE w.org_id = ? ORDER BY w.name", (org_id,)
        )
        return [_from_row(row) for row in rows]

    async def subscribed(self, org_id: int, event: str) -> builtins.list[Endpoint]:
        """The org's enabled endpoints that subscribe to ``event``."""
        return [e for e in await self.list(org_id) if e.enabled and event in e.events]

    async def signing_secret(self, org_id: int, endpoint_id: int) -> bytes:
        """The endpoint's signing secret (the delivery worker only; never log it)."""
        row = await self._db.fetch_one(
            "SELECT name, signing_secret_enc, secret_key_id FROM webhooks"
            " WHERE org_id = ? AND id = ?",
            (org_id, endpoint_id),
        )
        if row is None:
            raise NotFound(f"endpoint {endpoint_id} not found")
        if row["secret_key_id"] != self._key.key_id:
            raise DecryptionFailed(
                f"endpoint {endpoint_id}'s secret was sealed with master key"
                f" {row['secret_key_id']}, the loaded key is {self._key.key_id}"
            )
        return self._key.decrypt(
            bytes(row["signing_secret_enc"]), secret_aad(org_id, str(row["name"]))
        )
