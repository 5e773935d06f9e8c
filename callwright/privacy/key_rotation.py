"""Key rotation: a new data key for an org, re-encryption of old data, a new master key.

* :func:`rotate_org_key`: the org's current data key is retired and a new one made; new
  credentials and recordings use it, old ones stay readable through the retired key.
* :func:`reencrypt_org`: rewrites what older keys sealed with the current key, in batches that
  never hold the store's writer for more than one row: credentials are re-sealed, each encrypted
  recording is rewritten to ``<file>.part`` and renamed over the old file (so a reader never sees
  half a file, and a crash leaves the old one whole). Resumable: what is done names the current
  key, so a second run only takes what is left.
* :func:`rotate_master_key`: a new master key file; every data key is re-wrapped with it, and the
  values sealed with the master key itself (second-factor secrets, the instance's privacy secrets,
  webhook signing secrets) are re-sealed, or, for legacy credentials and recordings, kept
  readable by keeping the former master key in the keyring, wrapped by the new one.
  The new key is written beside the old one (``<key file>.next``) before the store changes, and
  renamed over it after the commit: run again, an interrupted rotation completes.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from callwright.accounts.second_factor import totp_aad
from callwright.errors import CallwrightError
from callwright.privacy.keyring import Keyring, wrap_aad
from callwright.privacy.recording_crypto import reencrypt_file, remove_recording
from callwright.privacy.secrets import DecryptionFailed, MasterKey, SealingKey
from callwright.store.clock import utc_now_iso
from callwright.store.credentials import CredentialRepository
from callwright.store.db import Database
from callwright.store.webhook_endpoints import secret_aad

log = logging.getLogger(__name__)

BATCH = 20


def privacy_secret_aad(name: str) -> bytes:
    """The associated data of an instance secret in ``privacy_secrets`` (see restrictions)."""
    return f"callwright/privacy_secrets/{name}".encode()


@dataclass(slots=True)
class ReencryptReport:
    credentials: int = 0
    recordings: int = 0
    #: Recordings that could not be rewritten ("<call uid>: <why>"); a later run retries them.
    failed: list[str] = field(default_factory=list)


async def rotate_org_key(keyring: Keyring, org_id: int) -> tuple[str | None, str]:
    """Make a new current data key for the org; return (the retired key's id, the new id)."""
    old = await keyring.current_id(org_id)
    new = await keyring.rotate(org_id)
    return old, new.key_id


def _resolve(recordings_dir: Path, stored: str) -> Path:
    path = Path(stored)
    return path if path.is_absolute() else recordings_dir / path


async def reencrypt_org(
    db: Database,
    keyring: Keyring,
    recordings_dir: Path,
    org_id: int,
    *,
    batch: int = BATCH,
    pause_s: float = 0.0,
) -> ReencryptReport:
    """Rewrite every credential and encrypted recording of the org that an older key sealed with
    the org's current key. ``pause_s`` between batches leaves the store and the disk to calls."""
    report = ReencryptReport()
    current = await keyring.current(org_id)
    credentials = CredentialRepository(db, keyring)
    while await credentials.count_not_current(org_id) > 0:
        report.credentials += await credentials.reseal_batch(org_id, batch)
        await asyncio.sleep(pause_s)
    after = 0
    while True:
        rows = await db.fetch_all(
            "SELECT id, uid, recording_path, recording_key_id FROM calls WHERE org_id = ?"
            " AND id > ? AND recording_path IS NOT NULL AND recording_key_id IS NOT NULL"
            " AND recording_key_id != ? ORDER BY id LIMIT ?",
            (org_id, after, current.key_id, batch),
        )
        if not rows:
            return report
        lookup = await keyring.resolver()
        for row in rows:
            after = int(row["id"])
            path = _resolve(recordings_dir, str(row["recording_path"]))
            try:
                await asyncio.to_thread(reencrypt_file, path, lookup, current)
            except (OSError, CallwrightError) as exc:
                log.warning("re-encryption: recording of call %s left as it was: %s",
                            row["uid"], exc)
                report.failed.append(f"{row['uid']}: {exc}")
                continue
            changed = await db.execute_rowcount(
                "UPDATE calls SET recording_key_id = ? WHERE id = ? AND recording_path = ?",
                (current.key_id, row["id"], row["recording_path"]),
            )
            if changed:
                report.recordings += 1
            else:
                # Erased or expired while it was rewritten: the rename must not bring it back.
                await asyncio.to_thread(remove_recording, path)
        await asyncio.sleep(pause_s)


async def rotate_master_key(db: Database, old: MasterKey, key_file: Path) -> MasterKey:
    """Replace the master key in ``key_file`` by a new one, re-wrapping the keyring under it.

    Run it with the call service and the admin stopped (they hold the old key in memory).
    Returns the new key."""
    key_file = Path(key_file)
    pending = key_file.with_name(key_file.name + ".next")
    new = await asyncio.to_thread(MasterKey.load_or_create, pending)
    if new.key_id == old.key_id:
        raise CallwrightError(f"{pending} holds the current master key; remove it and run again")
    now = utc_now_iso()
    async with db.transaction() as conn:
        async with conn.execute("SELECT id, org_id, wrapped, master_key_id FROM data_keys") as cur:
            rows = list(await cur.fetchall())
        for row in rows:
            if row["master_key_id"] == new.key_id:
                continue  # an interrupted rotation already re-wrapped it
            if row["master_key_id"] != old.key_id:
                raise CallwrightError(
                    f"data key {row['id']} is wrapped by master key {row['master_key_id']}, "
                    f"neither the loaded {old.key_id} nor the new {new.key_id}"
                )
            aad = wrap_aad(str(row["id"]), row["org_id"])
            await conn.execute(
                "UPDATE data_keys SET wrapped = ?, master_key_id = ? WHERE id = ?",
                (new.encrypt(old.decrypt(bytes(row["wrapped"]), aad), aad), new.key_id,
                 row["id"]),
            )
        if not any(row["id"] == old.key_id for row in rows):
            # The former master key opens legacy credentials and recordings: keep it, wrapped.
            await conn.execute(
                "INSERT INTO data_keys (id, org_id, wrapped, master_key_id, state, created_at,"
                " retired_at) VALUES (?, NULL, ?, ?, 'retired', ?, ?)",
                (old.key_id, new.encrypt(old.material, wrap_aad(old.key_id, None)), new.key_id,
                 now, now),
            )
        async with conn.execute(
            "SELECT name, secret_enc FROM privacy_secrets WHERE key_id = ?", (old.key_id,)
        ) as cur:
            secrets = list(await cur.fetchall())
        for row in secrets:
            aad = privacy_secret_aad(str(row["name"]))
            await conn.execute(
                "UPDATE privacy_secrets SET secret_enc = ?, key_id = ? WHERE name = ?",
                (_reseal(old, new, bytes(row["secret_enc"]), aad), new.key_id, row["name"]),
            )
        async with conn.execute(
            "SELECT id, org_id, name, signing_secret_enc FROM webhooks WHERE secret_key_id = ?",
            (old.key_id,),
        ) as cur:
            endpoints = list(await cur.fetchall())
        for row in endpoints:
            aad = secret_aad(int(row["org_id"]), str(row["name"]))
            await conn.execute(
                "UPDATE webhooks SET signing_secret_enc = ?, secret_key_id = ? WHERE id = ?",
                (_reseal(old, new, bytes(row["signing_secret_enc"]), aad), new.key_id,
                 row["id"]),
            )
        async with conn.execute(
            "SELECT id, totp_secret_enc, totp_pending_enc FROM users"
            " WHERE totp_secret_enc IS NOT NULL OR totp_pending_enc IS NOT NULL"
        ) as cur:
            users = list(await cur.fetchall())
        for row in users:
            aad = totp_aad(int(row["id"]))
            await conn.execute(
                "UPDATE users SET totp_secret_enc = ?, totp_pending_enc = ? WHERE id = ?",
                (_reseal_optional(old, new, row["totp_secret_enc"], aad),
                 _reseal_optional(old, new, row["totp_pending_enc"], aad), row["id"]),
            )
    await asyncio.to_thread(os.replace, pending, key_file)
    return new


def _reseal(old: SealingKey, new: SealingKey, sealed: bytes, aad: bytes) -> bytes:
    return new.encrypt(old.decrypt(sealed, aad), aad)


def _reseal_optional(old: SealingKey, new: SealingKey, sealed: bytes | None,
                     aad: bytes) -> bytes | None:
    """Re-seal a value that has no key id beside it; one that ``new`` already opens (an
    interrupted rotation's) is kept."""
    if sealed is None:
        return None
    try:
        return _reseal(old, new, bytes(sealed), aad)
    except DecryptionFailed:
        new.decrypt(bytes(sealed), aad)  # raises if neither key opens it
        return bytes(sealed)
