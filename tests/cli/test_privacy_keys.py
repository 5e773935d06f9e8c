"""``callwright privacy rotate-key``: new data keys, re-encryption (also resumed), the master key;
audited; ``decrypt-recording`` reads files under any key of the keyring."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from callwright.privacy.keyring import Keyring
from callwright.privacy.recording_crypto import encrypt_file, header_key_id
from callwright.privacy.secrets import MasterKey
from callwright.store.calls import CallRepository
from callwright.store.credentials import CredentialRepository
from callwright.store.db import Database
from callwright.store.orgs import OrgRepository
from tests.cli.test_privacy import _no_outside_settings, config, query, run

__all__ = ["_no_outside_settings", "config"]  # fixtures shared with test_privacy
SECRET = "sk-live-0123456789abcdef"
AUDIO = os.urandom(150_000)


def key_file(tmp_path: Path) -> Path:
    return tmp_path / "secret" / "master.key"


def seed(tmp_path: Path) -> Path:
    """Org "acme" with a credential and a recording sealed with its first data key, and org
    "other" with a credential; the recording's path."""

    async def main() -> Path:
        db = await Database.open(tmp_path / "var" / "store.db")
        try:
            ring = Keyring(db, MasterKey.load_or_create(key_file(tmp_path)))
            acme = await OrgRepository(db).create("Acme", "acme")
            other = await OrgRepository(db).create("Other", "other")
            creds = CredentialRepository(db, ring)
            await creds.put(acme.id, "api_key", "llm", SECRET)
            await creds.put(other.id, "api_key", "llm", SECRET)
            calls = CallRepository(db)
            call = await calls.create_call(acme.id, None, None, "100", "+1555", "Pat", "ch")
            folder = tmp_path / "var" / "recordings"
            folder.mkdir(parents=True)
            plain = folder / f"{call.uid}.wav"
            plain.write_bytes(AUDIO)
            sealed, key_id = encrypt_file(plain, await ring.current(acme.id))
            await calls.set_recording(call.id, str(sealed), key_id)
            return sealed
        finally:
            await db.close()

    return asyncio.run(main())


def reveal(tmp_path: Path, slug: str) -> str:
    async def main() -> str:
        db = await Database.open(tmp_path / "var" / "store.db")
        try:
            org = await OrgRepository(db).get_by_slug(slug)
            key = MasterKey.load_or_create(key_file(tmp_path))
            return await CredentialRepository(db, key).reveal(org.id, "llm")
        finally:
            await db.close()

    return asyncio.run(main())


def keys(tmp_path: Path, slug: str) -> dict[str, str]:
    rows = query(tmp_path, "SELECT d.id, d.state FROM data_keys d JOIN orgs o ON o.id = d.org_id"
                           f" WHERE o.slug = '{slug}'")
    return {str(key_id): str(state) for key_id, state in rows}


def test_rotate_one_org_then_reencrypt(tmp_path: Path, config: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    sealed = seed(tmp_path)
    first = header_key_id(sealed)
    base = ["--config", str(config), "privacy", "rotate-key"]
    assert run([*base, "--org", "acme"]) == 0
    assert "acme: new data key" in capsys.readouterr().out
    acme = keys(tmp_path, "acme")
    assert acme[first] == "retired" and list(acme.values()).count("current") == 1
    assert len(keys(tmp_path, "other")) == 1, "the other org's key is left alone"
    assert header_key_id(sealed) == first, "rotation alone re-encrypts nothing"
    assert reveal(tmp_path, "acme") == SECRET

    current = next(k for k, state in acme.items() if state == "current")
    assert run([*base, "--org", "acme", "--resume"]) == 0
    assert "re-encrypted 1 credential(s) and 1 recording(s)" in capsys.readouterr().out
    assert header_key_id(sealed) == current
    assert query(tmp_path, "SELECT DISTINCT recording_key_id FROM calls") == [(current,)]
    assert reveal(tmp_path, "acme") == SECRET
    out = tmp_path / "back.wav"
    assert run(["--config", str(config), "privacy", "decrypt-recording", str(sealed),
                "--out", str(out)]) == 0
    assert out.read_bytes() == AUDIO
    actions = query(tmp_path, "SELECT action, actor, target FROM audit_log ORDER BY id")
    assert actions == [("key.rotate", "cli", "org:1"), ("key.reencrypt", "cli", "org:1")]


def test_rotate_every_org_with_reencrypt_then_the_master_key(
    tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sealed = seed(tmp_path)
    base = ["--config", str(config), "privacy", "rotate-key"]
    assert run([*base, "--reencrypt"]) == 0
    out = capsys.readouterr().out
    assert "acme: re-encrypted 1 credential(s) and 1 recording(s)" in out
    assert "other: re-encrypted 1 credential(s) and 0 recording(s)" in out
    assert len(keys(tmp_path, "other")) == 2

    old_master = MasterKey.load_or_create(key_file(tmp_path)).key_id
    assert run([*base, "--master"]) == 0
    new_master = MasterKey.load_or_create(key_file(tmp_path)).key_id
    assert new_master != old_master and new_master in capsys.readouterr().out
    assert query(tmp_path, "SELECT DISTINCT master_key_id FROM data_keys") == [(new_master,)]
    assert reveal(tmp_path, "acme") == SECRET and reveal(tmp_path, "other") == SECRET
    back = tmp_path / "back.wav"
    assert run(["--config", str(config), "privacy", "decrypt-recording", str(sealed),
                "--out", str(back)]) == 0
    assert back.read_bytes() == AUDIO
    assert query(tmp_path, "SELECT detail FROM audit_log WHERE action = 'master_key.rotate'") \
        == [(f'{{"new": "{new_master}", "old": "{old_master}"}}',)]


def test_bad_arguments(tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed(tmp_path)
    base = ["--config", str(config), "privacy", "rotate-key"]
    assert run([*base, "--master", "--org", "acme"]) == 2
    assert run([*base, "--reencrypt", "--resume"]) == 2
    assert run([*base, "--batch", "0"]) == 2
    assert run([*base, "--org", "nope"]) == 1
    assert "no org with slug 'nope'" in capsys.readouterr().err
    assert query(tmp_path, "SELECT COUNT(*) FROM audit_log") == [(0,)]
