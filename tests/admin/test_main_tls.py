"""``python -m admin`` over HTTPS: a real admin process serving a certificate from a test CA,
fetched by a client that trusts that CA (and refused by one that does not); a wrong certificate or
key stops the start with the setting named."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from admin.__main__ import main
from tests.fakes.certificates import CertFiles, make_certs

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(tmp_path: Path, cert: Path | None, key: Path | None) -> Path:
    lines = [
        "[server]", 'master_key_file = "var/master.key"',
        "[store]", 'path = "var/callwright.db"',
        "[recordings]", 'dir = "var/recordings"',
        "[admin]", 'host = "127.0.0.1"',
    ]
    if cert is not None:
        lines.append(f'tls_cert = "{cert}"')
    if key is not None:
        lines.append(f'tls_key = "{key}"')
    path = tmp_path / "callwright.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def certs(tmp_path: Path) -> CertFiles:
    return make_certs(tmp_path / "tls")


@pytest.fixture
async def https_admin(tmp_path: Path, certs: CertFiles) -> AsyncIterator[str]:
    """A running ``python -m admin`` with the test certificate; yields its URL."""
    config = write_config(tmp_path, certs.cert, certs.key)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLWRIGHT_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "admin", "--config", str(config), "--port", str(free_port()),
        cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        if not line:
            pytest.fail("the admin did not start: " + (await proc.stderr.read()).decode())
        assert line.startswith("callwright admin on https://127.0.0.1:"), line
        yield line.split(" on ", 1)[1].strip()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 30)
    assert code == 0, (await proc.stderr.read()).decode()


async def test_the_admin_serves_https_to_a_client_that_trusts_its_ca(
    https_admin: str, certs: CertFiles, tmp_path: Path
) -> None:
    trusted = aiohttp.TCPConnector(ssl=certs.client_context())
    async with aiohttp.ClientSession(connector=trusted) as http:
        async with http.get(https_admin + "login") as page:
            assert page.status == 200
            assert page.url.scheme == "https"
            assert '<form method="post" action="/login"' in await page.text()

    stranger = make_certs(tmp_path / "stranger", "stranger")
    untrusted = aiohttp.TCPConnector(ssl=stranger.client_context())
    async with aiohttp.ClientSession(connector=untrusted) as http:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await http.get(https_admin + "login")

    async with aiohttp.ClientSession() as http:  # plain HTTP to the TLS port gets no page
        with pytest.raises(aiohttp.ClientError):
            await http.get(https_admin.replace("https://", "http://") + "login")


@pytest.mark.parametrize("case", ["missing cert", "key of another cert", "directory as key"])
def test_a_wrong_certificate_or_key_stops_the_start(
    tmp_path: Path, certs: CertFiles, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    other = make_certs(tmp_path / "other", "other")
    cert, key, setting, words = {
        "missing cert": (tmp_path / "absent.pem", certs.key, "admin.tls_cert", "existing file"),
        "key of another cert": (certs.cert, other.key, "admin.tls_key", "does not match"),
        "directory as key": (certs.cert, tmp_path, "admin.tls_key", "not a directory"),
    }[case]
    assert main(["--config", str(write_config(tmp_path, cert, key))]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"callwright admin: config {setting}: expected ") and words in err
    assert not (tmp_path / "var" / "callwright.db").exists()  # stopped before the store


def test_a_certificate_without_its_key_stops_the_start(
    tmp_path: Path, certs: CertFiles, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(write_config(tmp_path, certs.cert, None))]) == 1
    assert "config admin.tls_key: expected a file as well when admin.tls_cert is set" in (
        capsys.readouterr().err)
